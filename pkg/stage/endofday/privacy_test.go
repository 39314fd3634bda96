package endofday_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"booklets/pkg/adapter/openpgp"
	"booklets/pkg/adapter/postgres"
	"booklets/pkg/domain/batchfile"
	"booklets/pkg/domain/businessday"
	"booklets/pkg/domain/order"
	"booklets/pkg/domain/seal"
	"booklets/pkg/stage/endofday"
	"booklets/pkg/stage/ingest"
	"booklets/pkg/testkit/batcherday"
	"booklets/pkg/testkit/eventually"
	"booklets/pkg/testkit/testenv"
)

// A sent batch destroys its day's key in the record transaction, with an
// audit entry; the key can then not be had by anyone.
func TestRecordDestroysDayKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.save(newOrder(at("2026-11-25 10:00:00"), person("Ann Example")))
	m := newMetrics()
	res, err := e.Sender(endofday.WithMetrics(m)).SendBatch(context.Background(), date("2026-11-25"))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Deleted.DayKeys) != 1 || res.Deleted.DayKeys[0].Already || res.Deleted.DayKeys[0].KEKID != "test-kek" {
		t.Fatalf("destroyed %+v", res.Deleted.DayKeys)
	}
	if n := e.Count(`SELECT count(*) FROM day_keys WHERE business_date = '2026-11-25' AND wrapped IS NULL AND destroyed_at IS NOT NULL`); n != 1 {
		t.Error("day key row not destroyed")
	}
	if n := e.Count(`SELECT count(*) FROM audit_log WHERE kind = 'day_key_destroyed' AND batch_id = $1
		AND details->>'business_date' = '2026-11-25' AND details->>'kek_id' = 'test-kek'`, res.Batch.ID); n != 1 {
		t.Errorf("%d day_key_destroyed audit entries", n)
	}
	other := postgres.NewDayKeys(e.Store.Pool(), e.Ring) // another process, no cache
	if _, err := other.Get(context.Background(), date("2026-11-25")); !errors.Is(err, seal.ErrKeyDestroyed) {
		t.Errorf("Get after destruction: %v", err)
	}
	if got := m.value("day_keys_destroyed_total"); got != 1 {
		t.Errorf("day_keys_destroyed_total = %v", got)
	}
}

// Tampered ciphertext stops the whole batch before any final name exists
// at the partner and leaves no partial (plaintext when PGP is off) upload
// behind either, raises an alert naming batch and reference only, counts
// it, and keeps every order's data.
func TestTamperedCiphertextStopsTheBatch(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	good := newOrder(at("2026-11-25 09:00:00"), person("Gwen Goodrow"))
	bad := newOrder(at("2026-11-25 10:00:00"), person("Tobias Tamperly"))
	e.save(good)
	e.save(bad)
	if _, err := e.Store.Pool().Exec(context.Background(),
		`UPDATE order_personal SET data = overlay(data placing '\xff'::bytea from length(data) - 3 for 1) WHERE order_id = $1`, bad.ID); err != nil {
		t.Fatal(err)
	}
	var logs testenv.Buffer
	m := newMetrics()
	_, err := e.Sender(endofday.WithLogger(zerolog.New(&logs)), endofday.WithMetrics(m)).SendBatch(context.Background(), date("2026-11-25"))
	if !errors.Is(err, endofday.ErrSealedRejected) || !errors.Is(err, seal.ErrTampered) {
		t.Fatalf("SendBatch = %v, want ErrSealedRejected (tampered)", err)
	}
	// e.files lists hidden files too: the upload in progress, with the
	// rows before the tampered one, must be gone as well.
	if names := e.files(); len(names) != 0 {
		t.Errorf("files at the partner after a failed batch (hidden ones included): %v", names)
	}
	if n := e.Count(`SELECT count(*) FROM order_personal`); n != 2 {
		t.Errorf("%d personal parts kept, want 2", n)
	}
	if n := e.Count(`SELECT count(*) FROM day_keys WHERE wrapped IS NOT NULL`); n != 1 {
		t.Error("day key destroyed although nothing was sent")
	}
	if n := e.Count(`SELECT count(*) FROM batches WHERE state = 'assembling' AND attempts = 1`); n != 1 {
		t.Error("failed attempt not recorded")
	}
	out := logs.String()
	if !strings.Contains(out, `"alert":"sealed_data_rejected"`) || !strings.Contains(out, bad.Reference.String()) {
		t.Errorf("no alert naming the reference: %s", out)
	}
	for _, pii := range []string{"Goodrow", "Tamperly", "High Street", "CT1 1AA"} {
		if strings.Contains(out, pii) {
			t.Errorf("log holds %q", pii)
		}
	}
	if got := m.value("sealed_data_rejected_total"); got != 1 {
		t.Errorf("sealed_data_rejected_total = %v", got)
	}
}

