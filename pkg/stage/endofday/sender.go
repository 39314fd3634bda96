// Package endofday is the end-of-day stage: it sends a business day's
// orders to the print partner and then deletes their personal data. A run
// assembles the day's batch, writes its file (opening each sealed personal
// part in memory, encrypting to the partner's key), uploads it and its
// manifest, verifies both at the partner, records the batch as sent and
// shreds the personal data and the day keys, in one transaction. It can be
// run again after a failure or crash at any step: the batch is resumed.
//
// The files read top to bottom: sender.go (the Sender and its options),
// resume.go (the state machine a run walks, resuming what a crash left),
// upload.go (one upload with its retries, and what the partner already
// has), pipeline.go (the parallel open-and-encode pipeline that writes the
// file), codec.go (opening a sealed personal part), schedule.go (the
// catch-up and retry runs), watchdog.go (personal data held too long) and
// rights.go (the public's rights over an unsent order).
//
// It imports no driver: the database, the partner's server and the
// partner's key are ports (ports.go) implemented by pkg/adapter/postgres,
// pkg/adapter/sftp and pkg/adapter/openpgp; scheduling and metrics are the
// service's.
package endofday

import (
	"context"
	"errors"
	"time"

	"github.com/rs/zerolog"

	"booklets/pkg/domain/businessday"
	"booklets/pkg/domain/catalogue"
	"booklets/pkg/domain/workdays"
)

// ErrPartnerMismatch means the partner has a manifest under this batch's
// final name that does not match the batch's content. It is not retried
// and nothing is overwritten: the partner may already be acting on it, so
// an operator must look.
var ErrPartnerMismatch = errors.New("the partner's copy of the batch does not match its content")

// ErrSealedRejected means an order's sealed personal part did not open
// while the batch file was written: tampered with, or its day key is
// missing, destroyed or under an unknown KEK. The whole batch stops before
// anything gets a final name at the partner, the personal data is kept,
// and an operator must look (alert "sealed_data_rejected"). It is not
// retried: the same data would fail again.
var ErrSealedRejected = errors.New("a sealed personal part did not open; batch stopped")

// ErrEncryptionConfig means the sender has not been told how to send batch
// files: it has neither the partner's OpenPGP key (WithRecipient) nor leave
// to send plain CSV (WithPlaintext), or it has both. Nothing is assembled.
var ErrEncryptionConfig = errors.New("batch file encryption not configured")

// ErrEncryptionMismatch means a batch was assembled to be sent one way
// (encrypted to the partner's key, or plain CSV: decided once, at assembly)
// and this sender would send it the other way. Nothing is uploaded,
// recorded or deleted, and it is not retried: a batcher configured as the
// batch was assembled must send it.
var ErrEncryptionMismatch = errors.New("the batch was assembled to be sent otherwise")

// Sender sends a business day's batch.
type Sender struct {
	store     Store
	partner   Partner
	codec     PersonalCodec
	recipient Encrypter
	plaintext bool
	catchUp   func(context.Context, businessday.Date) error
	areas     *catalogue.Catalogue
	calendar  *workdays.Calendar
	now       func() time.Time
	log       zerolog.Logger
	metrics   Observer
	retries   int
	retryBase time.Duration
	sleep     func(context.Context, time.Duration) error
	fault     func(step string, written int64) error
	// spreadsheet, when set, also sends the batch as XLSX (xlsx.go), if
	// it has at most maxSheetRows rows (0: MaxSpreadsheetRows).
	spreadsheet  Spreadsheet
	maxSheetRows int
	// retainer, window and kept: the copy kept for a resend (retain.go).
	retainer Retainer
	window   time.Duration
	kept     *keptFiles
}

// Option configures a Sender.
type Option func(*Sender)

// WithCodec sets what opens the sealed personal part (WithKeys sets one).
func WithCodec(c PersonalCodec) Option { return func(s *Sender) { s.codec = c } }

// WithKeys opens the personal parts with the day keys. (The store
// destroys the batch's day keys in the record transaction:
// crypto-shredding.)
func WithKeys(k DayKeys) Option {
	return func(s *Sender) { s.codec = SealedCodec{Keys: k} }
}

// WithRecipient encrypts the data file to the partner's OpenPGP key
// (PARTNER_PGP_KEY_FILE): CSV -> OpenPGP -> SFTP, named *.csv.gpg; the
// manifest's checksum is of the encrypted bytes sent.
func WithRecipient(r Encrypter) Option { return func(s *Sender) { s.recipient = r } }

// WithPlaintext lets the sender send plain CSV, named *.csv, for a partner
// without an OpenPGP key (PARTNER_PLAINTEXT). A sender needs either this or
// WithRecipient, not both: without either it sends nothing.
func WithPlaintext() Option { return func(s *Sender) { s.plaintext = true } }

// WithCatchUp sets the wait, before a day's batch is assembled, until every
// order of that day in the stream is stored (ingest's
// Consumer.WaitCaughtUp).
func WithCatchUp(f func(context.Context, businessday.Date) error) Option {
	return func(s *Sender) { s.catchUp = f }
}

// WithAreas sets the catalogue the area names come from (the embedded one
// by default).
func WithAreas(c *catalogue.Catalogue) Option { return func(s *Sender) { s.areas = c } }

// WithCalendar sets the working-day calendar for due dates.
func WithCalendar(c *workdays.Calendar) Option { return func(s *Sender) { s.calendar = c } }

// WithClock sets the clock.
func WithClock(now func() time.Time) Option { return func(s *Sender) { s.now = now } }

// WithLogger sets the logger.
func WithLogger(l zerolog.Logger) Option { return func(s *Sender) { s.log = l } }

// WithMetrics sets the observer of what the sender does (the service's
// metrics).
func WithMetrics(m Observer) Option { return func(s *Sender) { s.metrics = m } }

// WithRetries sets how often a failed upload is retried and the first
// delay, which doubles each time (SFTP_RETRIES, SFTP_RETRY_BASE).
func WithRetries(retries int, base time.Duration) Option {
	return func(s *Sender) { s.retries, s.retryBase = retries, base }
}

// WithSleep replaces the wait between retries (tests).
func WithSleep(sleep func(context.Context, time.Duration) error) Option {
	return func(s *Sender) { s.sleep = sleep }
}

// WithFault installs a hook called at each step (see the Step constants);
// an error from it aborts SendBatch at once, without retries, as a crash
// of the process would. For tests of crash recovery only.
func WithFault(f func(step string, written int64) error) Option {
	return func(s *Sender) { s.fault = f }
}

// NewSender returns a sender of the batches in st to the partner p.
func NewSender(st Store, p Partner, opts ...Option) *Sender {
	s := &Sender{
		store: st, partner: p, areas: catalogue.Default(), calendar: workdays.New(),
		now: time.Now, log: zerolog.Nop(), retries: 5, retryBase: 2 * time.Second, sleep: sleepCtx,
	}
	for _, o := range opts {
		o(s)
	}
	if s.metrics == nil {
		s.metrics = nopObserver{}
	}
	return s
}

// Result says what SendBatch did.
type Result struct {
	Skipped     bool // another instance holds the sending lock: nothing done
	AlreadySent bool // the batch had been sent before: nothing done
	Batch       Batch
	Deleted     Deleted
}
