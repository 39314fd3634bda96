// Package reconcile checks that the print partner deleted each batch on
// time: it reads the partner's deletion confirmations, judges each against
// the batch as we recorded it, records the outcome in the auditors' record,
// and works out the status of every batch (awaiting, confirmed,
// confirmed_early, confirmed_late, overdue, rejected), raising an alert for overdue ones.
//
// It imports no driver: the confirmations folder (Inbox) and the database
// (Store) are interfaces implemented by pkg/adapter/sftp and pkg/adapter/postgres.
package reconcile

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"

	"booklets/pkg/domain/businessday"
)

// FormatVersion is the confirmation file format this code reads.
const FormatVersion = 1

// MaxFileSize bounds a confirmation file; real ones are a few hundred bytes.
const MaxFileSize = 64 << 10

// ErrOversized is what an Inbox's Read returns for a file larger than
// MaxFileSize: it is not read, and the run quarantines it.
var ErrOversized = errors.New("confirmation file larger than the limit")

// Status of a sent batch.
type Status string

const (
	// Awaiting: the due date has not passed and no confirmation is accepted.
	Awaiting Status = "awaiting"
	// Confirmed: deletion confirmed, done on the due date.
	Confirmed Status = "confirmed"
	// ConfirmedLate: deletion confirmed, but done after the due date: the
	// data was kept longer than agreed, a deviation the partner must hear
	// about as much as an early one.
	ConfirmedLate Status = "confirmed_late"
	// ConfirmedEarly: deletion confirmed, but done before the due date (the
	// 30th working day after delivery): recorded, and flagged as a deviation.
	ConfirmedEarly Status = "confirmed_early"
	// Overdue: the due date has passed and no confirmation is accepted
	// (none received, or the last one received was not rejected).
	Overdue Status = "overdue"
	// Rejected: the last confirmation received was rejected and none is
	// accepted, whether or not the due date has passed: an auditor sees why
	// the batch is unconfirmed. Past its due date such a batch is overdue
	// all the same (IsOverdue): its alert and metric do not depend on the
	// status.
	Rejected Status = "rejected"
)

// Statuses lists every status, in the order pages show them.
var Statuses = []Status{Overdue, Rejected, Awaiting, ConfirmedEarly, ConfirmedLate, Confirmed}

// ParseStatus accepts a status name.
func ParseStatus(s string) (Status, bool) {
	for _, st := range Statuses {
		if string(st) == s {
			return st, true
		}
	}
	return "", false
}

// Confirmation is the partner's deletion confirmation file:
//
//	{"format_version":1,"batch_id":"...","record_count":120,
//	 "sha256":"<hex SHA-256 of the batch data file>",
//	 "deleted_at":"2025-04-16T10:30:00+01:00","deleted_by":"Data protection officer"}
//
// named deletion_<batch_id>.json (docs/partner-interface.md).
type Confirmation struct {
	FormatVersion int       `json:"format_version"`
	BatchID       string    `json:"batch_id"`
	RecordCount   *int      `json:"record_count"`
	SHA256        string    `json:"sha256"`
	DeletedAt     time.Time `json:"deleted_at"`
	DeletedBy     string    `json:"deleted_by,omitempty"`
}

const utf8BOM = "\xef\xbb\xbf"

var filePattern = regexp.MustCompile(`^deletion_([A-Za-z0-9][A-Za-z0-9._-]{0,99})\.json$`)
var hexPattern = regexp.MustCompile(`^[0-9a-f]{64}$`)

// BatchIDFromFileName returns the batch id a file name announces, or false
// when the name is not deletion_<batch_id>.json.
func BatchIDFromFileName(name string) (string, bool) {
	m := filePattern.FindStringSubmatch(name)
	if m == nil {
		return "", false
	}
	return m[1], true
}

// File is a confirmation file as read from the folder.
type File struct {
	Name   string
	Data   []byte
	SHA256 string // of Data: identifies the file for idempotence
	// Sig is the partner's detached signature beside it and what checking
	// it found (Reconciler.Reconcile fills it in).
	Sig Signature
}

// SigExt is the extension of the partner's detached, armored signature
// beside a confirmation: deletion_<batch_id>.json.asc, as
// `gpg --armor --detach-sign deletion_<batch_id>.json` writes it.
const SigExt = ".asc"