// A destroyed day key also stops the batch (its orders cannot be opened);
// nothing is sent and the data is kept for an operator to look at.
func TestDestroyedDayKeyStopsTheBatch(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.save(newOrder(at("2026-11-25 09:00:00"), person("Dora Destroyed")))
	ctx := context.Background()
	tx, err := e.Store.Pool().Begin(ctx)
	testenv.Must(t, err)
	_, err = e.Keys.Destroy(ctx, tx, date("2026-11-25"))
	testenv.Must(t, err)
	testenv.Must(t, tx.Commit(ctx))
	_, err = e.Sender().SendBatch(ctx, date("2026-11-25"))
	if !errors.Is(err, endofday.ErrSealedRejected) || !errors.Is(err, seal.ErrKeyDestroyed) {
		t.Fatalf("SendBatch = %v", err)
	}
	if names := e.files(); len(names) != 0 {
		t.Errorf("files at the partner (hidden ones included): %v", names)
	}
}

// KEK rotation: day keys wrapped by the old KEK still open once a new KEK
// is current (the old one kept); with the old KEK removed they cannot be
// unwrapped and the batch stops with an error naming the KEK id; a wrong
// key under the right id is refused as tampered.
func TestKEKRotation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	oldEntry := testenv.KEKEntry("2026a")
	oldRing, err := seal.ParseRing(oldEntry)
	testenv.Must(t, err)

	for _, c := range []struct {
		name string
		ring string
		want error
	}{
		{"rotated", testenv.KEKEntry("2026b") + "," + oldEntry, nil},
		{"old removed", testenv.KEKEntry("2026b"), seal.ErrUnknownKEK},
		{"wrong key", testenv.KEKEntry("2026a"), seal.ErrTampered},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.Keys = postgres.NewDayKeys(e.Store.Pool(), oldRing) // the intake sealed under the old KEK
			e.save(newOrder(at("2026-11-25 09:00:00"), person("Rory Rotation")))
			ring, err := seal.ParseRing(c.ring)
			testenv.Must(t, err)
			e.Keys = postgres.NewDayKeys(e.Store.Pool(), ring) // the batcher restarted with the new ring
			res, err := e.Sender().SendBatch(ctx, date("2026-11-25"))
			if c.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				if len(res.Deleted.DayKeys) != 1 || res.Deleted.DayKeys[0].KEKID != "2026a" {
					t.Errorf("destroyed %+v", res.Deleted.DayKeys)
				}
				return
			}
			if !errors.Is(err, c.want) || !errors.Is(err, endofday.ErrSealedRejected) {
				t.Fatalf("SendBatch = %v, want %v", err, c.want)
			}
			if !strings.Contains(err.Error(), "2026a") {
				t.Errorf("error does not name the KEK id: %v", err)
			}
			if names := e.files(); len(names) != 0 {
				t.Errorf("something was left at the partner (hidden files included): %v", names)
			}
		})
	}
}

