package endofday

import (
	"context"
	"errors"
	"fmt"
	"time"

	"booklets/pkg/domain/batchfile"
	"booklets/pkg/domain/businessday"
)

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
		if _, err := s.store.BatchFor(ctx, date); errors.Is(err, ErrNotFound) {
			if err := s.catchUp(ctx, date); err != nil {
				s.metrics.NotCaughtUp()
				s.metrics.BatchFailed()
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
		dataFile += EncryptedExt
	}
	// Durations are real time even on the demo clock; they go in the log
	// lines so that an operator sees where a slow end of day spent it.
	assembleStart := time.Now()
	b, created, err := s.store.Assemble(ctx, Batch{
		ID: id, Date: date, CreatedAt: s.now().UTC().Truncate(time.Second),
		DataFile: dataFile, ManifestFile: batchfile.ManifestFileName(date, id), Encryption: encryption,
	})
	if err != nil {
		return Result{}, fmt.Errorf("send batch for %s: %w", date, err)
	}
	// Every line of the send says how its file goes: "openpgp" or "none".
	log := s.log.With().Str("batch_id", b.ID).Str("business_date", date.String()).Str("encryption", b.Encryption).Logger()
	if b.State == StateSent {
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
	if b.State == StateAssembling && b.Encryption != encryption {
		err := s.mismatch(b, encryption)
		s.metrics.BatchFailed()
		log.Error().Err(err).Str("alert", "batch_not_sent").Str("configured_encryption", encryption).
			Msg("batch NOT sent: it was assembled to be sent otherwise; nothing sent, personal data kept")
		if nerr := s.store.NoteAttempt(context.WithoutCancel(ctx), b.ID, err.Error()); nerr != nil {
			log.Error().Err(nerr).Msg("note failed attempt")
		}
		return Result{Batch: b}, fmt.Errorf("send batch %s for %s: %w", b.ID, date, err)
	}

	sent := Sent{BatchID: b.ID, SHA256: b.SHA256, Records: b.RecordCount, Orders: b.OrderCount, SentAt: b.UploadedAt}
	var uploadTook time.Duration
	if b.State == StateAssembling {
		uploadStart := time.Now()
		m, err := s.uploadWithRetries(ctx, b, log)
		uploadTook = time.Since(uploadStart)
		if err != nil {
			s.metrics.BatchFailed()
			if errors.Is(err, ErrSealedRejected) {
				s.metrics.SealedRejected()
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
	sent.Retained = s.retention(b, sent.SHA256, log)
	recordStart := time.Now()
	del, err := s.store.RecordSent(ctx, sent)
	recordTook := time.Since(recordStart)
	if err != nil {
		return Result{Batch: b}, fmt.Errorf("send batch %s for %s: %w", b.ID, date, err)
	}
	s.metrics.BatchSent(sent.Orders, sent.Records, del.Orders)
	for _, k := range del.DayKeys {
		if !k.Already {
			s.metrics.DayKeyDestroyed()
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
func (s *Sender) mismatch(b Batch, configured string) error {
	if b.Encryption == batchfile.EncryptionOpenPGP {
		return fmt.Errorf("%w: batch %s (%s) was assembled to be encrypted to the partner's OpenPGP key and this batcher has none "+
			"(configured: %s); it is never sent as plain CSV: start the batcher with %s to send it",
			ErrEncryptionMismatch, b.ID, b.DataFile, configured, keyFileSetting)
	}
	return fmt.Errorf("%w: batch %s (%s) was assembled as plain CSV and this batcher encrypts (configured: %s); "+
		"send it with PARTNER_PLAINTEXT=true and without %s, or have an operator decide",
		ErrEncryptionMismatch, b.ID, b.DataFile, configured, keyFileSetting)
}