// Signature is the partner's signature of a confirmation file.
type Signature struct {
	Data   []byte // the .asc file as read; nil when there is none
	SHA256 string // of Data; "" when none
	// Signer is the fingerprint of the pinned key that made a good
	// signature; "" when the signature is missing or was not checked.
	Signer string
	// Problem is why the confirmation must be rejected for its signature
	// (missing, bad, by another key); "" when the signature is good, or
	// when an unsigned file is accepted for the transition period.
	Problem string
}

// Unsigned tells whether a confirmation was accepted without a good
// signature by the partner's pinned key (ACCEPT_UNSIGNED_CONFIRMATIONS).
func (r Recorded) Unsigned() bool { return r.Accepted && r.Signer == "" }

// NewFile wraps the content of a file read from the folder.
func NewFile(name string, data []byte) File {
	sum := sha256.Sum256(data)
	return File{Name: name, Data: data, SHA256: hex.EncodeToString(sum[:])}
}

// Parse reads the confirmation in a file. Problems are returned as a
// reason fit for the record and for the partner.
func Parse(f File) (Confirmation, error) {
	idFromName, ok := BatchIDFromFileName(f.Name)
	if !ok {
		return Confirmation{}, errors.New("file name is not deletion_<batch_id>.json")
	}
	// A byte order mark (Windows editors add one) is not part of the JSON;
	// the signature still covers the bytes as sent. CRLF line endings are
	// JSON whitespace already.
	dec := json.NewDecoder(bytes.NewReader(bytes.TrimPrefix(f.Data, []byte(utf8BOM))))
	dec.DisallowUnknownFields()
	var c Confirmation
	if err := dec.Decode(&c); err != nil {
		return Confirmation{}, fmt.Errorf("not a valid confirmation JSON object: %s", jsonProblem(err))
	}
	if dec.More() {
		return Confirmation{}, errors.New("more than one JSON value in the file")
	}
	var missing []string
	if c.FormatVersion == 0 {
		missing = append(missing, "format_version")
	}
	if c.BatchID == "" {
		missing = append(missing, "batch_id")
	}
	if c.RecordCount == nil {
		missing = append(missing, "record_count")
	}
	if c.SHA256 == "" {
		missing = append(missing, "sha256")
	}
	if c.DeletedAt.IsZero() {
		missing = append(missing, "deleted_at")
	}
	if len(missing) > 0 {
		return c, fmt.Errorf("missing field(s): %s", strings.Join(missing, ", "))
	}
	if c.FormatVersion != FormatVersion {
		return c, fmt.Errorf("format_version %d is not supported (expected %d)", c.FormatVersion, FormatVersion)
	}
	if c.BatchID != idFromName {
		return c, fmt.Errorf("batch_id %q does not match the file name (%q)", c.BatchID, idFromName)
	}
	c.SHA256 = strings.ToLower(c.SHA256)
	if !hexPattern.MatchString(c.SHA256) {
		return c, errors.New("sha256 is not 64 hexadecimal characters")
	}
	if *c.RecordCount < 0 {
		return c, errors.New("record_count is negative")
	}
	if len(c.DeletedBy) > 200 {
		return c, errors.New("deleted_by is longer than 200 characters")
	}
	if strings.ContainsFunc(c.DeletedBy, unicode.IsControl) {
		// A NUL cannot even be stored in a PostgreSQL text column: such a
		// file would fail to be recorded, and stay, at every run.
		return c, errors.New("deleted_by holds control characters")
	}
	return c, nil
}

// jsonProblem describes a decoding error without echoing file content.
func jsonProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("syntax error at byte %d", syn.Offset)
	case errors.As(err, &typ):
		return fmt.Sprintf("field %s has the wrong type", typ.Field)
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		return strings.TrimPrefix(err.Error(), "json: ")
	case strings.Contains(err.Error(), "parsing time"):
		return "deleted_at is not an RFC 3339 time such as 2025-04-16T10:30:00+01:00"
	}
	return "unreadable"
}

// Batch is what we recorded about a sent batch. Dates are civil dates
// (midnight UTC carrying the London date).
type Batch struct {
	ID           string
	BusinessDate time.Time
	State        string // the batcher's state; only "sent" batches can be confirmed
	RecordCount  int
	SHA256       string
	SentAt       time.Time
	DeliveryDate time.Time
	DueDate      time.Time
}

// Sent reports whether the batch reached the partner.
func (b Batch) Sent() bool { return b.State == "sent" && !b.SentAt.IsZero() }