// An order of a day whose batch is already assembled (in flight while the
// day closed, or sealed by an intake still holding the key in its cache)
// is dead-lettered with an alert, never stored into a later batch nor
// dropped.
func TestLateOrderIsDeadLettered(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e.save(newOrder(at("2026-11-25 09:00:00"), person("Early Bird")))
	late := e.Seal(newOrder(at("2026-11-25 22:59:00"), person("Lena Late"))) // sealed before the key went
	if _, err := e.Sender().SendBatch(ctx, date("2026-11-25")); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Store.SaveOrder(ctx, late); !errors.Is(err, postgres.ErrLate) {
		t.Fatalf("SaveOrder of a late order = %v", err)
	}

	orders := testenv.Orders(t)
	cfg := orders.Config()
	if _, err := orders.Publish(ctx, late, "late"); err != nil {
		t.Fatal(err)
	}
	var logs testenv.Buffer
	m := newMetrics()
	c := ingest.NewConsumer(orders, ingest.ConsumerConfig{Stream: cfg.Stream, Subject: cfg.Subject},
		e.Store, businessday.DefaultCutoff, e.Now, zerolog.New(&logs), m)
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	js := testenv.JetStream(t)
	eventually.Within(t, 20*time.Second, "late order dead-lettered", func(ctx context.Context) error {
		if n, p := e.Count(`SELECT count(*) FROM dead_letters`), batcherday.Pending(t, ctx, js, cfg.Stream); n < 1 || p > 0 {
			return fmt.Errorf("%d dead letters, %d pending", n, p)
		}
		return nil
	})
	cancel()
	<-done
	if n := e.Count(`SELECT count(*) FROM dead_letters WHERE reason LIKE '%' || $1 || '%arrived after%' AND data IS NOT NULL`, late.Reference.String()); n != 1 {
		t.Error("no dead letter naming the late order")
	}
	if n := e.Count(`SELECT count(*) FROM orders WHERE order_id = $1`, late.ID); n != 0 {
		t.Error("late order stored as an order")
	}
	if !strings.Contains(logs.String(), `"alert":"late_order"`) || strings.Contains(logs.String(), "Lena") {
		t.Errorf("logs: %s", logs.String())
	}
	if got := m.value("late_orders_total"); got != 1 {
		t.Errorf("late_orders_total = %v", got)
	}
}

