package endofday

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"booklets/pkg/domain/batchfile"
)

// The steps at which a fault can be injected (WithFault), in order.
const (
	StepBeforeUpload = "before-upload"
	StepMidUpload    = "mid-upload" // called after each write to the data file with the bytes so far
	StepAfterData    = "after-data-upload"
	StepAfterUpload  = "after-upload"  // both files verified at the partner, before the batch is marked uploaded
	StepBeforeRecord = "before-record" // marked uploaded, before recording and deleting
)

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

// uploadWithRetries uploads the batch, retrying with exponential backoff on
// failures that may pass (network, server, database). A refused host key
// or an injected fault is not retried.
func (s *Sender) uploadWithRetries(ctx context.Context, b Batch, log zerolog.Logger) (batchfile.Manifest, error) {
	delay := s.retryBase
	for attempt := 0; ; attempt++ {
		start := time.Now() // real time, even on the demo clock: it is a duration
		m, err := s.upload(ctx, b)
		if err == nil {
			s.metrics.Uploaded(time.Since(start))
			return m, nil
		}
		var fault faultError
		if errors.As(err, &fault) || errors.Is(err, ErrHostKey) || errors.Is(err, ErrPartnerMismatch) ||
			errors.Is(err, ErrSealedRejected) || errors.Is(err, ErrEncryptionMismatch) || errors.Is(err, ErrPartnerKey) ||
			ctx.Err() != nil || attempt >= s.retries {
			return batchfile.Manifest{}, err
		}
		s.metrics.UploadRetried()
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
func (s *Sender) upload(ctx context.Context, b Batch) (batchfile.Manifest, error) {
	// How the file is written follows the batch's record, never the
	// sender's configuration alone (send has checked that they agree).
	configured, err := s.encryption()
	if err != nil {
		return batchfile.Manifest{}, err
	}
	encrypt := b.Encryption == batchfile.EncryptionOpenPGP
	if b.Encryption != configured || encrypt != strings.HasSuffix(b.DataFile, EncryptedExt) {
		return batchfile.Manifest{}, s.mismatch(b, configured)
	}
	if encrypt {
		// Judged at each send (a key can expire or be revoked while the
		// batcher runs), before anything is connected to: the error says
		// which key and why, and retrying does not help.
		if err := s.recipient.Check(); err != nil {
			return batchfile.Manifest{}, fmt.Errorf("%w (%s): %w", ErrPartnerKey, keyFileSetting, err)
		}
	}
	c, err := s.partner.Dial(ctx)
	if err != nil {
		return batchfile.Manifest{}, err
	}
	defer c.Close()
	c = s.retaining(c, b) // an encrypted batch's files are kept as uploaded, for a resend
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
		enc, err := s.recipient.Encrypt(fw, strings.TrimSuffix(b.DataFile, EncryptedExt))
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
		return batchfile.Manifest{}, fmt.Errorf("%w: data file of batch %s: written and uploaded checksums differ", ErrVerify, b.ID)
	}
	if err := s.step(StepAfterData, up.Bytes); err != nil {
		return batchfile.Manifest{}, err
	}
	m := batchfile.NewManifest(b.ID, b.Date, b.CreatedAt, sum)
	// The manifest describes the bytes sent: the partner checks those.
	m.DataFile, m.SHA256, m.Bytes, m.Encryption = b.DataFile, up.SHA256, up.Bytes, b.Encryption
	if encrypt {
		m.RecipientFingerprint = s.recipient.Fingerprint()
		if fps := s.recipient.Fingerprints(); len(fps) > 1 {
			m.RecipientFingerprints = fps
		}
	}
	sent := []string{b.DataFile} // removed again if the batch is not completed
	if s.spreadsheet != nil && s.spreadsheetFits(b, sum.Records) {
		x, err := s.uploadSpreadsheet(ctx, c, b, encrypt, sum.Records)
		if err != nil {
			return batchfile.Manifest{}, s.removeSent(c, sent, err)
		}
		sent = append(sent, x.Name)
		m.XLSXFile, m.XLSXSHA256, m.XLSXBytes = x.Name, x.SHA256, x.Bytes
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
		// file (nor its spreadsheet) either: without a manifest it would
		// not process it, but it would hold the orders until the retry
		// replaces the file. This is also the path of a shutdown that
		// abandons the batch between the files. Only a crash here leaves
		// them behind.
		return batchfile.Manifest{}, s.removeSent(c, sent, err)
	}
	return m, nil
}

// removeSent removes the files of a batch not completed from the partner,
// saying in err which could not be removed.
func (s *Sender) removeSent(c PartnerSession, names []string, err error) error {
	for _, name := range names {
		if rerr := c.Remove(name); rerr != nil {
			kind := "data file"
			if name != names[0] {
				kind = "spreadsheet"
			}
			err = fmt.Errorf("%w (the %s %s could not be removed: %v)", err, kind, name, rerr)
		}
	}
	return err
}

// alreadyThere reports whether the partner already has this batch complete:
// its manifest under the final name, naming this batch, with the checksum
// the batch's content has, and a data file with that checksum.
func (s *Sender) alreadyThere(ctx context.Context, c PartnerSession, b Batch, encrypt bool) (batchfile.Manifest, bool, error) {
	body, err := c.ReadFile(b.ManifestFile, 1<<20)
	if errors.Is(err, ErrNoSuchFile) {
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
		if err != nil && !errors.Is(err, ErrNoSuchFile) {
			return batchfile.Manifest{}, false, err
		}
		orders, records, err := s.store.CountBatch(ctx, b.ID)
		if err != nil {
			return batchfile.Manifest{}, false, err
		}
		if m.BatchID != b.ID || m.DataFile != b.DataFile || m.RecordCount != records || m.OrderCount != orders || got != m.SHA256 {
			return batchfile.Manifest{}, false, fmt.Errorf("%w: batch %s: %s", ErrPartnerMismatch, b.ID, b.ManifestFile)
		}
		if err := s.spreadsheetThere(c, b, m); err != nil {
			return batchfile.Manifest{}, false, err
		}
		s.log.Warn().Str("batch_id", b.ID).Msg("partner already has this batch complete; recording it")
		return m, true, nil
	}
	want, err := s.write(ctx, b, io.Discard, true)
	if err != nil {
		return batchfile.Manifest{}, false, err
	}
	got, _, err := c.Checksum(b.DataFile)
	if err != nil && !errors.Is(err, ErrNoSuchFile) {
		return batchfile.Manifest{}, false, err
	}
	if m.BatchID != b.ID || m.SHA256 != want.SHA256 || got != want.SHA256 {
		// A manifest the partner may already act on does not match what we
		// would send: do not overwrite it; an operator must look.
		return batchfile.Manifest{}, false, fmt.Errorf("%w: batch %s: %s", ErrPartnerMismatch, b.ID, b.ManifestFile)
	}
	if err := s.spreadsheetThere(c, b, m); err != nil {
		return batchfile.Manifest{}, false, err
	}
	s.log.Warn().Str("batch_id", b.ID).Msg("partner already has this batch complete; recording it")
	return m, true, nil
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