// Recorded is a confirmation as recorded.
type Recorded struct {
	FileName   string
	FileSHA256 string
	BatchID    string
	Accepted   bool
	Early      bool
	Reason     string
	Conf       Confirmation // as parsed; only the batch id when it could not be
	ReceivedAt time.Time
	// Signer is the fingerprint of the partner's pinned key that signed the
	// file; "" when it was not signed (or not by that key).
	Signer string
	// SignatureSHA256 is the SHA-256 of the signature file; "" when none.
	SignatureSHA256 string
	// Unmatched: the file names no batch of ours (no batch of that id). It
	// is not recorded on its own, only counted in the run's summary
	// (see Run), so that a folder of junk does not flood the audit log.
	Unmatched bool
	// Same: the batch is already confirmed and this file says the same
	// (count, checksum, deleted_at within SameWithin): a copy, or one the
	// partner regenerated. Neither accepted again nor a rejection: it is
	// not recorded, only moved out of the folder (MoveRepeat).
	Same bool
}

// SameWithin is how far apart two confirmations' deleted_at may be and
// still be the same confirmation: a regenerated file written from the
// partner's deletion log may round the time differently, or be stamped
// with the minute it was rewritten.
const SameWithin = time.Minute

// sameFacts tells whether a confirmation says what the accepted one said.
func sameFacts(c Confirmation, accepted *Recorded) (bool, []string) {
	var diff []string
	if accepted.Conf.RecordCount != nil && *c.RecordCount != *accepted.Conf.RecordCount {
		diff = append(diff, fmt.Sprintf("record_count %d, not %d", *c.RecordCount, *accepted.Conf.RecordCount))
	}
	if !strings.EqualFold(c.SHA256, accepted.Conf.SHA256) {
		diff = append(diff, "another sha256")
	}
	if d := c.DeletedAt.Sub(accepted.Conf.DeletedAt).Abs(); d > SameWithin {
		diff = append(diff, fmt.Sprintf("deleted_at %s, not %s", c.DeletedAt.UTC().Format(time.RFC3339), accepted.Conf.DeletedAt.UTC().Format(time.RFC3339)))
	}
	return len(diff) == 0, diff
}

// Judge decides on a confirmation file against the batch it names (nil
// when there is no such batch) and the confirmation already accepted for
// it (nil when none). now is when it is received.
func Judge(f File, batch *Batch, accepted *Recorded, now time.Time) Recorded {
	r := Recorded{FileName: f.Name, FileSHA256: f.SHA256, ReceivedAt: now, Unmatched: batch == nil,
		Signer: f.Sig.Signer, SignatureSHA256: f.Sig.SHA256}
	c, err := Parse(f)
	r.Conf, r.BatchID = c, c.BatchID
	if err != nil {
		// Keep nothing from a file that failed to parse: its fields were
		// not checked, and the file itself is kept in the rejected folder.
		r.BatchID, _ = BatchIDFromFileName(f.Name)
		r.Conf = Confirmation{BatchID: r.BatchID}
	}
	// Each reason says what was wrong and what to change: it goes back to
	// the partner in the reason file beside the rejected file, and is what
	// auditors read on the page.
	reject := func(fix string, format string, args ...any) Recorded {
		r.Reason = fmt.Sprintf(format, args...) + ". " + fix
		return r
	}
	const fixContent = "Correct the file, sign it again and upload it again as " // + name
	switch {
	case err != nil:
		return reject(fixContent+f.Name+" (see docs/partner-interface.md, Deletion confirmations, for the format).", "%v", err)
	case batch == nil:
		return reject("Check the batch id against the names of the files we sent; nothing needs confirming for a batch we did not send.", "unknown batch %q", c.BatchID)
	case f.Sig.Problem != "":
		// Before the content: what an unauthenticated file says about the
		// batch is not the partner's word.
		return reject("Sign the file with the key you registered with us (gpg --armor --detach-sign "+f.Name+") and upload the .asc, then the .json again.", "%s", f.Sig.Problem)
	case !batch.Sent():
		return reject("Check the batch id: confirm only batches you received.", "batch %q has not been sent", c.BatchID)
	case accepted != nil:
		same, diff := sameFacts(c, accepted)
		if same {
			r.Same = true
			return r
		}
		return reject("The earlier confirmation stands; if it was wrong, contact us rather than sending another.",
			"batch %q was already confirmed by %s received %s, and this file says something else (%s)",
			c.BatchID, accepted.FileName, accepted.ReceivedAt.UTC().Format(time.RFC3339), strings.Join(diff, "; "))
	case *c.RecordCount != batch.RecordCount:
		return reject(fixContent+f.Name+" with the record_count from our manifest.", "record_count %d does not match the %d records sent", *c.RecordCount, batch.RecordCount)
	case c.SHA256 != strings.ToLower(batch.SHA256):
		return reject(fixContent+f.Name+" with the sha256 from our manifest (of the file as sent, before decrypting).", "sha256 does not match the batch file sent (expected %s)", batch.SHA256)
	case c.DeletedAt.Before(batch.SentAt):
		return reject(fixContent+f.Name+" with the time you deleted the batch.", "deleted_at %s is before the batch was sent (%s)", c.DeletedAt.UTC().Format(time.RFC3339), batch.SentAt.UTC().Format(time.RFC3339))
	case c.DeletedAt.After(now.Add(time.Hour)):
		// An hour's grace for clocks that disagree.
		return reject(fixContent+f.Name+" with the time you deleted the batch, with its time zone offset (Z for UTC).", "deleted_at %s is in the future", c.DeletedAt.UTC().Format(time.RFC3339))
	}
	r.Accepted = true
	r.Early = londonDate(c.DeletedAt).Before(batch.DueDate)
	return r
}

