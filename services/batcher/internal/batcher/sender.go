package batcher

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"booklets/pkg/adapter/openpgp"
	"booklets/pkg/adapter/postgres"
	"booklets/pkg/adapter/sftp"
	"booklets/pkg/domain/batchfile"
	"booklets/pkg/domain/businessday"
	"booklets/pkg/domain/catalogue"
	"booklets/pkg/domain/order"
	"booklets/pkg/domain/reference"
	"booklets/pkg/domain/seal"
	"booklets/pkg/domain/workdays"
)

// The steps at which a fault can be injected (WithFault), in order.
const (
	StepBeforeUpload = "before-upload"
	StepMidUpload    = "mid-upload" // called after each write to the data file with the bytes so far
	StepAfterData    = "after-data-upload"
	StepAfterUpload  = "after-upload"  // both files verified at the partner, before the batch is marked uploaded
	StepBeforeRecord = "before-record" // marked uploaded, before recording and deleting
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

// ErrNotCaughtUp means the stream consumer still had orders in flight when
// a day's batch was to be assembled: assembling then would leave them to
// be sealed under a key about to be destroyed. Nothing is assembled; the
// run fails and is retried (next run or `batcher send-now`).
var ErrNotCaughtUp = errors.New("the stream consumer has not caught up")

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
	store     *postgres.Orders
	partner   sftp.Config
	codec     PersonalCodec
	keys      *postgres.DayKeys
	recipient *openpgp.Recipient
	plaintext bool
	catchUp   func(context.Context, businessday.Date) error
	areas     *catalogue.Catalogue
	calendar  *workdays.Calendar
	now       func() time.Time
	log       zerolog.Logger
	metrics   *Metrics
	retries   int
	retryBase time.Duration
	sleep     func(context.Context, time.Duration) error
	fault     func(step string, written int64) error
}

// Option configures a Sender.
type Option func(*Sender)

// WithCodec sets what opens the sealed personal part (WithKeys sets one).
func WithCodec(c PersonalCodec) Option { return func(s *Sender) { s.codec = c } }

// WithKeys opens the personal parts with the day keys, and destroys the
// batch's day keys in the record transaction (crypto-shredding).
func WithKeys(k *postgres.DayKeys) Option {
	return func(s *Sender) { s.keys, s.codec = k, SealedCodec{Keys: k} }
}

// WithRecipient encrypts the data file to the partner's OpenPGP key
// (PARTNER_PGP_KEY_FILE): CSV -> OpenPGP -> SFTP, named *.csv.gpg; the
// manifest's checksum is of the encrypted bytes sent.
func WithRecipient(r *openpgp.Recipient) Option { return func(s *Sender) { s.recipient = r } }

// WithPlaintext lets the sender send plain CSV, named *.csv, for a partner
// without an OpenPGP key (PARTNER_PLAINTEXT). A sender needs either this or
// WithRecipient, not both: without either it sends nothing.
func WithPlaintext() Option { return func(s *Sender) { s.plaintext = true } }

// WithCatchUp sets the wait, before a day's batch is assembled, until every
// order of that day in the stream is stored (Consumer.WaitCaughtUp).
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

// WithMetrics sets the metrics.
func WithMetrics(m *Metrics) Option { return func(s *Sender) { s.metrics = m } }

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

