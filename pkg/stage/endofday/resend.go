package endofday

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/rs/zerolog"

	"booklets/pkg/domain/batchfile"
)

// RetentionRecords is what a resend and the retention sweep read and
// record (pkg/adapter/postgres): table batch_retention and its audit
// entries.
type RetentionRecords interface {
	// TryLockSending is Store's: a resend uploads under the names a send
	// uses, so the two never run at once.
	TryLockSending(ctx context.Context) (lock Lock, ok bool, err error)
	// RetentionOf returns what is recorded about a batch's kept copy;
	// ErrNotFound if there is no such batch.
	RetentionOf(ctx context.Context, batchID string) (RetentionRecord, error)
	// RetentionsEnded lists the kept copies whose window ended at or
	// before now and that are not recorded deleted yet.
	RetentionsEnded(ctx context.Context, now time.Time) ([]RetentionRecord, error)
	// RecordRetainedDeleted records (audit entry "retained_copy_deleted")
	// that a batch's kept copy is deleted; false if it already was.
	RecordRetainedDeleted(ctx context.Context, batchID, reason string) (bool, error)
	// RecordResent records a resend (audit entry "batch_resent").
	RecordResent(ctx context.Context, batchID string, files []RetainedFile) error
}

// RetentionRecord is a batch as a resend sees it.
type RetentionRecord struct {
	BatchID    string
	State      string
	Encryption string
	// Retention is the copy recorded as kept, nil if none was.
	Retention      *Retention
	DeletedAt      time.Time // zero while kept
	DeletionReason string
	Resends        int
}

// Why a resend is refused. Each error says which, for the operator.
var (
	ErrUnknownBatch   = errors.New("no such batch")
	ErrNotRetained    = errors.New("no copy of this batch is kept")
	ErrWindowEnded    = errors.New("the resend window of this batch has ended")
	ErrRetainedBroken = errors.New("the kept copy is not the one sent")
)

// Resender sends a kept batch again (`batcher resend BATCH_ID`): the same
// files, byte for byte, under the same names, each verified at the partner
// as the first upload was.
type Resender struct {
	Store    RetentionRecords
	Retainer Retainer
	Partner  Partner
	Now      func() time.Time
	Log      zerolog.Logger
}

// Resend uploads a kept batch again and records it. It refuses, saying
// why, an unknown batch, one sent as plain CSV, one not kept, and one
// whose window has ended.
func (r Resender) Resend(ctx context.Context, batchID string) ([]RetainedFile, error) {
	if !batchfile.ValidBatchID(batchID) {
		return nil, fmt.Errorf("resend %q: %w: a batch id looks like B20261125-K7QM2X", batchID, ErrUnknownBatch)
	}
	rec, err := r.Store.RetentionOf(ctx, batchID)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("resend %s: %w: check the id against the partner's manifest", batchID, ErrUnknownBatch)
	}
	if err != nil {
		return nil, fmt.Errorf("resend %s: %w", batchID, err)
	}
	now := r.Now()
	switch {
	case rec.Encryption != batchfile.EncryptionOpenPGP:
		return nil, fmt.Errorf("resend %s: %w: it was sent as plain CSV (no partner OpenPGP key), and a plain copy "+
			"would be readable personal data, so none is kept; the orders' personal data is deleted, so the batch cannot be made again",
			batchID, ErrNotRetained)
	case rec.State != StateSent:
		return nil, fmt.Errorf("resend %s: %w: the batch is not sent yet (state %s); send it with `batcher send-now --date`",
			batchID, ErrNotRetained, rec.State)
	case rec.Retention == nil:
		return nil, fmt.Errorf("resend %s: %w: none was recorded when it was sent (retention off, or the copy could not be kept; see the log's batch_not_retained)",
			batchID, ErrNotRetained)
	case !rec.DeletedAt.IsZero() || !now.Before(rec.Retention.Until):
		return nil, fmt.Errorf("resend %s: %w: it was kept until %s (RESEND_WINDOW after sending) and is deleted once the window ends",
			batchID, ErrWindowEnded, rec.Retention.Until.UTC().Format(time.RFC3339))
	}
	lock, ok, err := r.Store.TryLockSending(ctx)
	if err != nil {
		return nil, fmt.Errorf("resend %s: %w", batchID, err)
	}
	if !ok {
		return nil, fmt.Errorf("resend %s: another instance is sending a batch; try again in a minute", batchID)
	}
	defer lock.Release()
	log := r.Log.With().Str("batch_id", batchID).Logger()

	// Check every file on disk against what was sent before anything is
	// uploaded, so that a damaged copy never replaces a file at the partner.
	for _, f := range rec.Retention.Files {
		if err := r.check(batchID, f); err != nil {
			return nil, fmt.Errorf("resend %s: %w", batchID, err)
		}
	}
	c, err := r.Partner.Dial(ctx)
	if err != nil {
		return nil, fmt.Errorf("resend %s: %w", batchID, err)
	}
	defer c.Close()
	if err := c.EnsureDir(); err != nil {
		return nil, fmt.Errorf("resend %s: %w", batchID, err)
	}
	// The data file first and the manifest last, as on the first send: the
	// partner processes a batch once its manifest is there.
	for _, f := range rec.Retention.Files {
		up, err := c.Upload(ctx, f.Name, func(w io.Writer) error {
			rc, err := r.Retainer.Open(batchID, f.Name)
			if err != nil {
				return err
			}
			defer rc.Close()
			_, err = io.Copy(w, rc)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("resend %s: %s: %w", batchID, f.Name, err)
		}
		if up.SHA256 != f.SHA256 || up.Bytes != f.Bytes {
			return nil, fmt.Errorf("resend %s: %s: %w: uploaded sha256 %s, sent %s", batchID, f.Name, ErrRetainedBroken, up.SHA256, f.SHA256)
		}
		log.Info().Str("file", f.Name).Str("sha256", up.SHA256).Int64("bytes", up.Bytes).Msg("file resent and verified at the partner")
	}
	if err := r.Store.RecordResent(context.WithoutCancel(ctx), batchID, rec.Retention.Files); err != nil {
		return nil, fmt.Errorf("resend %s: uploaded, but not recorded: %w", batchID, err)
	}
	log.Info().Time("retained_until", rec.Retention.Until).Msg("batch resent")
	return rec.Retention.Files, nil
}

