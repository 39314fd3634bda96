package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/go-co-op/gocron/v2"
	"github.com/rs/zerolog"

	"booklets/pkg/adapter/disk"
	"booklets/pkg/adapter/postgres"
	"booklets/pkg/adapter/sftp"
	"booklets/pkg/domain/batchfile"
	"booklets/pkg/stage/endofday"
)

// The settings of the copy kept for a resend (docs/batcher.md, "Resending
// a batch").
const (
	EnvRetainedDir  = "RETAINED_DIR"
	EnvResendWindow = "RESEND_WINDOW"
	// maxResendWindow: a copy is no use once the partner must have deleted
	// the batch (30 working days, at least six weeks), and keeping it
	// longer would only keep personal data, if encrypted, for longer.
	maxResendWindow = 30 * 24 * time.Hour
)

// parseResend returns resend's batch id.
func parseResend(args []string) (string, error) {
	u := usages["resend"]
	switch {
	case len(args) == 0:
		return "", usageError{"resend: which batch? give its id", u}
	case len(args) > 1:
		return "", usageError{fmt.Sprintf("resend: unexpected argument %q", args[1]), u}
	case !batchfile.ValidBatchID(args[0]):
		// A batch id holds no personal data, so it can be repeated.
		return "", usageError{fmt.Sprintf("resend: %q is not a batch id (like B20261125-K7QM2X)", args[0]), u}
	}
	return args[0], nil
}

// resendCommand is `batcher resend BATCH_ID`.
func resendCommand(ctx context.Context, cfg config, log zerolog.Logger, id string, stdout io.Writer) error {
	if cfg.Partner.KeyFile == "" || cfg.Partner.KnownHosts == "" {
		return errors.New("configuration: SFTP_KEY_FILE and SFTP_KNOWN_HOSTS must be set to resend")
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	r := endofday.Resender{Store: st, Retainer: disk.Retained{Dir: cfg.RetainedDir}, Partner: sftp.Outbox{Config: cfg.Partner},
		Now: cfg.Now, Log: log}
	files, err := r.Resend(ctx, id)
	if err != nil {
		return err
	}
	for _, f := range files {
		fmt.Fprintf(stdout, "resent %s (%d bytes, sha256 %s), verified at the partner\n", f.Name, f.Bytes, f.SHA256)
	}
	fmt.Fprintf(stdout, "batch %s resent; the partner's deletion date is unchanged\n", id)
	return nil
}

// retentionSweep deletes the kept copies whose window ended.
func retentionSweep(cfg config, st *postgres.Orders, log zerolog.Logger) endofday.RetentionSweep {
	return endofday.RetentionSweep{Store: st, Retainer: disk.Retained{Dir: cfg.RetainedDir}, Now: cfg.Now, Log: log}
}

// ScheduleRetentionSweep runs the sweep at once (start-up) and then every
// interval, never two at once.
func ScheduleRetentionSweep(ctx context.Context, s gocron.Scheduler, every time.Duration, w endofday.RetentionSweep) (gocron.Job, error) {
	job, err := s.NewJob(gocron.DurationJob(every),
		gocron.NewTask(func() {
			if _, err := w.Run(ctx); err != nil && ctx.Err() == nil {
				w.Log.Error().Err(err).Str("alert", "retained_copy_not_deleted").Msg("retention sweep failed; retrying on the next run")
			}
		}),
		gocron.WithName("retained copy sweep"),
		gocron.WithStartAt(gocron.WithStartImmediately()),
		gocron.WithSingletonMode(gocron.LimitModeReschedule),
		gocron.WithContext(ctx),
	)
	if err != nil {
		return nil, fmt.Errorf("schedule the retained copy sweep: %w", err)
	}
	return job, nil
}
