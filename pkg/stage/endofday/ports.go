package endofday

import (
	"context"
	"errors"
	"io"
	"time"

	"booklets/pkg/domain/businessday"
	"booklets/pkg/domain/order"
	"booklets/pkg/domain/seal"
)

// The ports of the end of day: what it needs of the database (Store,
// RetentionStore, RightsStore and DayKeys, implemented by
// pkg/adapter/postgres), of the partner's server (Partner, by
// pkg/adapter/sftp) and of the partner's OpenPGP key (Encrypter, by
// pkg/adapter/openpgp), and what it tells the service's metrics
// (Observer).

// Store holds the batches and the orders they send.
type Store interface {
	// TryLockSending takes the lock that keeps replicas from sending at
	// once, if no other process holds it (ok false then).
	TryLockSending(ctx context.Context) (lock Lock, ok bool, err error)
	// Unfinished returns the batches of dates before date not yet sent,
	// oldest first.
	Unfinished(ctx context.Context, before businessday.Date) ([]Batch, error)
	// BatchFor returns the batch of a date, or ErrNotFound.
	BatchFor(ctx context.Context, date businessday.Date) (Batch, error)
	// Assemble returns the batch of candidate.Date, creating it from
	// candidate (created true) with every order of that date or earlier in
	// no batch yet; an existing batch is returned as it is.
	Assemble(ctx context.Context, candidate Batch) (b Batch, created bool, err error)
	// CountBatch counts a batch's orders (with their personal part) and
	// data rows.
	CountBatch(ctx context.Context, batchID string) (orders, records int, err error)
	// EachOrder streams a batch's orders that still have their personal
	// part to fn in the file's order; fn's error stops it and is returned
	// as it is. The Formats slice given to fn is reused by the next call;
	// the Languages slice is never changed and stays valid.
	EachOrder(ctx context.Context, batchID string, fn func(BatchOrder) error) error
	// NoteAttempt records a failed attempt at sending a batch.
	NoteAttempt(ctx context.Context, batchID, reason string) error
	// MarkUploaded records that both files are verified at the partner.
	MarkUploaded(ctx context.Context, batchID, sha256 string, records, orders int) error
	// RecordSent records a verified upload and deletes the personal data
	// of its orders (and their day keys: crypto-shredding), in one
	// transaction. Recording a batch already sent changes nothing.
	RecordSent(ctx context.Context, s Sent) (Deleted, error)
}

// Lock is the held sending lock.
type Lock interface{ Release() }

// ErrNotFound is what a store returns for a batch or an order it does not
// hold.
var ErrNotFound = errors.New("not found")

// The states of a batch.
const (
	// StateAssembling: orders are assigned; the files may or may not have
	// reached the partner yet.
	StateAssembling = "assembling"
	// StateUploaded: both files are verified at the partner; the personal
	// data is not yet deleted.
	StateUploaded = "uploaded"
	// StateSent: recorded and the personal data deleted. Final.
	StateSent = "sent"
)

// Batch is a day's batch.
type Batch struct {
	ID           string
	Date         businessday.Date
	State        string
	RecordCount  int
	OrderCount   int
	SHA256       string
	DataFile     string
	ManifestFile string
	CreatedAt    time.Time
	UploadedAt   time.Time
	SentAt       time.Time
	DeliveryDate businessday.Date
	DueDate      businessday.Date
	Attempts     int
	// Encryption is how the data file is sent, decided when the batch is
	// assembled: batchfile.EncryptionOpenPGP (DataFile ends in .gpg) or
	// batchfile.EncryptionNone. A run resuming the batch must send it the
	// same way or stop.
	Encryption string
}

// BatchOrder is an order as read for the batch file.
type BatchOrder struct {
	OrderID      string
	Reference    string
	Area         string
	Formats      []order.Format
	Languages    []order.Language // read only, may be shared between orders; none is English
	BusinessDate businessday.Date
	Personal     []byte // as stored: decode with the codec that encoded it
}

// Sent is what recording a sent batch needs.
type Sent struct {
	BatchID      string
	SHA256       string
	Records      int
	Orders       int
	SentAt       time.Time
	DeliveryDate businessday.Date
	DueDate      businessday.Date
	// Retained is the encrypted copy kept for a resend (retain.go), nil
	// if none: recorded in the same transaction, so a batch is never sent
	// with a copy on disk that the record does not know of.
	Retained *Retention
}

// Deleted says how much personal data recording a batch deleted.
type Deleted struct {
	Orders      int // orders whose personal part was deleted
	DeadLetters int // dead letters whose raw bytes were removed
	// DayKeys are the day keys destroyed (crypto-shredded).
	DayKeys []KeyDestroyed
}

// KeyDestroyed is one day key destroyed with a batch.
type KeyDestroyed struct {
	Date  businessday.Date
	KEKID string // the key-encryption key that had wrapped it; empty if none was made
	// Already is true if the key had been destroyed before (a retried
	// record); nothing changed.
	Already bool
}

// DayKeys gives the existing key of a business date. It never creates one:
// the batcher only opens what the intake sealed. A date that never had a
// key is ErrNoKey; a destroyed one seal.ErrKeyDestroyed.
type DayKeys interface {
	Get(ctx context.Context, day businessday.Date) (*seal.DayKey, error)
}

// ErrNoKey is what DayKeys returns for a date that never had a key.
var ErrNoKey = errors.New("no day key for that date")

// Partner is the print partner's server, where batch files go.
type Partner interface {
	// Dial connects and authenticates; ErrHostKey if the server is not
	// the one pinned.
	Dial(ctx context.Context) (PartnerSession, error)
}

