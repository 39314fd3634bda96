package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/csv"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"booklets/pkg/adapter/postgres"
	"booklets/pkg/domain/businessday"
	"booklets/pkg/domain/order"
	"booklets/pkg/domain/reference"
	"booklets/pkg/domain/seal"
	"booklets/pkg/testkit/partnersim"
	"booklets/pkg/testkit/testenv"
)

// The "finish or safely abandon an in-flight batch", at the level
// of the process: the built batcher, in demo mode, starts sending a closed
// day of sigtermOrders sealed orders (large enough that the upload lasts
// well beyond SHUTDOWN_TIMEOUT) and gets SIGTERM as soon as the partner's
// folder shows the hidden temporary data file. It must exit 0 within
// SHUTDOWN_TIMEOUT (plus NATS drain and HTTP shutdown), leave nothing at
// the partner under a final name unless the batch was recorded (and no
// partial file at all: it would hold plaintext rows), and keep the personal
// data and the day key if the batch was not sent. A new batcher must then
// send the same batch (same id) exactly once, every order in the file
// exactly once, and delete the personal data.
func TestSIGTERMDuringUpload(t *testing.T) {
	t.Parallel()
	const (
		sigtermOrders   = 200_000
		shutdownTimeout = 300 * time.Millisecond // the upload alone takes about 1 s here
		// A simulated hour (the catch-up interval) is 2.5 s; the next
		// cut-off is about 23.5 simulated hours (some 58 s) after the
		// batcher starts, later than this test needs.
		demoDay = time.Minute
	)
	bin := buildServices(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// The clerk is off: the partner's folder is left as the batcher left it.
	sim, err := partnersim.Start(partnersim.Config{Addr: "127.0.0.1:0", Dir: t.TempDir(), NoClerk: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })

	// The cut-off is put 30 minutes (rounded down to the minute) before
	// now, so that the day it closed is the one the batcher sends on its
	// first run, whatever the time of day the test runs at.
	now := time.Now()
	cutoff, err := businessday.ParseCutoff(now.Add(-30 * time.Minute).In(businessday.London()).Format("15:04"))
	if err != nil {
		t.Fatal(err)
	}
	day := cutoff.LastClosed(now)

	dbURL := testenv.Database(t)
	st, err := postgres.OpenOrders(ctx, dbURL, nil)
	testenv.Must(t, err)
	defer st.Close()
	testenv.Must(t, st.Migrate(ctx))
	kek := make([]byte, seal.KeySize)
	rand.Read(kek)
	kekEntry := "sig1:" + base64.StdEncoding.EncodeToString(kek)
	ring, err := seal.ParseRing(kekEntry)
	testenv.Must(t, err)
	refs := seedSealed(ctx, t, st, postgres.NewDayKeys(st.Pool(), ring), day, cutoff, sigtermOrders)

	sc := testenv.Stream(t)
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	// The demo clock starts at the real time now: by the batcher's clock
	// the day has closed 30 minutes (plus the seeding) ago.
	epoch := time.Now()
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + os.TempDir(),
		"DATABASE_URL=" + dbURL, "NATS_URL=" + testenv.NATSURL(),
		"NATS_STREAM=" + sc.Stream, "NATS_SUBJECT=" + sc.Subject, "NATS_CONSUMER=" + testenv.Name("batcher"),
		"KEK=" + kekEntry, "BATCH_CUTOFF=" + cutoff.String(),
		"DEMO_DAY=" + demoDay.String(), "DEMO_EPOCH=" + epoch.Format(time.RFC3339Nano),
		"RETENTION_GRACE=24h", "SFTP_RETRIES=0", "PARTNER_PLAINTEXT=true",
		"LOG_FORMAT=json", "LOG_LEVEL=info", "SHUTDOWN_TIMEOUT=" + shutdownTimeout.String(),
		"HTTP_ADDR=" + addr,
	}
	for k, v := range sim.Env() {
		env = append(env, k+"="+v)
	}
	logFile := filepath.Join(t.TempDir(), "batcher.log")
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(logFile)
			t.Logf("batcher output:\n%s", tail(b, 60))
		}
	})

	batcher := startProc(t, filepath.Join(bin, "batcher"), env, logFile, addr)
	outbox := sim.Path(partnersim.DirBatches)
	for {
		if parts, _ := filepath.Glob(filepath.Join(outbox, ".*.part")); len(parts) > 0 {
			break
		}
		if finals := finalFiles(t, outbox); len(finals) > 0 {
			t.Fatalf("the batch reached the partner (%v) before SIGTERM could be sent mid-upload: seed more orders", finals)
		}
		select {
		case <-ctx.Done():
			t.Fatal("the batcher never started uploading")
		case <-time.After(5 * time.Millisecond):
		}
	}
	// Exit 0 is required. The bound past SHUTDOWN_TIMEOUT is for what
	// follows the batch: NATS drain and HTTP shutdown, up to 5 s each.
	if err := batcher.stop(shutdownTimeout + 10*time.Second); err != nil {
		t.Fatalf("batcher on SIGTERM mid-upload: %v", err)
	}

	conn, err := pgx.Connect(ctx, dbURL)
	testenv.Must(t, err)
	defer conn.Close(context.Background())
	var batchID, state string
	testenv.Must(t, conn.QueryRow(ctx, `SELECT batch_id, state FROM batches WHERE business_date = $1::date`, day.String()).Scan(&batchID, &state))
	if parts, _ := filepath.Glob(filepath.Join(outbox, ".*.part")); len(parts) > 0 {
		t.Errorf("a partial upload was left at the partner: %v", parts)
	}
	held, keyLive := personalHeld(ctx, t, conn, day)
	logged, _ := os.ReadFile(logFile)
	switch state {
	case postgres.StateSent:
		t.Logf("the batch finished within SHUTDOWN_TIMEOUT")
	case postgres.StateAssembling:
		// Abandoned (the upload was cancelled at the timeout, during the
		// data file or before its manifest, which takes the data file
		// back; the window after the manifest's rename and before the
		// batch is marked uploaded is microseconds wide): nothing under a
		// final name, everything still held.
		if !bytes.Contains(logged, []byte("abandoning it")) {
			t.Errorf("batch %s is unfinished but the batcher did not log abandoning it", batchID)
		}
		if finals := finalFiles(t, outbox); len(finals) > 0 {
			t.Errorf("batch %s was not sent but the partner has %v under final names", batchID, finals)
		}
		if held != sigtermOrders || !keyLive {
			t.Errorf("batch %s not sent: %d of %d personal parts held, day key live %v", batchID, held, sigtermOrders, keyLive)
		}
		t.Logf("batch %s abandoned mid-upload; personal data and day key kept", batchID)
	default:
		// Uploaded and verified, not yet recorded: the restart records it.
		if held != sigtermOrders || !keyLive {
			t.Errorf("batch %s %s: %d of %d personal parts held, day key live %v", batchID, state, held, sigtermOrders, keyLive)
		}
		t.Logf("batch %s stopped in state %s", batchID, state)
	}

	// A new batcher resumes (or merely confirms) the same batch.
	batcher = startProc(t, filepath.Join(bin, "batcher"), env, logFile, addr)
	for state != postgres.StateSent {
		select {
		case <-ctx.Done():
			t.Fatalf("batch %s still %s after the restart", batchID, state)
		case <-time.After(100 * time.Millisecond):
		}
		testenv.Must(t, conn.QueryRow(ctx, `SELECT state FROM batches WHERE batch_id = $1`, batchID).Scan(&state))
	}
	if err := batcher.stop(shutdownTimeout + 10*time.Second); err != nil {
		t.Errorf("restarted batcher on SIGTERM: %v", err)
	}

	var batches, orders int
	testenv.Must(t, conn.QueryRow(ctx, `SELECT count(*) FROM batches`).Scan(&batches))
	testenv.Must(t, conn.QueryRow(ctx, `SELECT order_count FROM batches WHERE batch_id = $1`, batchID).Scan(&orders))
	if batches != 1 || orders != sigtermOrders {
		t.Errorf("%d batches recorded, batch %s holds %d orders; want 1 batch of %d", batches, batchID, orders, sigtermOrders)
	}
	finals := finalFiles(t, outbox)
	if len(finals) != 2 {
		t.Fatalf("the partner has %v, want one data file and one manifest", finals)
	}
	var dataFile string
	for _, f := range finals {
		if !strings.Contains(f, batchID) {
			t.Errorf("%s is not of batch %s", f, batchID)
		}
		if strings.HasSuffix(f, ".csv") {
			dataFile = f
		}
	}
	if dataFile == "" {
		t.Fatalf("no data file among %v", finals)
	}
	count := map[string]int{}
	f, err := os.Open(filepath.Join(outbox, dataFile))
	testenv.Must(t, err)
	defer f.Close()
	r := csv.NewReader(f)
	if _, err := r.Read(); err != nil { // the header
		t.Fatal(err)
	}
	for {
		row, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		testenv.Must(t, err)
		count[row[0]]++
	}
	if len(count) != len(refs) {
		t.Errorf("the file holds %d distinct references, want %d", len(count), len(refs))
	}
	for _, ref := range refs {
		if count[ref] != 1 {
			t.Errorf("order %s is in the file %d times", ref, count[ref])
			break
		}
	}
	if held, keyLive := personalHeld(ctx, t, conn, day); held != 0 || keyLive {
		t.Errorf("after sending: %d personal parts held, day key live %v", held, keyLive)
	}
	var deleted int
	testenv.Must(t, conn.QueryRow(ctx, `SELECT count(*) FROM orders_with_batch WHERE batch_id = $1 AND personal_deleted_at IS NOT NULL`, batchID).Scan(&deleted))
	if deleted != sigtermOrders {
		t.Errorf("%d of %d orders recorded as deleted", deleted, sigtermOrders)
	}
	if bytes.Count(mustRead(t, logFile), []byte(`"batcher stopped"`)) != 2 {
		t.Errorf("the batcher did not log a clean stop twice")
	}
}