// NewSender returns a sender to the partner over SFTP.
func NewSender(st *postgres.Orders, p sftp.Config, opts ...Option) *Sender {
	s := &Sender{
		store: st, partner: p, areas: catalogue.Default(), calendar: workdays.New(),
		now: time.Now, log: zerolog.Nop(), retries: 5, retryBase: 2 * time.Second, sleep: sleepCtx,
	}
	for _, o := range opts {
		o(s)
	}
	if s.metrics == nil {
		s.metrics = NewMetrics(nil)
	}
	return s
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Result says what SendBatch did.
type Result struct {
	Skipped     bool // another instance holds the sending lock: nothing done
	AlreadySent bool // the batch had been sent before: nothing done
	Batch       postgres.Batch
	Deleted     postgres.Deleted
}

// faultError marks an injected crash, which must not be retried.
type faultError struct{ err error }

func (f faultError) Error() string { return "injected fault: " + f.err.Error() }
func (f faultError) Unwrap() error { return f.err }

func (s *Sender) step(name string, written int64) error {
	if s.fault == nil {
		return nil
	}
	if err := s.fault(name, written); err != nil {
		return faultError{err}
	}
	return nil
}

// SendBatch sends the batch of a business day: the day's orders and any
// earlier ones not yet sent. It is the end-of-day job; `batcher send-now`
// and tests call it directly. It is safe to run again after a failure or
// crash at any step: an unfinished batch is resumed with the same id and
// content, and a batch the partner already has complete is only recorded.
// Unfinished batches of earlier days are completed first. If another
// instance is sending, it returns at once with Result.Skipped.
func (s *Sender) SendBatch(ctx context.Context, date businessday.Date) (Result, error) {
	if _, err := s.encryption(); err != nil {
		return Result{}, fmt.Errorf("send batch for %s: %w", date, err)
	}
	lock, ok, err := s.store.TryLockSending(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("send batch for %s: %w", date, err)
	}
	if !ok {
		s.log.Info().Str("business_date", date.String()).Msg("another instance is sending a batch; not sending")
		return Result{Skipped: true}, nil
	}
	defer lock.Release()

	earlier, err := s.store.Unfinished(ctx, date)
	if err != nil {
		return Result{}, fmt.Errorf("send batch for %s: %w", date, err)
	}
	for _, b := range earlier {
		s.log.Warn().Str("batch_id", b.ID).Str("business_date", b.Date.String()).Str("state", b.State).
			Msg("finishing an earlier unfinished batch first")
		if _, err := s.send(ctx, b.Date); err != nil {
			return Result{}, err
		}
	}
	return s.send(ctx, date)
}

// encryption is how this sender sends a batch file it assembles:
// batchfile.EncryptionOpenPGP or batchfile.EncryptionNone.
func (s *Sender) encryption() (string, error) {
	switch {
	case s.recipient != nil && s.plaintext:
		return "", fmt.Errorf("%w: both a partner key and plain CSV were given", ErrEncryptionConfig)
	case s.recipient != nil:
		return batchfile.EncryptionOpenPGP, nil
	case s.plaintext:
		return batchfile.EncryptionNone, nil
	}
	return "", fmt.Errorf("%w: no partner OpenPGP key, and plain CSV not allowed", ErrEncryptionConfig)
}

func (s *Sender) send(ctx context.Context, date businessday.Date) (Result, error) {
	encryption, err := s.encryption()
	if err != nil {
		return Result{}, fmt.Errorf("send batch for %s: %w", date, err)
	}
	if s.catchUp != nil {
		if _, err := s.store.BatchFor(ctx, date); errors.Is(err, postgres.ErrNotFound) {
			if err := s.catchUp(ctx, date); err != nil {
				s.metrics.NotCaughtUp.Inc()
				s.metrics.BatchFailures.Inc()
				s.log.Error().Err(err).Str("alert", "batch_not_sent").Str("business_date", date.String()).
					Msg("batch NOT assembled: orders still in the stream; it will be retried by the next run or `batcher send-now`")
				return Result{}, fmt.Errorf("send batch for %s: %w", date, err)
			}
		} else if err != nil {
			return Result{}, fmt.Errorf("send batch for %s: %w", date, err)
		}
	}
	id := batchfile.NewBatchID(date)
	dataFile := batchfile.DataFileName(date, id)
	if encryption == batchfile.EncryptionOpenPGP {
		dataFile += openpgp.Ext
	}
	// Durations are real time even on the demo clock; they go in the log
	// lines so that an operator sees where a slow end of day spent it.
	assembleStart := time.Now()
	b, created, err := s.store.Assemble(ctx, postgres.Batch{
		ID: id, Date: date, CreatedAt: s.now().UTC().Truncate(time.Second),
		DataFile: dataFile, ManifestFile: batchfile.ManifestFileName(date, id), Encryption: encryption,
	})
	if err != nil {
		return Result{}, fmt.Errorf("send batch for %s: %w", date, err)
	}
	// Every line of the send says how its file goes: "openpgp" or "none".
	log := s.log.With().Str("batch_id", b.ID).Str("business_date", date.String()).Str("encryption", b.Encryption).Logger()
	if b.State == postgres.StateSent {
		log.Info().Msg("batch already sent")
		return Result{AlreadySent: true, Batch: b}, nil
	}
	if created {
		log.Info().Dur("assemble_ms", time.Since(assembleStart)).Msg("batch assembled")
	} else {
		log.Warn().Str("state", b.State).Msg("resuming an unfinished batch")
	}

	// Encryption was decided when the batch was assembled: a run resuming
	// it sends it that way or not at all. Once uploaded (both files
	// verified at the partner) nothing more is sent, only recorded.
	if b.State == postgres.StateAssembling && b.Encryption != encryption {
		err := s.mismatch(b, encryption)
		s.metrics.BatchFailures.Inc()
		log.Error().Err(err).Str("alert", "batch_not_sent").Str("configured_encryption", encryption).
			Msg("batch NOT sent: it was assembled to be sent otherwise; nothing sent, personal data kept")
		if nerr := s.store.NoteAttempt(context.WithoutCancel(ctx), b.ID, err.Error()); nerr != nil {
			log.Error().Err(nerr).Msg("note failed attempt")
		}
		return Result{Batch: b}, fmt.Errorf("send batch %s for %s: %w", b.ID, date, err)
	}

	sent := postgres.Sent{BatchID: b.ID, SHA256: b.SHA256, Records: b.RecordCount, Orders: b.OrderCount, SentAt: b.UploadedAt}
	var uploadTook time.Duration
	if b.State == postgres.StateAssembling {
		uploadStart := time.Now()
		m, err := s.uploadWithRetries(ctx, b, log)
		uploadTook = time.Since(uploadStart)
		if err != nil {
			s.metrics.BatchFailures.Inc()
			if errors.Is(err, ErrSealedRejected) {
				s.metrics.SealedRejected.Inc()
			}
			// The alert: operators act on this line. Personal data is kept.
			log.Error().Err(err).Str("alert", "batch_not_sent").
				Msg("batch NOT sent; personal data kept; it will be retried by the next run or `batcher send-now`")
			if nerr := s.store.NoteAttempt(context.WithoutCancel(ctx), b.ID, err.Error()); nerr != nil {
				log.Error().Err(nerr).Msg("note failed attempt")
			}
			return Result{Batch: b}, fmt.Errorf("send batch %s for %s: %w", b.ID, date, err)
		}
		sent.SHA256, sent.Records, sent.Orders, sent.SentAt = m.SHA256, m.RecordCount, m.OrderCount, s.now()
		if err := s.step(StepAfterUpload, 0); err != nil {
			return Result{Batch: b}, fmt.Errorf("send batch %s for %s: %w", b.ID, date, err)
		}
		if err := s.store.MarkUploaded(ctx, b.ID, m.SHA256, m.RecordCount, m.OrderCount); err != nil {
			return Result{Batch: b}, fmt.Errorf("send batch %s for %s: %w", b.ID, date, err)
		}
		if err := s.step(StepBeforeRecord, 0); err != nil {
			return Result{Batch: b}, fmt.Errorf("send batch %s for %s: %w", b.ID, date, err)
		}
	}

	// The delivery date is the London date of the verified upload.
	delivery := businessday.LondonDate(sent.SentAt)
	sent.DeliveryDate = delivery
	sent.DueDate = businessday.FromTime(s.calendar.DueDate(delivery.UTC()))
	sent.SentAt = s.now()
	sent.Keys = s.keys
	recordStart := time.Now()
	del, err := s.store.RecordSent(ctx, sent)
	recordTook := time.Since(recordStart)
	if err != nil {
		return Result{Batch: b}, fmt.Errorf("send batch %s for %s: %w", b.ID, date, err)
	}
	s.metrics.BatchesSent.Inc()
	s.metrics.BatchOrders.Observe(float64(sent.Orders))
	s.metrics.RecordsSent.Add(float64(sent.Records))
	s.metrics.PersonalErased.Add(float64(del.Orders))
	for _, k := range del.DayKeys {
		if !k.Already {
			s.metrics.DayKeysShredded.Inc()
			log.Info().Str("day_key", k.Date.String()).Str("kek_id", k.KEKID).Msg("day key destroyed: that day's sealed copies are unreadable everywhere")
		}
	}
	b, err = s.store.BatchFor(ctx, date)
	if err != nil {
		return Result{}, fmt.Errorf("send batch for %s: %w", date, err)
	}
	log.Info().Int("records", b.RecordCount).Int("orders", b.OrderCount).Str("sha256", b.SHA256).
		Str("due_date", b.DueDate.String()).Int("personal_deleted", del.Orders).
		Dur("upload_ms", uploadTook).Dur("record_ms", recordTook).
		Msg("batch sent and verified; personal data deleted")
	return Result{Batch: b, Deleted: del}, nil
}

// mismatch explains, for an operator, a batch assembled to be sent
// otherwise than this sender would, and what to do.
func (s *Sender) mismatch(b postgres.Batch, configured string) error {
	if b.Encryption == batchfile.EncryptionOpenPGP {
		return fmt.Errorf("%w: batch %s (%s) was assembled to be encrypted to the partner's OpenPGP key and this batcher has none "+
			"(configured: %s); it is never sent as plain CSV: start the batcher with %s to send it",
			ErrEncryptionMismatch, b.ID, b.DataFile, configured, openpgp.EnvKeyFile)
	}
	return fmt.Errorf("%w: batch %s (%s) was assembled as plain CSV and this batcher encrypts (configured: %s); "+
		"send it with PARTNER_PLAINTEXT=true and without %s, or have an operator decide",
		ErrEncryptionMismatch, b.ID, b.DataFile, configured, openpgp.EnvKeyFile)
}

// uploadWithRetries uploads the batch, retrying with exponential backoff on
// failures that may pass (network, server, database). A refused host key
// or an injected fault is not retried.
func (s *Sender) uploadWithRetries(ctx context.Context, b postgres.Batch, log zerolog.Logger) (batchfile.Manifest, error) {
	delay := s.retryBase
	for attempt := 0; ; attempt++ {
		start := time.Now() // real time, even on the demo clock: it is a duration
		m, err := s.upload(ctx, b)
		if err == nil {
			s.metrics.UploadDuration.Observe(time.Since(start).Seconds())
			return m, nil
		}
		var fault faultError
		if errors.As(err, &fault) || errors.Is(err, sftp.ErrHostKey) || errors.Is(err, ErrPartnerMismatch) ||
			errors.Is(err, ErrSealedRejected) || errors.Is(err, ErrEncryptionMismatch) || ctx.Err() != nil || attempt >= s.retries {
			return batchfile.Manifest{}, err
		}
		s.metrics.UploadRetries.Inc()
		log.Warn().Err(err).Int("attempt", attempt+1).Int("retries", s.retries).Dur("retry_in", delay).
			Msg("upload failed; retrying")
		if err := s.sleep(ctx, delay); err != nil {
			return batchfile.Manifest{}, err
		}
		delay = min(delay*2, 10*time.Minute)
	}
}

// upload makes one attempt: connect, see whether the partner already has
// the batch complete (a crash after uploading, before recording), and if
// not upload the data file and then the manifest.
func (s *Sender) upload(ctx context.Context, b postgres.Batch) (batchfile.Manifest, error) {
	// How the file is written follows the batch's record, never the
	// sender's configuration alone (send has checked that they agree).
	configured, err := s.encryption()
	if err != nil {
		return batchfile.Manifest{}, err
	}
	encrypt := b.Encryption == batchfile.EncryptionOpenPGP
	if b.Encryption != configured || encrypt != strings.HasSuffix(b.DataFile, openpgp.Ext) {
		return batchfile.Manifest{}, s.mismatch(b, configured)
	}
	c, err := sftp.Dial(ctx, s.partner)
	if err != nil {
		return batchfile.Manifest{}, err
	}
	defer c.Close()
	if err := c.EnsureDir(); err != nil {
		return batchfile.Manifest{}, err
	}
	if m, ok, err := s.alreadyThere(ctx, c, b, encrypt); err != nil || ok {
		return m, err
	}
	if err := s.step(StepBeforeUpload, 0); err != nil {
		return batchfile.Manifest{}, err
	}
	var sum batchfile.Summary
	up, err := c.Upload(ctx, b.DataFile, func(w io.Writer) error {
		fw := &faultWriter{w: w, s: s}
		if !encrypt {
			var err error
			sum, err = s.write(ctx, b, fw, true)
			return err
		}
		// CSV -> OpenPGP -> SFTP: no plaintext file anywhere, and what
		// travels and rests at the partner is ciphertext.
		enc, err := s.recipient.Encrypt(fw, strings.TrimSuffix(b.DataFile, openpgp.Ext))
		if err != nil {
			return err
		}
		// Only the ciphertext's checksum is sent and checked (by Upload):
		// the CSV's is not computed.
		if sum, err = s.write(ctx, b, enc, false); err != nil {
			return err
		}
		return enc.Close()
	})
	if err != nil {
		return batchfile.Manifest{}, err
	}
	if !encrypt && (up.SHA256 != sum.SHA256 || up.Bytes != sum.Bytes) {
		return batchfile.Manifest{}, fmt.Errorf("%w: data file of batch %s: written and uploaded checksums differ", sftp.ErrVerify, b.ID)
	}
	if err := s.step(StepAfterData, up.Bytes); err != nil {
		return batchfile.Manifest{}, err
	}
	m := batchfile.NewManifest(b.ID, b.Date, b.CreatedAt, sum)
	// The manifest describes the bytes sent: the partner checks those.
	m.DataFile, m.SHA256, m.Bytes, m.Encryption = b.DataFile, up.SHA256, up.Bytes, b.Encryption
	if encrypt {
		m.RecipientFingerprint = s.recipient.Fingerprint()
	}
	body, err := m.Marshal()
	if err != nil {
		return batchfile.Manifest{}, err
	}
	if _, err := c.Upload(ctx, b.ManifestFile, func(w io.Writer) error {
		_, err := w.Write(body)
		return err
	}); err != nil {
		// The batch is not sent, so the partner should not keep its data
		// file either: without a manifest it would not process it, but it
		// would hold the orders until the retry replaces the file. This is
		// also the path of a shutdown that abandons the batch between the
		// two files. Only a crash here leaves the data file behind.
		if rerr := c.Remove(c.Path(b.DataFile)); rerr != nil {
			err = fmt.Errorf("%w (the data file %s could not be removed: %v)", err, b.DataFile, rerr)
		}
		return batchfile.Manifest{}, err
	}
	return m, nil
}

// alreadyThere reports whether the partner already has this batch complete:
// its manifest under the final name, naming this batch, with the checksum
// the batch's content has, and a data file with that checksum.
func (s *Sender) alreadyThere(ctx context.Context, c *sftp.Client, b postgres.Batch, encrypt bool) (batchfile.Manifest, bool, error) {
	body, err := c.ReadFile(c.Path(b.ManifestFile), 1<<20)
	if errors.Is(err, sftp.ErrNotFound) {
		return batchfile.Manifest{}, false, nil
	}
	if err != nil {
		return batchfile.Manifest{}, false, err
	}
	m, err := batchfile.ParseManifest(body)
	if err != nil {
		return batchfile.Manifest{}, false, fmt.Errorf("batch %s: partner has an unreadable manifest %s", b.ID, b.ManifestFile)
	}
	if encrypt {
		// Encryption is not deterministic, so the content cannot be
		// recomputed: the manifest must name this batch and its file and
		// counts, and the partner's data file must have its checksum.
		got, _, err := c.Checksum(b.DataFile)
		if err != nil && !errors.Is(err, sftp.ErrNotFound) {
			return batchfile.Manifest{}, false, err
		}
		orders, records, err := s.store.CountBatch(ctx, b.ID)
		if err != nil {
			return batchfile.Manifest{}, false, err
		}
		if m.BatchID != b.ID || m.DataFile != b.DataFile || m.RecordCount != records || m.OrderCount != orders || got != m.SHA256 {
			return batchfile.Manifest{}, false, fmt.Errorf("%w: batch %s: %s", ErrPartnerMismatch, b.ID, b.ManifestFile)
		}
		s.log.Warn().Str("batch_id", b.ID).Msg("partner already has this batch complete; recording it")
		return m, true, nil
	}
	want, err := s.write(ctx, b, io.Discard, true)
	if err != nil {
		return batchfile.Manifest{}, false, err
	}
	got, _, err := c.Checksum(b.DataFile)
	if err != nil && !errors.Is(err, sftp.ErrNotFound) {
		return batchfile.Manifest{}, false, err
	}
	if m.BatchID != b.ID || m.SHA256 != want.SHA256 || got != want.SHA256 {
		// A manifest the partner may already act on does not match what we
		// would send: do not overwrite it; an operator must look.
		return batchfile.Manifest{}, false, fmt.Errorf("%w: batch %s: %s", ErrPartnerMismatch, b.ID, b.ManifestFile)
	}
	s.log.Warn().Str("batch_id", b.ID).Msg("partner already has this batch complete; recording it")
	return m, true, nil
}

// write streams the batch's CSV to w and returns its summary, with the
// CSV's SHA-256 if checksum is set. This is the only place personal data is
// opened, in memory, a chunk of orders at a time.
//
// Opening the personal parts (AES-GCM, decoding) and encoding their CSV
// rows are the costliest steps of a large batch, so they are spread over a
// few goroutines while PostgreSQL is read in one and the file written
// (encrypted) in another; the chunks are written in the order they were
// read, so the file is the same as one written in one goroutine. Memory
// stays flat: at most a few chunks are in flight, and their buffers are
// reused.
func (s *Sender) write(ctx context.Context, b postgres.Batch, w io.Writer, checksum bool) (batchfile.Summary, error) {
	if s.codec == nil {
		return batchfile.Summary{}, fmt.Errorf("batch %s: no day keys to open the personal data with", b.ID)
	}
	newWriter := batchfile.NewWriterWithoutChecksum
	if checksum {
		newWriter = batchfile.NewWriter
	}
	bw, err := newWriter(w)
	if err != nil {
		return batchfile.Summary{}, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	workers := max(1, min(runtime.GOMAXPROCS(0), 4))
	queue := make(chan *chunk, 2*workers) // in reading order, for the writer
	work := make(chan *chunk, 2*workers)  // for the openers
	// Chunks written, cleared, for the reader to fill again: their arrays
	// (orders, formats, rows) are then allocated only for the first few.
	free := make(chan *chunk, 4*workers+2)
	var openers sync.WaitGroup
	for range workers {
		openers.Add(1)
		go func() {
			defer openers.Done()
			codec := decoderFor(s.codec)
			for c := range work {
				s.open(ctx, b, c, codec)
				close(c.done)
			}
		}()
	}
	readErr := make(chan error, 1)
	go func() {
		defer close(queue)
		defer close(work)
		c := reuse(free)
		send := func() error {
			select {
			case work <- c:
			case <-ctx.Done():
				return ctx.Err()
			}
			select {
			case queue <- c:
			case <-ctx.Done():
				return ctx.Err()
			}
			c = reuse(free)
			return nil
		}
		err := s.store.EachOrder(ctx, b.ID, func(o postgres.BatchOrder) error {
			o.Formats = c.keepFormats(o.Formats) // reused by EachOrder
			c.orders = append(c.orders, o)
			if len(c.orders) == chunkSize {
				return send()
			}
			return nil
		})
		if err == nil && len(c.orders) > 0 {
			err = send()
		}
		readErr <- err
	}()
	// On return (done or failed) stop the reader and the openers and wait
	// for them, so that nothing is left running with personal data.
	// The rows of chunks opened but not written are cleared too.
	var current *chunk
	defer func() {
		cancel()
		for c := range queue {
			<-c.done
			clear(c.rows)
		}
		openers.Wait()
		if current != nil {
			clear(current.rows)
		}
	}()
	for c := range queue {
		current = c
		select {
		case <-c.done:
		case <-ctx.Done():
			return batchfile.Summary{}, ctx.Err()
		}
		err := bw.WriteEncoded(c.rows, c.records, c.opened)
		clear(c.rows) // personal data
		if err != nil {
			return batchfile.Summary{}, err
		}
		if c.err != nil {
			s.rejected(b, c)
			return batchfile.Summary{}, c.err
		}
		c.reset()
		select {
		case free <- c:
		default:
		}
	}
	if err := <-readErr; err != nil {
		return batchfile.Summary{}, err
	}
	return bw.Close()
}

// chunkSize is how many orders are opened together.
const chunkSize = 256

// chunk is a run of orders in reading order: opened and encoded into CSV
// rows by an opener (up to the first that fails: err), then written by the
// writer.
type chunk struct {
	orders  []postgres.BatchOrder
	rows    []byte // the opened orders' rows (personal data: cleared once written)
	records int    // rows in rows
	opened  int    // orders in rows
	failed  string // the reference of the order whose sealed part did not open
	cause   error  // why it did not open
	err     error
	done    chan struct{} // closed once opened
	formats []order.Format
}

// rowsSize is a chunk's first rows buffer: a chunk of orders like the
// bench's (about 140 bytes an order) fits without growing.
const rowsSize = 64 << 10

func newChunk() *chunk {
	return &chunk{
		orders:  make([]postgres.BatchOrder, 0, chunkSize),
		formats: make([]order.Format, 0, 2*chunkSize),
		rows:    make([]byte, 0, rowsSize),
		done:    make(chan struct{}),
	}
}

// reuse returns a written chunk from free, or a new one.
func reuse(free chan *chunk) *chunk {
	select {
	case c := <-free:
		return c
	default:
		return newChunk()
	}
}

// reset empties a written chunk for reuse; its rows must have been
// cleared. Nothing refers to its orders or formats any more: they went
// into its rows.
func (c *chunk) reset() {
	clear(c.orders) // the sealed values, for the collector
	c.orders, c.formats, c.rows = c.orders[:0], c.formats[:0], c.rows[:0]
	c.records, c.opened = 0, 0
	c.done = make(chan struct{})
}

// keepFormats copies an order's formats into the chunk's array (one
// allocation a chunk instead of one an order); the slice returned has no
// room to grow into the next order's. When the array is full a new one is
// started: the earlier orders keep theirs.
func (c *chunk) keepFormats(fs []order.Format) []order.Format {
	start := len(c.formats)
	c.formats = append(c.formats, fs...)
	return c.formats[start:len(c.formats):len(c.formats)]
}

// open opens a chunk's personal parts and encodes their rows, stopping at
// the first that fails.
func (s *Sender) open(ctx context.Context, b postgres.Batch, c *chunk, codec PersonalCodec) {
	for _, o := range c.orders {
		if ctx.Err() != nil {
			c.err = ctx.Err()
			return
		}
		ref, err := storedReference(o.Reference)
		if err != nil {
			c.err = fmt.Errorf("order %s: %w: stored reference is invalid", o.Reference, ErrSealedRejected)
			return
		}
		p, err := codec.Decode(ctx, o.OrderID, ref, o.BusinessDate, o.Personal)
		if err != nil { // tested first: six errors.Is calls an order were 1 % of the send's CPU
			if errors.Is(err, seal.ErrTampered) || errors.Is(err, seal.ErrMalformed) || errors.Is(err, seal.ErrWrongDayKey) ||
				errors.Is(err, seal.ErrKeyDestroyed) || errors.Is(err, seal.ErrUnknownKEK) || errors.Is(err, postgres.ErrNoKey) {
				c.failed, c.cause = o.Reference, err
				c.err = fmt.Errorf("batch %s, order %s: %w: %w", b.ID, o.Reference, ErrSealedRejected, err)
				return
			}
			c.err = fmt.Errorf("order %s: %w", o.Reference, err)
			return
		}
		e := batchfile.Entry{Reference: o.Reference, AreaCode: o.Area, Formats: o.Formats, Personal: p}
		if a, ok := s.areas.Lookup(o.Area); ok {
			e.AreaName = a.Name
		}
		var n int
		c.rows, n = batchfile.AppendEntry(c.rows, e)
		c.records += n
		c.opened++
	}
}

// storedReference is reference.Parse for a reference as the store holds
// it. The intake stores only the canonical form Parse returns, so a value
// of that form (XXXX-XXXX-XXX in the reference alphabet) is taken as it
// is: Parse's allocations were a tenth of the openers' CPU. Its check
// character is not recomputed here: the reference is bound into the sealed
// part's associated data, so a stored reference changed in any way does
// not open (ErrTampered), and the batch stops all the same. Anything else
// goes through Parse, as before.
func storedReference(s string) (reference.Reference, error) {
	if len(s) != reference.Len+2 || s[4] != '-' || s[9] != '-' {
		return reference.Parse(s)
	}
	for i := 0; i < len(s); i++ {
		if i != 4 && i != 9 && !inAlphabet[s[i]] {
			return reference.Parse(s)
		}
	}
	return reference.Reference(s), nil
}

// inAlphabet says which bytes are in reference.Alphabet.
var inAlphabet = func() (in [256]bool) {
	for i := 0; i < len(reference.Alphabet); i++ {
		in[reference.Alphabet[i]] = true
	}
	return in
}()

// rejected raises the alert for a sealed personal part that did not open.
// It names the batch and the order reference only.
func (s *Sender) rejected(b postgres.Batch, c *chunk) {
	if c.cause == nil {
		return
	}
	s.log.Error().Str("alert", "sealed_data_rejected").Str("batch_id", b.ID).Str("reference", c.failed).
		Err(c.cause).Msg("sealed personal data did not open: batch stopped, nothing sent, data kept")
}

// faultWriter lets a test abort in the middle of the data file.
type faultWriter struct {
	w       io.Writer
	s       *Sender
	written int64
}

func (f *faultWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	f.written += int64(n)
	if err != nil {
		return n, err
	}
	if err := f.s.step(StepMidUpload, f.written); err != nil {
		return n, err
	}
	return n, nil
}
