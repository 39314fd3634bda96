package endofday_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"booklets/pkg/adapter/disk"
	"booklets/pkg/adapter/postgres"
	"booklets/pkg/adapter/sftp"
	"booklets/pkg/domain/order"
	"booklets/pkg/stage/endofday"
	"booklets/pkg/testkit/testenv"
)

// The personal data of the retention tests' order: none of it may be on
// the batcher's disk in clear, ever.
var retainedPerson = order.Personal{Name: "Xanthe Quibbleworth", AddressLine1: "9 Zephyr Row", Town: "Quernmore", Postcode: "LA2 9QQ"}

// keptFiles reads every file under dir (hidden ones too) and fails if one
// holds any of the personal data in clear.
func keptFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	testenv.Must(t, filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, s := range []string{retainedPerson.Name, retainedPerson.AddressLine1, retainedPerson.Town, retainedPerson.Postcode} {
			if bytes.Contains(bytes.ToLower(b), bytes.ToLower([]byte(s))) {
				t.Errorf("%s holds personal data in clear", p)
			}
		}
		rel, _ := filepath.Rel(dir, p)
		files[rel] = b
		return nil
	}))
	return files
}

func sha(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// A batcher killed between a verified upload and the record that keeps its
// copy leaves only ciphertext on its disk, and nothing recorded as kept;
// the sweep leaves a batch being sent alone; the next run records the
// batch sent with the copy retained (in the same transaction, with its
// audit entry), and the copy is byte for byte what the partner has. The
// crash is at each step from the middle of the upload to just before the
// record.
func TestRetainedCopySurvivesACrashBetweenUploadAndRecord(t *testing.T) {
	t.Parallel()
	for _, step := range []string{endofday.StepMidUpload, endofday.StepAfterData, endofday.StepAfterUpload, endofday.StepBeforeRecord} {
		t.Run(step, func(t *testing.T) {
			t.Parallel()
			gpg, rec := gnuPG(t)
			e := newEnv(t)
			ctx := context.Background()
			e.save(newOrder(at("2026-11-25 10:00:00"), retainedPerson, order.Braille, order.Audio))
			dir := t.TempDir()
			retainer := disk.Retained{Dir: dir}
			_, err := e.pgpSender(rec, endofday.WithRetention(retainer, 7*24*time.Hour), endofday.WithFault(func(s string, _ int64) error {
				if s == step {
					return errCrash
				}
				return nil
			})).SendBatch(ctx, date("2026-11-25"))
			if !errors.Is(err, errCrash) {
				t.Fatalf("first run: %v", err)
			}
			keptFiles(t, dir)
			if n := e.Count(`SELECT count(*) FROM batch_retention`); n != 0 {
				t.Fatalf("%d copies recorded kept before the batch is recorded sent", n)
			}
			sweep := endofday.RetentionSweep{Store: e.Store, Retainer: retainer, Now: e.Now, Log: zerolog.Nop()}
			_, err = sweep.Run(ctx)
			testenv.Must(t, err)

			res, err := e.pgpSender(rec, endofday.WithRetention(retainer, 7*24*time.Hour)).SendBatch(ctx, date("2026-11-25"))
			testenv.Must(t, err)
			b := res.Batch
			if b.State != postgres.StateSent {
				t.Fatalf("batch %+v", b)
			}
			rows, _ := decryptAtPartner(t, e, gpg, b)
			if len(rows) != 3 || rows[1][4] != retainedPerson.Name {
				t.Fatalf("partner's rows %q", rows)
			}
			files := keptFiles(t, dir)
			partnerData, err := os.ReadFile(e.Server.Path("outbox", b.DataFile))
			testenv.Must(t, err)
			partnerManifest, err := os.ReadFile(e.Server.Path("outbox", b.ManifestFile))
			testenv.Must(t, err)
			if len(files) != 2 || sha(files[filepath.Join(b.ID, b.DataFile)]) != sha(partnerData) || sha(partnerData) != b.SHA256 ||
				!bytes.Equal(files[filepath.Join(b.ID, b.ManifestFile)], partnerManifest) {
				t.Fatalf("kept %d files, not the partner's copy", len(files))
			}
			r, err := e.Store.RetentionOf(ctx, b.ID)
			testenv.Must(t, err)
			want := e.Now().UTC().Add(7 * 24 * time.Hour)
			if r.Retention == nil || !r.Retention.Until.Equal(want) || len(r.Retention.Files) != 2 ||
				r.Retention.Files[0].Name != b.DataFile || r.Retention.Files[1].Name != b.ManifestFile {
				t.Fatalf("retention %+v, want until %s", r.Retention, want)
			}
			if n := e.Count(`SELECT count(*) FROM audit_log WHERE kind = 'batch_retained' AND batch_id = $1
				AND details->>'sha256' = $2`, b.ID, b.SHA256); n != 1 {
				t.Fatalf("%d batch_retained entries", n)
			}
		})
	}
}

// Plain CSV is never kept: the sender with retention keeps nothing, and a
// resend says why.
func TestPlainCSVIsNotRetained(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	e.save(newOrder(at("2026-11-25 10:00:00"), retainedPerson))
	dir := t.TempDir()
	retainer := disk.Retained{Dir: dir}
	res, err := e.Sender(endofday.WithRetention(retainer, time.Hour)).SendBatch(ctx, date("2026-11-25"))
	testenv.Must(t, err)
	if files := keptFiles(t, dir); len(files) != 0 {
		t.Fatalf("kept %v", files)
	}
	r := endofday.Resender{Store: e.Store, Retainer: retainer, Partner: sftp.Outbox{Config: e.SFTP}, Now: e.Now, Log: zerolog.Nop()}
	_, err = r.Resend(ctx, res.Batch.ID)
	if !errors.Is(err, endofday.ErrNotRetained) || !strings.Contains(err.Error(), "plain CSV") {
		t.Fatalf("resend: %v", err)
	}
	if n := e.Count(`SELECT count(*) FROM audit_log WHERE kind IN ('batch_retained', 'batch_resent')`); n != 0 {
		t.Fatalf("%d retention entries", n)
	}
}

// The sweep deletes a copy once its window has ended, and records that
// once; it leaves a copy within its window and the files of a batch still
// being sent, and removes files no record keeps. A resend checks the copy
// before uploading anything: a damaged one is refused and the partner's
// folder is untouched; an ended window is refused with its date.
func TestSweepAndResendRefusals(t *testing.T) {
	t.Parallel()
	_, rec := gnuPG(t)
	e := newEnv(t)
	ctx := context.Background()
	dir := t.TempDir()
	retainer := disk.Retained{Dir: dir}
	e.save(newOrder(at("2026-11-24 10:00:00"), retainedPerson))
	e.save(newOrder(at("2026-11-25 10:00:00"), retainedPerson))
	s := e.pgpSender(rec, endofday.WithRetention(retainer, 48*time.Hour))
	e.SetNow(at("2026-11-24 23:05:00"))
	first, err := s.SendBatch(ctx, date("2026-11-24"))
	testenv.Must(t, err)
	e.SetNow(at("2026-11-25 23:05:00"))
	second, err := s.SendBatch(ctx, date("2026-11-25"))
	testenv.Must(t, err)
	// A batch being sent (assembled, its copy being written) and files of
	// a batch this database never made.
	e.save(newOrder(at("2026-11-26 10:00:00"), retainedPerson))
	_, err = e.pgpSender(rec, endofday.WithRetention(retainer, 48*time.Hour), endofday.WithFault(func(step string, _ int64) error {
		if step == endofday.StepAfterUpload {
			return errCrash
		}
		return nil
	})).SendBatch(ctx, date("2026-11-26"))
	if !errors.Is(err, errCrash) {
		t.Fatalf("third batch: %v", err)
	}
	third, err := e.Store.BatchFor(ctx, date("2026-11-26"))
	testenv.Must(t, err)
	testenv.Must(t, os.MkdirAll(filepath.Join(dir, "B20200101-AAAAAA"), 0o700))
	testenv.Must(t, os.WriteFile(filepath.Join(dir, "B20200101-AAAAAA", "x.csv.gpg"), []byte("old"), 0o600))

	// 26 Nov 23:05 + 1 h: the first batch's window (to 26 Nov 23:05) has ended.
	e.SetNow(at("2026-11-27 00:05:00"))
	sweep := endofday.RetentionSweep{Store: e.Store, Retainer: retainer, Now: e.Now, Log: zerolog.Nop()}
	n, err := sweep.Run(ctx)
	testenv.Must(t, err)
	if n != 1 {
		t.Fatalf("deleted %d copies", n)
	}
	ids, err := retainer.Batches()
	testenv.Must(t, err)
	if strings.Join(ids, " ") != second.Batch.ID+" "+third.ID {
		t.Fatalf("left %v; want the second batch's and the one being sent", ids)
	}
	if n, err := sweep.Run(ctx); err != nil || n != 0 {
		t.Fatalf("second sweep: %d %v", n, err)
	}
	if n := e.Count(`SELECT count(*) FROM audit_log WHERE kind = 'retained_copy_deleted' AND batch_id = $1
		AND details->>'reason' = 'resend_window_ended'`, first.Batch.ID); n != 1 {
		t.Fatalf("%d retained_copy_deleted entries", n)
	}

	r := endofday.Resender{Store: e.Store, Retainer: retainer, Partner: sftp.Outbox{Config: e.SFTP}, Now: e.Now, Log: zerolog.Nop()}
	_, err = r.Resend(ctx, first.Batch.ID)
	if !errors.Is(err, endofday.ErrWindowEnded) || !strings.Contains(err.Error(), "2026-11-26T23:05:00Z") {
		t.Fatalf("resend after the window: %v", err)
	}
	_, err = r.Resend(ctx, third.ID)
	if !errors.Is(err, endofday.ErrNotRetained) || !strings.Contains(err.Error(), "not sent yet") {
		t.Fatalf("resend of a batch not sent: %v", err)
	}
	// The second batch's kept data file, damaged on our disk.
	kept := filepath.Join(dir, second.Batch.ID, second.Batch.DataFile)
	b, err := os.ReadFile(kept)
	testenv.Must(t, err)
	b[len(b)/2] ^= 1
	testenv.Must(t, os.WriteFile(kept, b, 0o600))
	testenv.Must(t, os.Remove(e.Server.Path("outbox", second.Batch.DataFile)))
	_, err = r.Resend(ctx, second.Batch.ID)
	if !errors.Is(err, endofday.ErrRetainedBroken) {
		t.Fatalf("resend of a damaged copy: %v", err)
	}
	if _, err := os.Stat(e.Server.Path("outbox", second.Batch.DataFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a damaged copy reached the partner: %v", err)
	}
	if n := e.Count(`SELECT count(*) FROM audit_log WHERE kind = 'batch_resent'`); n != 0 {
		t.Fatalf("%d batch_resent entries for refused resends", n)
	}
}