// View is a sent batch with its confirmation state, as shown to auditors.
type View struct {
	Batch
	Status        Status
	ConfirmedAt   *time.Time // when the accepted confirmation was received
	DeletedAt     *time.Time // when the partner says it deleted the data
	LastRejection string     // reason of the last rejected confirmation, if any
	Overdue       bool       // past the due date with nothing accepted (status overdue or rejected)
	Deviation     string     // why a confirmed batch is flagged, if it is
	// Unsigned: the accepted confirmation had no good signature by the
	// partner's pinned key (accepted under ACCEPT_UNSIGNED_CONFIRMATIONS).
	Unsigned bool
	Signer   string // fingerprint of the key that signed the accepted confirmation
	// LogDisagreements names how the tables differ from what the verified
	// audit log proves about the batch (CheckedViews); none when they
	// agree or the view was not checked.
	LogDisagreements []string
	// Dispatched and Returned: booklets the partner reported dispatched,
	// and returned (State).
	Dispatched, Returned int
}

// StatusOf works out a sent batch's status on the London date today from
// its accepted confirmation (nil if none) and whether the last confirmation
// received was rejected. A rejected last confirmation wins over overdue (the
// issue's "rejected where the last confirmation was rejected"); whether the
// batch is overdue is IsOverdue, independent of the status.
func StatusOf(b Batch, accepted *Recorded, lastRejected bool, today time.Time) Status {
	switch {
	case accepted != nil && accepted.Early:
		return ConfirmedEarly
	case accepted != nil && londonDate(accepted.Conf.DeletedAt).After(b.DueDate):
		return ConfirmedLate
	case accepted != nil:
		return Confirmed
	case lastRejected:
		return Rejected
	case IsOverdue(b, accepted, today):
		return Overdue
	}
	return Awaiting
}

// IsOverdue tells whether a sent batch's due date has passed on the London
// date today with no confirmation accepted, whatever its status (overdue,
// or rejected): such a batch raises the overdue alert and counts in the
// overdue metric.
func IsOverdue(b Batch, accepted *Recorded, today time.Time) bool {
	return accepted == nil && londonDate(today).After(b.DueDate)
}

// Deviation explains what is irregular about a confirmed batch, or "".
func Deviation(b Batch, accepted *Recorded) string {
	if accepted == nil {
		return ""
	}
	deleted := londonDate(accepted.Conf.DeletedAt)
	switch {
	case deleted.Before(b.DueDate):
		return fmt.Sprintf("deleted %s, before the due date %s", deleted.Format(time.DateOnly), b.DueDate.Format(time.DateOnly))
	case deleted.After(b.DueDate):
		return fmt.Sprintf("deleted %s, after the due date %s", deleted.Format(time.DateOnly), b.DueDate.Format(time.DateOnly))
	}
	return ""
}

// londonDate is the civil London date of an instant, as midnight UTC (the
// form pkg/domain/workdays and the database's date columns use). A civil date
// maps to itself: midnight UTC is 00:00 or 01:00 in London, the same day.
func londonDate(t time.Time) time.Time {
	return businessday.LondonDate(t).UTC()
}