// seedSealed stores n orders of a business day sealed under its day key,
// as the intake and the consumer would, and returns their references.
func seedSealed(ctx context.Context, t *testing.T, st *postgres.Orders, keys *postgres.DayKeys, day businessday.Date, cutoff businessday.Cutoff, n int) []string {
	t.Helper()
	key, err := keys.GetOrCreate(ctx, day)
	testenv.Must(t, err)
	received := cutoff.Closes(day).Add(-time.Hour)
	refs := make([]string, n)
	for i, r := range reference.NewDistinct(n) {
		refs[i] = r.String()
	}
	// Sealed and stored in chunks, a few at once: the seeding is set-up,
	// not what is tested, and must not eat the test's time.
	const chunk = 5000
	errs := make(chan error, n/chunk+1)
	sem := make(chan struct{}, 2)
	var wg sync.WaitGroup
	for from := 0; from < n; from += chunk {
		wg.Add(1)
		sem <- struct{}{}
		go func(from, to int) {
			defer wg.Done()
			defer func() { <-sem }()
			sealed := make([]order.SealedOrder, 0, to-from)
			for i := from; i < to; i++ {
				ref, _ := reference.Parse(refs[i])
				o := order.Order{
					ID: uuid.NewString(), Reference: ref, ReceivedAt: received, Area: "kent",
					Formats:  []order.Format{order.LargePrint},
					Personal: order.Personal{Name: "Seed " + refs[i], AddressLine1: "1 High Street", Town: "Canterbury", Postcode: "CT1 1AA"},
				}
				so, err := order.Seal(o, day, key)
				if err != nil {
					errs <- err
					return
				}
				sealed = append(sealed, so)
			}
			saved, err := st.SaveOrders(ctx, sealed)
			if err == nil {
				for _, s := range saved {
					if s != postgres.Inserted {
						err = errors.New("a seeded order was not inserted")
						break
					}
				}
			}
			if err != nil {
				errs <- err
			}
		}(from, min(from+chunk, n))
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("seed: %v", err)
	}
	return refs
}

// finalFiles lists the files in the partner's folder under final names
// (not hidden temporary ones).
func finalFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	testenv.Must(t, err)
	var out []string
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ".") {
			out = append(out, e.Name())
		}
	}
	return out
}

// personalHeld counts the personal parts held and says whether the day's
// key is still live.
func personalHeld(ctx context.Context, t *testing.T, conn *pgx.Conn, day businessday.Date) (int, bool) {
	t.Helper()
	var held int
	var live bool
	testenv.Must(t, conn.QueryRow(ctx, `SELECT count(*) FROM order_personal`).Scan(&held))
	testenv.Must(t, conn.QueryRow(ctx, `SELECT destroyed_at IS NULL FROM day_keys WHERE business_date = $1::date`, day.String()).Scan(&live))
	return held, live
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	testenv.Must(t, err)
	return b
}