// PartnerSession is a connection to the partner's batch folder. Names are
// of files in that folder.
type PartnerSession interface {
	// EnsureDir creates the batch folder if it is missing.
	EnsureDir() error
	// ReadFile reads a file of at most max bytes; ErrNoSuchFile if absent.
	ReadFile(name string, max int64) ([]byte, error)
	// Checksum returns a file's SHA-256 and size; ErrNoSuchFile if absent.
	Checksum(name string) (sha256 string, size int64, err error)
	// Upload writes a file so that the partner never sees it incomplete:
	// write produces the content, which is verified at the partner (size
	// and SHA-256) before it gets its final name.
	Upload(ctx context.Context, name string, write func(io.Writer) error) (Uploaded, error)
	// Remove deletes a file; a missing one is not an error.
	Remove(name string) error
	Close() error
}

// Uploaded describes a verified upload.
type Uploaded struct {
	Name   string
	Bytes  int64
	SHA256 string
}

// Errors a Partner returns that the stage tells apart.
var (
	// ErrHostKey means the server is not the one pinned: retrying does not
	// help, an operator must look.
	ErrHostKey = errors.New("host key refused")
	// ErrNoSuchFile means a file is not at the partner.
	ErrNoSuchFile = errors.New("remote file not found")
	// ErrVerify means an uploaded file is not what was written. Its text
	// is the SFTP adapter's, which the alert lines have always shown.
	ErrVerify = errors.New("SFTP upload verification failed")
)

// Encrypter encrypts batch files to the partner's OpenPGP key.
type Encrypter interface {
	// Encrypt returns a writer encrypting to dst under the literal file
	// name name; Close finishes the message.
	Encrypt(dst io.Writer, name string) (io.WriteCloser, error)
	// Fingerprint is the key's, written in the manifest.
	Fingerprint() string
	// Fingerprints are those of every key a file is encrypted to now
	// (two during a rotation of the partner's key), for the manifest.
	Fingerprints() []string
	// Check says whether a file can be encrypted now; its error names the
	// key and why not (expired or revoked, and since when).
	Check() error
}

// ErrPartnerKey means no pinned partner key can encrypt now (expired,
// revoked): nothing is uploaded, and it is not retried; the partner's new
// key must be pinned (docs/batcher.md, "Rotating the partner's key").
var ErrPartnerKey = errors.New("no usable partner OpenPGP key")

// Spreadsheet makes the spreadsheet (XLSX) copy of a batch, sent beside
// the CSV when agreed with the partner (WithSpreadsheet; pkg/adapter/xlsx).
type Spreadsheet interface {
	// NewSheet starts a workbook whose first row is header.
	NewSheet(header []string) (Sheet, error)
}

// Sheet is a workbook being written. Its cells are personal data: it is
// kept in memory only, and Close frees it.
type Sheet interface {
	// AddRow adds a row; every cell is text, shown as given.
	AddRow(cells []string) error
	// WriteTo finishes the workbook and writes the file to w.
	WriteTo(w io.Writer) (int64, error)
	Close() error
}

// EncryptedExt ends the name of an encrypted data file (*.csv.gpg).
const EncryptedExt = ".gpg"

// keyFileSetting is the setting that names the partner's key file
// (PARTNER_PGP_KEY_FILE), for the operator's message of a mismatch.
const keyFileSetting = "PARTNER_PGP_KEY_FILE"

// RetentionStore is what the retention watchdog reads and records.
type RetentionStore interface {
	// PersonalDataHeld lists every piece of personal data held, oldest
	// first.
	PersonalDataHeld(ctx context.Context) ([]HeldItem, error)
	// SaveRetentionCheck keeps the last finding for the auditors' page.
	SaveRetentionCheck(ctx context.Context, c RetentionCheck) error
}

// HeldItem is one piece of personal data held: an order (Item is its
// reference) or a dead letter (its stream sequence).
type HeldItem struct {
	Kind         string // "order" or "dead_letter"
	Item         string
	BusinessDate businessday.Date
	ReceivedAt   time.Time
}

// RetentionCheck is the retention watchdog's finding.
type RetentionCheck struct {
	CheckedAt       time.Time
	Held            int
	Overdue         int
	OldestOverdueAt time.Time // received time of the oldest overdue item; zero if none
	Grace           time.Duration
}

// RightsStore is what the public's rights over an unsent order need.
type RightsStore interface {
	// FindUnsent returns the order with a reference if its personal data
	// can still be shown, corrected or erased: ErrNotFound if there is no
	// such order, an error saying why not if it is sent or erased.
	FindUnsent(ctx context.Context, ref string) (HeldOrder, error)
	// RecordViewed records in the audit log that an order was shown.
	RecordViewed(ctx context.Context, ref string) error
	// CorrectPersonal replaces an unsent order's sealed personal part,
	// recording which fields changed (never their values).
	CorrectPersonal(ctx context.Context, orderID, ref string, sealed []byte, fields []string) error
	// ErasePersonal deletes an unsent order's personal part.
	ErasePersonal(ctx context.Context, orderID, ref string) error
}

// HeldOrder is one order as the operator commands find it: its facts and,
// until it is sent or erased, its sealed personal part.
type HeldOrder struct {
	OrderID      string
	Reference    string
	BusinessDate businessday.Date
	ReceivedAt   time.Time
	Area         string
	Formats      []order.Format
	Languages    []order.Language // the booklets' languages (issue 18)
	BatchID      string           // empty until assembled into a batch
	Erased       bool
	Personal     []byte // sealed; nil once sent or erased
}