// check compares a kept file with what was sent.
func (r Resender) check(batchID string, f RetainedFile) error {
	rc, err := r.Retainer.Open(batchID, f.Name)
	if errors.Is(err, ErrNoSuchFile) {
		return fmt.Errorf("%s: %w: it is missing from the retained folder", f.Name, ErrRetainedBroken)
	}
	if err != nil {
		return err
	}
	defer rc.Close()
	h := sha256.New()
	n, err := io.Copy(h, rc)
	if err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != f.SHA256 || n != f.Bytes {
		return fmt.Errorf("%s: %w: sha256 %s, sent %s", f.Name, ErrRetainedBroken, got, f.SHA256)
	}
	return nil
}

// RetentionSweep deletes kept copies whose window has ended (the batcher
// runs it at start-up and every 15 minutes), recording each deletion, and
// anything on disk that no record keeps: what a crash left before its
// batch was recorded, once that batch is sent without it.
type RetentionSweep struct {
	Store    RetentionRecords
	Retainer Retainer
	Now      func() time.Time
	Log      zerolog.Logger
}

// ReasonWindowEnded is the deletion reason of a copy whose window ended.
const ReasonWindowEnded = "resend_window_ended"

// Run sweeps once and returns how many kept copies it deleted.
func (w RetentionSweep) Run(ctx context.Context) (int, error) {
	ended, err := w.Store.RetentionsEnded(ctx, w.Now())
	if err != nil {
		return 0, fmt.Errorf("retention sweep: %w", err)
	}
	deleted := 0
	var errs []error
	for _, rec := range ended {
		// Files first, then the record: a crash between them leaves a
		// record whose files are gone, which the next sweep completes;
		// never a record saying deleted over files still there.
		if err := w.Retainer.Remove(rec.BatchID); err != nil {
			errs = append(errs, fmt.Errorf("retention sweep: batch %s: %w", rec.BatchID, err))
			continue
		}
		ok, err := w.Store.RecordRetainedDeleted(ctx, rec.BatchID, ReasonWindowEnded)
		if err != nil {
			errs = append(errs, fmt.Errorf("retention sweep: batch %s: %w", rec.BatchID, err))
			continue
		}
		if ok {
			deleted++
			w.Log.Info().Str("batch_id", rec.BatchID).Time("retained_until", rec.Retention.Until).
				Msg("resend window ended: the kept encrypted copy is deleted")
		}
	}
	ids, err := w.Retainer.Batches()
	if err != nil {
		errs = append(errs, fmt.Errorf("retention sweep: %w", err))
	}
	for _, id := range ids {
		rec, err := w.Store.RetentionOf(ctx, id)
		switch {
		case errors.Is(err, ErrNotFound):
		case err != nil:
			errs = append(errs, fmt.Errorf("retention sweep: batch %s: %w", id, err))
			continue
		case rec.State != StateSent:
			continue // being sent: its copy is recorded (or removed) with it
		case rec.Retention != nil && rec.DeletedAt.IsZero():
			continue // kept, within its window
		}
		if err := w.Retainer.Remove(id); err != nil {
			errs = append(errs, fmt.Errorf("retention sweep: batch %s: %w", id, err))
			continue
		}
		w.Log.Warn().Str("batch_id", id).Msg("removed encrypted files no record keeps (left by a crash or a deleted copy)")
	}
	return deleted, errors.Join(errs...)
}