// The race to close: an order of the day still in the stream holds the
// batch back (bounded, with a clear error) until the consumer has stored
// it; then the batch includes it.
func TestBatchWaitsForTheConsumer(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	orders := testenv.Orders(t)
	cfg := orders.Config()
	o := newOrder(at("2026-11-25 22:58:00"), person("Ivy Inflight"))
	if _, err := orders.Publish(ctx, e.Seal(o), "inflight"); err != nil {
		t.Fatal(err)
	}
	m := newMetrics()
	c := ingest.NewConsumer(orders, ingest.ConsumerConfig{Stream: cfg.Stream, Subject: cfg.Subject,
		CatchUpTimeout: 300 * time.Millisecond}, e.Store, businessday.DefaultCutoff, e.Now, zerolog.Nop(), m)
	s := e.Sender(endofday.WithCatchUp(c.WaitCaughtUp), endofday.WithMetrics(m))
	_, err := s.SendBatch(ctx, date("2026-11-25"))
	if !errors.Is(err, ingest.ErrNotCaughtUp) {
		t.Fatalf("SendBatch with an order in flight = %v", err)
	}
	if n := e.Count(`SELECT count(*) FROM batches`); n != 0 {
		t.Error("batch assembled while an order was in flight")
	}
	if n := e.Count(`SELECT count(*) FROM day_keys WHERE wrapped IS NOT NULL`); n != 1 {
		t.Error("day key destroyed")
	}
	// An order of the next day in the stream does not hold the batch back.
	next := newOrder(at("2026-11-25 23:30:00"), person("Ned Nextday"))
	if _, err := orders.Publish(ctx, e.Seal(next), "next"); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() { cancel(); <-done }()
	res, err := e.Sender(endofday.WithCatchUp(func(ctx context.Context, d businessday.Date) error {
		// the bounded wait, generously, for the consumer just started
		deadline := time.Now().Add(20 * time.Second)
		for {
			err := c.WaitCaughtUp(ctx, d)
			if err == nil || time.Now().After(deadline) {
				return err
			}
		}
	})).SendBatch(ctx, date("2026-11-25"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Batch.OrderCount != 1 {
		t.Errorf("batch has %d orders, want the one in flight", res.Batch.OrderCount)
	}
}

// With the partner's OpenPGP key the file sent is *.csv.gpg, the manifest
// has the checksum of the bytes sent and the key's fingerprint, and GnuPG
// (the partner's tool) decrypts it to the CSV.
func TestPGPFileDecryptsWithGnuPG(t *testing.T) {
	t.Parallel()
	run, rec := gnuPG(t)

	e := newEnv(t)
	o := newOrder(at("2026-11-25 10:00:00"), person("Petra Pretty-Good"), order.Braille, order.Audio)
	e.save(o)
	res, err := e.pgpSender(rec).SendBatch(context.Background(), date("2026-11-25"))
	if err != nil {
		t.Fatal(err)
	}
	rows, mf := decryptAtPartner(t, e, run, res.Batch)
	if mf.RecipientFingerprint != rec.Fingerprint() || mf.RecordCount != 2 {
		t.Errorf("manifest %+v", mf)
	}
	if fpr := run("--with-colons", "--fingerprint", "pgp@partner.example"); !bytes.Contains(fpr, []byte(mf.RecipientFingerprint)) {
		t.Errorf("manifest fingerprint %s is not gpg's", mf.RecipientFingerprint)
	}
	if len(rows) != 3 || rows[1][0] != o.Reference.String() || rows[1][4] != "Petra Pretty-Good" || rows[2][3] != "audio" {
		t.Errorf("decrypted rows %q", rows)
	}
	if n := e.Count(`SELECT count(*) FROM order_personal`); n != 0 {
		t.Error("personal data kept after a verified encrypted upload")
	}
}

// gnuPG makes a GnuPG home with the partner's key pair, and returns a
// runner of gpg in it and the partner's public key as PARTNER_PGP_KEY_FILE
// gives it to the batcher.
func gnuPG(t *testing.T) (func(args ...string) []byte, *openpgp.Recipient) {
	t.Helper()
	gpg, err := exec.LookPath("gpg")
	if err != nil {
		t.Skip("gpg is not installed (apt-get install gnupg)")
	}
	home := t.TempDir()
	testenv.Must(t, os.Chmod(home, 0o700))
	run := func(args ...string) []byte {
		t.Helper()
		cmd := exec.Command(gpg, append([]string{"--batch", "--no-tty", "--quiet"}, args...)...)
		cmd.Env = append(os.Environ(), "GNUPGHOME="+home)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("gpg %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
		}
		return out
	}
	t.Cleanup(func() {
		cmd := exec.Command("gpgconf", "--kill", "gpg-agent")
		cmd.Env = append(os.Environ(), "GNUPGHOME="+home)
		_ = cmd.Run()
	})
	run("--passphrase", "", "--quick-generate-key", "Print Partner <pgp@partner.example>", "future-default", "default", "never")
	keyFile := filepath.Join(t.TempDir(), "partner.asc")
	testenv.Must(t, os.WriteFile(keyFile, run("--armor", "--export", "pgp@partner.example"), 0o600))
	rec, err := openpgp.LoadRecipient(keyFile, time.Now)
	testenv.Must(t, err)
	return run, rec
}

// decryptAtPartner checks a batch sent encrypted as the partner would
// (docs/partner-interface.md): a *.csv.gpg file with no plaintext in it,
// the manifest's checksum of the bytes sent and "encryption": "openpgp",
// then gpg --decrypt. It returns the CSV's rows and the manifest.
func decryptAtPartner(t *testing.T, e *env, run func(args ...string) []byte, b endofday.Batch) ([][]string, batchfile.Manifest) {
	t.Helper()
	if !strings.HasSuffix(b.DataFile, ".csv.gpg") || b.Encryption != batchfile.EncryptionOpenPGP {
		t.Fatalf("data file %s, encryption %q", b.DataFile, b.Encryption)
	}
	enc, err := os.ReadFile(e.Server.Path("outbox", b.DataFile))
	testenv.Must(t, err)
	if bytes.Contains(enc, []byte("CT1 1AA")) || bytes.Contains(enc, []byte("Canterbury")) {
		t.Fatal("the file sent holds plaintext")
	}
	mraw, err := os.ReadFile(e.Server.Path("outbox", b.ManifestFile))
	testenv.Must(t, err)
	mf, err := batchfile.ParseManifest(mraw)
	testenv.Must(t, err)
	sum := sha256.Sum256(enc)
	if mf.SHA256 != hex.EncodeToString(sum[:]) || mf.SHA256 != b.SHA256 || mf.Bytes != int64(len(enc)) ||
		mf.DataFile != b.DataFile || mf.Encryption != "openpgp" || mf.RecipientFingerprint == "" {
		t.Errorf("manifest %+v, file sha256 %x", mf, sum)
	}
	out := filepath.Join(t.TempDir(), strings.TrimSuffix(b.DataFile, ".gpg"))
	run("--pinentry-mode", "loopback", "--passphrase", "", "--output", out, "--decrypt", e.Server.Path("outbox", b.DataFile))
	plain, err := os.ReadFile(out)
	testenv.Must(t, err)
	rows, err := csv.NewReader(bytes.NewReader(plain)).ReadAll()
	testenv.Must(t, err)
	return rows, mf
}

// Encryption is decided once, when a batch is assembled (issue 20). A batch
// assembled to be encrypted, whose run stopped before the upload, resumed
// by a batcher without the partner's key (plain CSV allowed) stops: nothing
// reaches the partner (no plain file under its .csv.gpg name), nothing is
// recorded as sent, the personal data and the day key are kept, and the
// alert is raised. A batcher with the key then sends it, and GnuPG
// decrypts it. The other way round (assembled plain, resumed with a key)
// stops too, and a sender told neither way (or both) assembles nothing.
func TestResumeHonoursEncryptionDecidedAtAssembly(t *testing.T) {
	t.Parallel()
	run, rec := gnuPG(t)
	e := newEnv(t)
	ctx := context.Background()
	o := newOrder(at("2026-11-25 10:00:00"), person("Resumed Later"), order.Braille)
	e.save(o)
	_, err := e.pgpSender(rec, endofday.WithFault(func(step string, _ int64) error {
		if step == endofday.StepBeforeUpload {
			return errCrash
		}
		return nil
	})).SendBatch(ctx, date("2026-11-25"))
	if !errors.Is(err, errCrash) {
		t.Fatalf("first run: %v", err)
	}
	b, err := e.Store.BatchFor(ctx, date("2026-11-25"))
	testenv.Must(t, err)
	if b.State != postgres.StateAssembling || b.Encryption != batchfile.EncryptionOpenPGP || !strings.HasSuffix(b.DataFile, ".csv.gpg") {
		t.Fatalf("assembled %+v", b)
	}

	var logs bytes.Buffer
	m := newMetrics()
	_, err = e.Sender(endofday.WithLogger(zerolog.New(&logs)), endofday.WithMetrics(m)).SendBatch(ctx, date("2026-11-25"))
	if !errors.Is(err, endofday.ErrEncryptionMismatch) || !strings.Contains(err.Error(), "PARTNER_PGP_KEY_FILE") {
		t.Fatalf("resumed without the key: %v, want ErrEncryptionMismatch naming the setting", err)
	}
	if got := e.files(); len(got) != 0 {
		t.Errorf("files at the partner %v, want none", got)
	}
	after, err := e.Store.BatchFor(ctx, date("2026-11-25"))
	testenv.Must(t, err)
	// Two failed attempts: the crash and the refused resume.
	if after.State != postgres.StateAssembling || after.Attempts != 2 || after.ID != b.ID {
		t.Errorf("batch after the refused resume %+v", after)
	}
	if n := e.Count(`SELECT count(*) FROM order_personal`); n != 1 {
		t.Error("personal data deleted though nothing was sent")
	}
	if n := e.Count(`SELECT count(*) FROM day_keys WHERE destroyed_at IS NULL`); n != 1 {
		t.Error("day key destroyed though nothing was sent")
	}
	if n := e.Count(`SELECT count(*) FROM audit_log WHERE kind = 'batch_sent'`); n != 0 {
		t.Error("recorded as sent")
	}
	if !strings.Contains(logs.String(), `"alert":"batch_not_sent"`) || !strings.Contains(logs.String(), `"encryption":"openpgp"`) ||
		m.value("batch_failures_total") != 1 {
		t.Errorf("no alert naming the batch's encryption: %s", logs.String())
	}

	// With the key it goes, encrypted, and the partner decrypts it.
	res, err := e.pgpSender(rec).SendBatch(ctx, date("2026-11-25"))
	testenv.Must(t, err)
	rows, _ := decryptAtPartner(t, e, run, res.Batch)
	if len(rows) != 2 || rows[1][0] != o.Reference.String() || rows[1][4] != "Resumed Later" {
		t.Errorf("decrypted rows %q", rows)
	}
	if n := e.Count(`SELECT count(*) FROM audit_log WHERE kind = 'batch_sent' AND details->>'encryption' = 'openpgp'`); n != 1 {
		t.Error("the audit entry does not say the batch was encrypted")
	}

	// Assembled plain, resumed with a key: stops too.
	e.save(newOrder(at("2026-11-26 10:00:00"), person("Plain Day"), order.Braille))
	_, err = e.Sender(endofday.WithFault(func(step string, _ int64) error {
		if step == endofday.StepBeforeUpload {
			return errCrash
		}
		return nil
	})).SendBatch(ctx, date("2026-11-26"))
	if !errors.Is(err, errCrash) {
		t.Fatalf("first run of the 26th: %v", err)
	}
	before := e.files()
	if _, err := e.pgpSender(rec).SendBatch(ctx, date("2026-11-26")); !errors.Is(err, endofday.ErrEncryptionMismatch) {
		t.Errorf("plain batch resumed with a key: %v, want ErrEncryptionMismatch", err)
	}
	if got := e.files(); len(got) != len(before) || e.Count(`SELECT count(*) FROM order_personal`) != 1 {
		t.Errorf("files %v (before %v) or personal data changed", got, before)
	}

	// Told neither way, or both: nothing assembled.
	e.save(newOrder(at("2026-11-27 10:00:00"), person("Not Yet"), order.Braille))
	for name, s := range map[string]*endofday.Sender{
		"neither": e.NewSender(),
		"both":    e.NewSender(endofday.WithRecipient(rec), endofday.WithPlaintext()),
	} {
		if _, err := s.SendBatch(ctx, date("2026-11-27")); !errors.Is(err, endofday.ErrEncryptionConfig) {
			t.Errorf("%s: %v, want ErrEncryptionConfig", name, err)
		}
	}
	if _, err := e.Store.BatchFor(ctx, date("2026-11-27")); !errors.Is(err, postgres.ErrNotFound) {
		t.Errorf("a batch was assembled without a decided encryption: %v", err)
	}
}

// An encrypted batch cannot be written again byte for byte, so a run that
// finds the partner already holding it complete (a crash after the
// manifest, before it was recorded) checks the manifest against the batch
// (id, file, counts, the data file's checksum) and records it without
// sending it again; a manifest that does not match is left for an
// operator.
func TestEncryptedBatchAlreadyAtThePartner(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	rec := testRecipient(t)
	for i := range 3 {
		e.save(newOrder(at("2026-11-25 10:00:00").Add(time.Duration(i)*time.Second), person("Person"), order.Braille, order.Audio))
	}
	// crashAfterUpload sends a day's batch and crashes once both files are
	// at the partner, before the batch is marked uploaded.
	crashAfterUpload := func(day string) postgres.Batch {
		t.Helper()
		_, err := e.pgpSender(rec, endofday.WithFault(func(step string, _ int64) error {
			if step == endofday.StepAfterUpload {
				return errCrash
			}
			return nil
		})).SendBatch(ctx, date(day))
		if !errors.Is(err, errCrash) {
			t.Fatalf("first run for %s: %v", day, err)
		}
		b, err := e.Store.BatchFor(ctx, date(day))
		testenv.Must(t, err)
		return b
	}
	b := crashAfterUpload("2026-11-25")
	sent, err := os.ReadFile(e.Server.Path("outbox", b.DataFile))
	testenv.Must(t, err)

	res, err := e.pgpSender(rec).SendBatch(ctx, date("2026-11-25"))
	testenv.Must(t, err)
	again, err := os.ReadFile(e.Server.Path("outbox", b.DataFile))
	testenv.Must(t, err)
	if !bytes.Equal(again, sent) {
		t.Error("the data file was sent again")
	}
	if r := res.Batch; r.State != postgres.StateSent || r.OrderCount != 3 || r.RecordCount != 6 || r.ID != b.ID {
		t.Errorf("recorded batch %+v", r)
	}

	// The same crash, then the manifest's counts changed at the partner.
	e.save(newOrder(at("2026-11-26 10:00:00"), person("Other"), order.Braille))
	b26 := crashAfterUpload("2026-11-26")
	mpath := e.Server.Path("outbox", b26.ManifestFile)
	raw, err := os.ReadFile(mpath)
	testenv.Must(t, err)
	m, err := batchfile.ParseManifest(raw)
	testenv.Must(t, err)
	m.RecordCount = 2
	changed, err := m.Marshal()
	testenv.Must(t, err)
	testenv.Must(t, os.WriteFile(mpath, changed, 0o644))
	if _, err := e.pgpSender(rec).SendBatch(ctx, date("2026-11-26")); !errors.Is(err, endofday.ErrPartnerMismatch) {
		t.Errorf("a manifest with other counts: %v, want ErrPartnerMismatch", err)
	}
	if n := e.Count(`SELECT count(*) FROM order_personal`); n != 1 {
		t.Errorf("%d personal parts held, want the unsent order's", n)
	}
}

// testRecipient is a partner OpenPGP key made for the test.
func testRecipient(t *testing.T) *openpgp.Recipient {
	t.Helper()
	k, err := openpgp.NewKeyPair("Print Partner", "", "pgp@partner.example")
	testenv.Must(t, err)
	rec, err := k.Recipient()
	testenv.Must(t, err)
	return rec
}
