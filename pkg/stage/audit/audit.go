// Package audit is the auditors' record: the events that must be provable
// later (a batch sent, personal data deleted, a confirmation accepted or
// rejected, an overdue deletion raised, ...), and the hash chain that makes
// any change, insertion or deletion of a recorded entry detectable.
//
// Each entry carries the hash of the entry before it:
//
//	Hash = hex(SHA-256(PrevHash || Canonical(entry without Hash)))
//
// with PrevHash of the first entry 64 zeros (Genesis). Seq numbers run 1, 2,
// 3, ... without gaps, so removing an entry from the middle breaks both the
// numbering and the chain. Removing entries from the end leaves a shorter
// valid chain; that is why the database refuses DELETE and TRUNCATE, and why
// auditors should note the head (last seq and hash) that Verify reports and
// check later that the chain still reaches it (see docs/reconciler.md).
//
// This package imports no database driver; pkg/adapter/postgres stores entries in
// PostgreSQL. Details never hold personal data: counts, batch ids, order
// references and reasons only.
package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Kind names what happened.
type Kind string

// The kinds of event recorded. Other services may add kinds; Verify does
// not depend on them.
const (
	BatchSent            Kind = "batch_sent"
	PersonalDataDeleted  Kind = "personal_data_deleted"
	ConfirmationAccepted Kind = "confirmation_accepted"
	ConfirmationRejected Kind = "confirmation_rejected"
	OverdueRaised        Kind = "overdue_raised"
	DayKeyDestroyed      Kind = "day_key_destroyed"
	OrderErased          Kind = "order_erased"
	OrderCorrected       Kind = "order_corrected"
	VolunteerDeleted     Kind = "volunteer_deleted"
	VolunteerReview      Kind = "volunteer_review"
	// VolunteerViewed records that an operator displayed one volunteer's
	// name and email (pkg/adapter/postgres Show).
	VolunteerViewed Kind = "volunteer_viewed"
	// OrderViewed records that an operator displayed one order's personal
	// data (`batcher order show`); the reference only.
	OrderViewed Kind = "order_viewed"
	// OrderCancelled records that the person who placed an order cancelled
	// it before the cut-off (the status page or POST
	// /api/v1/orders/{reference}/cancel, pkg/stage/trackorder): its
	// personal part was deleted at once and it is in no batch. The
	// reference only.
	OrderCancelled Kind = "order_cancelled"
	// DayKeysRewrapped records a KEK rotation step (`batcher keys
	// rewrap`): how many live day keys were rewrapped and under which KEK
	// id; never key material.
	DayKeysRewrapped Kind = "day_keys_rewrapped"
	// ConfirmationsUnmatched is one entry per reconciliation run that met
	// files naming no batch of ours (junk names, unknown batch ids, files
	// over the size limit): counts by reason, instead of an entry per file.
	ConfirmationsUnmatched Kind = "confirmations_unmatched"
)

// Genesis is the PrevHash of the first entry.
const Genesis = "0000000000000000000000000000000000000000000000000000000000000000"

// TimeFormat is how At is written in the canonical encoding: UTC with
// microseconds, the precision PostgreSQL keeps.
const TimeFormat = "2006-01-02T15:04:05.000000Z"

// Event is what a caller records. BatchID may be empty for events not about
// a batch.
type Event struct {
	Kind    Kind
	BatchID string
	Details map[string]any
}

// Entry is a recorded event, as stored.
type Entry struct {
	Seq      int64          `json:"seq"`
	At       time.Time      `json:"at"`
	Kind     Kind           `json:"kind"`
	BatchID  string         `json:"batch_id,omitempty"`
	Details  map[string]any `json:"details"`
	PrevHash string         `json:"prev_hash"`
	Hash     string         `json:"hash"`
}

// ErrInvalid marks an event that cannot be recorded as given.
var ErrInvalid = errors.New("invalid audit event")

var kindPattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)
var keyPattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// Validate checks an event before it is recorded: a kind and detail keys in
// snake_case, and detail values that are JSON scalars, lists or objects.
func (e Event) Validate() error {
	if !kindPattern.MatchString(string(e.Kind)) {
		return fmt.Errorf("%w: kind %q is not snake_case", ErrInvalid, e.Kind)
	}
	if len(e.BatchID) > 200 {
		return fmt.Errorf("%w: batch id longer than 200 characters", ErrInvalid)
	}
	for k := range e.Details {
		if !keyPattern.MatchString(k) {
			return fmt.Errorf("%w: %s detail key %q is not snake_case", ErrInvalid, e.Kind, k)
		}
	}
	if _, err := CanonicalDetails(e.Details); err != nil {
		return fmt.Errorf("%w: %s details: %v", ErrInvalid, e.Kind, err)
	}
	return nil
}

// Next builds the entry that follows prev (nil for the first entry) for the
// event at the given time, with its hash. At is truncated to microseconds.
func Next(prev *Entry, ev Event, at time.Time) (Entry, error) {
	if err := ev.Validate(); err != nil {
		return Entry{}, err
	}
	e := Entry{Seq: 1, PrevHash: Genesis, At: at.UTC().Truncate(time.Microsecond), Kind: ev.Kind, BatchID: ev.BatchID}
	if prev != nil {
		e.Seq, e.PrevHash = prev.Seq+1, prev.Hash
	}
	details, err := CanonicalDetails(ev.Details)
	if err != nil {
		return Entry{}, fmt.Errorf("%w: %s details: %v", ErrInvalid, ev.Kind, err)
	}
	// Keep the details as they will read back from storage, so that the
	// returned entry and a stored one compare equal.
	if err := json.Unmarshal(details, &e.Details); err != nil {
		return Entry{}, fmt.Errorf("audit: re-read canonical details: %w", err)
	}
	e.Hash, err = ComputeHash(e)
	if err != nil {
		return Entry{}, err
	}
	return e, nil
}

// Canonical is the byte encoding that is hashed: a JSON object with the
// fields in this fixed order, no spaces, object keys sorted, numbers in
// plain decimal as float64 gives them:
//
//	{"seq":1,"at":"2025-01-02T03:04:05.000000Z","kind":"batch_sent","batch_id":"B","details":{"a":1},"prev_hash":"00..00"}
//
// It is deliberately simple enough for an auditor to re-implement: for
// details holding strings and whole numbers (all the services record), it is
// what Python's json.dumps(details, separators=(",", ":"), sort_keys=True,
// ensure_ascii=False) produces. docs/reconciler.md has a script.
func Canonical(e Entry) ([]byte, error) {
	details, err := CanonicalDetails(e.Details)
	if err != nil {
		return nil, fmt.Errorf("audit: entry %d details: %w", e.Seq, err)
	}
	var b bytes.Buffer
	b.WriteString(`{"seq":`)
	b.WriteString(strconv.FormatInt(e.Seq, 10))
	b.WriteString(`,"at":`)
	writeString(&b, e.At.UTC().Format(TimeFormat))
	b.WriteString(`,"kind":`)
	writeString(&b, string(e.Kind))
	b.WriteString(`,"batch_id":`)
	writeString(&b, e.BatchID)
	b.WriteString(`,"details":`)
	b.Write(details)
	b.WriteString(`,"prev_hash":`)
	writeString(&b, e.PrevHash)
	b.WriteString("}")
	return b.Bytes(), nil
}

// ComputeHash returns the hash the entry should carry.
func ComputeHash(e Entry) (string, error) {
	c, err := Canonical(e)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	h.Write([]byte(e.PrevHash))
	h.Write(c)
	return hex.EncodeToString(h.Sum(nil)), nil
}

// CanonicalDetails encodes details canonically. It is stable under a round
// trip through PostgreSQL jsonb (which reorders keys and rewrites numbers):
// numbers are normalised through float64, keys are sorted, and nil or empty
// details encode as {}.
func CanonicalDetails(details map[string]any) ([]byte, error) {
	if len(details) == 0 {
		return []byte("{}"), nil
	}
	// Go values first become plain JSON values, whatever their Go type.
	raw, err := json.Marshal(details)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := writeValue(&b, v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func writeValue(b *bytes.Buffer, v any) error {
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		b.WriteString(strconv.FormatBool(x))
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return fmt.Errorf("number %s out of range", x)
		}
		b.WriteString(strconv.FormatFloat(f, 'f', -1, 64))
	case string:
		if strings.ContainsRune(x, 0) {
			return errors.New("a string holds a NUL character")
		}
		writeString(b, x)
	case []any:
		b.WriteByte('[')
		for i, el := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := writeValue(b, el); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys) // byte order, as Python's sort_keys on ASCII keys
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			writeString(b, k)
			b.WriteByte(':')
			if err := writeValue(b, x[k]); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	default:
		return fmt.Errorf("unexpected JSON value %T", v)
	}
	return nil
}

// writeString writes s as a JSON string escaping only what JSON requires
// (quote, backslash, control characters), so that it matches Python's
// json.dumps(s, ensure_ascii=False).
func writeString(b *bytes.Buffer, s string) {
	b.WriteByte('"')
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		default:
			if r < 0x20 {
				fmt.Fprintf(b, `\u%04x`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
}

// Result is the outcome of verifying a chain.
type Result struct {
	// Entries is how many entries were checked (up to and including the
	// first broken one).
	Entries int64 `json:"entries"`
	// HeadSeq and HeadHash name the last entry of the intact chain; an
	// auditor notes them to check later that nothing was cut off the end.
	HeadSeq  int64  `json:"head_seq"`
	HeadHash string `json:"head_hash"`
	// OK is false when an entry is broken; BrokenSeq names the first one
	// and Reason says what is wrong with it.
	OK        bool   `json:"ok"`
	BrokenSeq int64  `json:"broken_seq,omitempty"`
	Reason    string `json:"reason,omitempty"`
}

func (r Result) String() string {
	if r.OK {
		if r.Entries == 0 {
			return "audit log verified: no entries"
		}
		return fmt.Sprintf("audit log verified: %d entries, head seq %d hash %s", r.Entries, r.HeadSeq, r.HeadHash)
	}
	return fmt.Sprintf("audit log BROKEN at seq %d: %s (%d entries intact before it)", r.BrokenSeq, r.Reason, r.Entries-1)
}

// Verifier checks a chain one entry at a time, in seq order, so that a
// long log can be streamed from the database rather than loaded whole.
type Verifier struct {
	res    Result
	broken bool
}

// NewVerifier starts a verification at the genesis.
func NewVerifier() *Verifier {
	return &Verifier{res: Result{OK: true, HeadHash: Genesis}}
}

// Add checks the next entry. It returns false once the chain is broken;
// later entries are then ignored.
func (v *Verifier) Add(e Entry) bool {
	if v.broken {
		return false
	}
	v.res.Entries++
	reason := v.check(e)
	if reason != "" {
		v.broken = true
		v.res.OK, v.res.BrokenSeq, v.res.Reason = false, e.Seq, reason
		return false
	}
	v.res.HeadSeq, v.res.HeadHash = e.Seq, e.Hash
	return true
}

func (v *Verifier) check(e Entry) string {
	if want := v.res.HeadSeq + 1; e.Seq != want {
		if e.Seq > want {
			return fmt.Sprintf("expected seq %d next, found %d: entries are missing or out of order", want, e.Seq)
		}
		return fmt.Sprintf("expected seq %d next, found %d: entries are out of order or duplicated", want, e.Seq)
	}
	if e.PrevHash != v.res.HeadHash {
		return fmt.Sprintf("prev_hash %s does not match the hash %s of entry %d: an entry was removed, replaced or inserted", short(e.PrevHash), short(v.res.HeadHash), v.res.HeadSeq)
	}
	want, err := ComputeHash(e)
	if err != nil {
		return "cannot encode entry: " + err.Error()
	}
	if e.Hash != want {
		return fmt.Sprintf("stored hash %s does not match its contents (recomputed %s): the entry was altered", short(e.Hash), short(want))
	}
	return ""
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12] + "…"
	}
	return h
}

// Result returns the outcome so far.
func (v *Verifier) Result() Result { return v.res }

// Verify checks a whole chain held in memory.
func Verify(entries []Entry) Result {
	v := NewVerifier()
	for _, e := range entries {
		if !v.Add(e) {
			break
		}
	}
	return v.Result()
}
