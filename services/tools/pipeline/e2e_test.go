package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"booklets/pkg/platform/clock"
	"booklets/pkg/testkit/eventually"
	"booklets/pkg/testkit/partnersim"
	"booklets/pkg/testkit/testenv"
)

// The test: the three services run as separate processes, built
// from this checkout, against the local PostgreSQL and JetStream (a
// database, stream and consumer of the test's own) and the partner
// simulator, in demo mode (a day lasts demoDay). One order goes in through
// the API; the batcher is stopped with SIGTERM right after it was accepted
// and started again; the order must reach exactly one batch file, exactly
// once, and the partner's deletion confirmation of that batch must be
// recorded ("confirmed" on the auditors' API). Every process must stop with
// status 0 on SIGTERM.
func TestEndToEndWithRestart(t *testing.T) {
	t.Parallel()
	// 30 working days in about 85 seconds: a demo day long enough that a
	// machine busy with the rest of the suite under -race does not delay
	// the partner or the check by a whole day (it made the batch overdue).
	const demoDay = 2 * time.Second
	// The cut-off is put at mid-day. At the usual 23:00 the batch is sent
	// within the last simulated hour before midnight (50 ms here), and on a
	// loaded machine the batcher's delivery date (its clock once the upload
	// is verified) and the partner's arrival date (the manifest's mtime)
	// then fell either side of it: the partner deleted a day before our due
	// date, and the test failed with "confirmed_early" about one run in
	// four. In production a send that straddles midnight does the same (a
	// retry after 00:00, say): see docs/reconciler.md.
	const cutoff = "11:00"
	bin := buildServices(t)

	epoch := time.Now()
	// The partner signs its confirmations, and the reconciler pins its
	// key, as make run does: a confirmed batch is a signed receipt (an
	// unsigned one would be rejected).
	pgpPub, err := partnerPGPKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	sim, err := partnersim.Start(partnersim.Config{
		Addr: "127.0.0.1:0", Dir: t.TempDir(), Clock: clock.Demo(epoch, demoDay), Day: demoDay, CheckEvery: 50 * time.Millisecond,
		SigningKeyFile: partnerPGPPrivate(pgpPub),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })

	dbURL := testenv.Database(t)
	sc := testenv.Stream(t)
	kek := make([]byte, 32)
	rand.Read(kek)
	secret := make([]byte, 32)
	rand.Read(secret)
	const token = "e2e-audit-token-0123456789abcdef0123"
	addrs := map[string]string{}
	for _, s := range allServices {
		addrs[s] = "127.0.0.1:" + strconv.Itoa(freePort(t))
	}
	common := map[string]string{
		"PATH": os.Getenv("PATH"), "HOME": os.Getenv("HOME"), "TMPDIR": os.TempDir(),
		"DATABASE_URL": dbURL, "NATS_URL": testenv.NATSURL(),
		"NATS_STREAM": sc.Stream, "NATS_SUBJECT": sc.Subject, "NATS_CONSUMER": testenv.Name("batcher"),
		"KEK":      "e2e1:" + base64.StdEncoding.EncodeToString(kek),
		"DEMO_DAY": demoDay.String(), "DEMO_EPOCH": epoch.Format(time.RFC3339Nano), "BATCH_CUTOFF": cutoff,
		"LOG_FORMAT": "json", "LOG_LEVEL": "info", "SHUTDOWN_TIMEOUT": "20s",
	}
	for k, v := range sim.Env() {
		common[k] = v
	}
	env := func(service string, extra map[string]string) []string {
		var out []string
		for k, v := range common {
			out = append(out, k+"="+v)
		}
		for k, v := range extra {
			out = append(out, k+"="+v)
		}
		return append(out, "HTTP_ADDR="+addrs[service])
	}
	logs := t.TempDir()
	start := func(service string, extra map[string]string) *proc {
		t.Helper()
		p := startProc(t, filepath.Join(bin, service), env(service, extra), filepath.Join(logs, service+".log"), addrs[service])
		t.Cleanup(func() {
			if t.Failed() {
				b, _ := os.ReadFile(p.logFile)
				t.Logf("%s output:\n%s", service, tail(b, 60))
			}
		})
		return p
	}

	intake := start("intake", map[string]string{"INTAKE_SECRET": hex.EncodeToString(secret)})
	batcher := start("batcher", map[string]string{"PARTNER_PLAINTEXT": "true"})
	reconciler := start("reconciler", map[string]string{"AUDIT_TOKEN": token, "PARTNER_SIGNING_KEY_FILE": pgpPub})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	waitReady(ctx, t, "http://"+addrs["intake"]+"/readyz")

	// One order through the API.
	body := `{"area":"staffordshire","formats":["audio"],"name":"Ann Lee","address_line_1":"1 High St","town":"Stafford","postcode":"ST18 0YY"}`
	req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+addrs["intake"]+"/api/v1/orders", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", "e2e-"+testenv.Name("order"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var placed struct{ Reference string }
	json.NewDecoder(resp.Body).Decode(&placed)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || placed.Reference == "" {
		t.Fatalf("order: %s %+v", resp.Status, placed)
	}

	// SIGTERM to the batcher mid-way, then a new batcher.
	if err := batcher.stop(30 * time.Second); err != nil {
		t.Fatalf("batcher on SIGTERM: %v", err)
	}
	batcher = start("batcher", map[string]string{"PARTNER_PLAINTEXT": "true"})

	// Watch the partner's folder: the clerk deletes data files after 30
	// working days, so note every file that holds the reference while it
	// is there.
	seen := map[string]int{} // data file -> lines holding the reference
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var batchID, status string
	for status != "confirmed" {
		files, _ := filepath.Glob(sim.Path(partnersim.DirBatches, "*.csv"))
		for _, f := range files {
			if _, ok := seen[f]; ok {
				continue
			}
			b, err := os.ReadFile(f)
			if err != nil {
				continue // deleted meanwhile: it was already confirmed, so already seen
			}
			if n := bytes.Count(b, []byte(placed.Reference)); n > 0 {
				seen[f] = n
			}
		}
		if batchID == "" {
			_ = conn.QueryRow(ctx, `SELECT coalesce(batch_id, '') FROM orders_with_batch WHERE reference = $1`, placed.Reference).Scan(&batchID)
		}
		if batchID != "" {
			status = batchStatus(ctx, t, "http://"+addrs["reconciler"], token, batchID)
			if status == "confirmed_early" || status == "confirmed_late" || status == "overdue" || status == "rejected" {
				t.Fatalf("batch %s is %s", batchID, status)
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("order %s: batch %q, status %q, files %v: no confirmation in time", placed.Reference, batchID, status, seen)
		case <-time.After(50 * time.Millisecond):
		}
	}

	// Nothing lost, nothing doubled.
	if len(seen) != 1 {
		t.Errorf("the order is in %d batch files (%v), want exactly one", len(seen), seen)
	}
	for f, n := range seen {
		if n != 1 || !strings.Contains(filepath.Base(f), batchID) {
			t.Errorf("%s holds the reference %d times (batch %s)", f, n, batchID)
		}
	}
	var stored int
	var deleted bool
	if err := conn.QueryRow(ctx, `SELECT count(*), bool_and(personal_deleted_at IS NOT NULL AND NOT EXISTS (SELECT 1 FROM order_personal p WHERE p.order_id = w.order_id)) FROM orders_with_batch w WHERE reference = $1`,
		placed.Reference).Scan(&stored, &deleted); err != nil {
		t.Fatal(err)
	}
	if stored != 1 || !deleted {
		t.Errorf("stored %d times, personal data deleted %v", stored, deleted)
	}
	var accepted int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM confirmations WHERE batch_id = $1 AND accepted`, batchID).Scan(&accepted); err != nil {
		t.Fatal(err)
	}
	if accepted != 1 {
		t.Errorf("%d accepted confirmations of %s recorded, want 1", accepted, batchID)
	}
	// The partner's 30 working days and ours agree: never overdue.
	var alerts int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM overdue_alerts WHERE batch_id = $1`, batchID).Scan(&alerts); err != nil {
		t.Fatal(err)
	}
	if alerts != 0 {
		t.Errorf("%d overdue alerts raised for %s", alerts, batchID)
	}

	for name, p := range map[string]*proc{"intake": intake, "batcher": batcher, "reconciler": reconciler} {
		if err := p.stop(30 * time.Second); err != nil {
			t.Errorf("%s on SIGTERM: %v", name, err)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(logs, "batcher.log")); bytes.Count(b, []byte(`"batcher stopped"`)) != 2 {
		t.Errorf("the batcher did not log a clean stop twice")
	}
	for _, p := range []string{"intake", "batcher", "reconciler"} {
		b, _ := os.ReadFile(filepath.Join(logs, p+".log"))
		if bytes.Contains(b, []byte("Ann Lee")) || bytes.Contains(b, []byte("ST18 0YY")) {
			t.Errorf("personal data in the %s log", p)
		}
	}
}

// buildServices builds the three services from this checkout into a
// temporary folder.
func buildServices(t *testing.T) string {
	t.Helper()
	root, err := moduleRoot("go")
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	cmd := exec.Command("go", "build", "-o", bin+string(filepath.Separator), "./services/intake", "./services/batcher", "./services/reconciler")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// proc is a service running as a child process.
type proc struct {
	cmd     *exec.Cmd
	logFile string
	done    chan error
}

func startProc(t *testing.T, bin string, env []string, logFile, addr string) *proc {
	t.Helper()
	f, err := os.OpenFile(logFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, logFile: logFile, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait(); f.Close() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = p.stop(30 * time.Second)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	eventually.Until(ctx, t, filepath.Base(bin)+" answers /healthz", func(context.Context) error {
		r, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			r.Body.Close()
			if r.StatusCode == http.StatusOK {
				return nil
			}
			err = errors.New(r.Status)
		}
		select {
		case err := <-p.done:
			p.done <- err
			b, _ := os.ReadFile(logFile)
			t.Fatalf("%s exited while starting: %v\n%s", filepath.Base(bin), err, tail(b, 40))
		default:
		}
		return err
	})
	return p
}

// stop sends SIGTERM and waits for the process to exit; an exit status
// other than 0 is an error.
func (p *proc) stop(limit time.Duration) error {
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	select {
	case err := <-p.done:
		p.done <- err
		return err
	case <-time.After(limit):
		_ = p.cmd.Process.Kill()
		return fmt.Errorf("did not stop within %s of SIGTERM", limit)
	}
}

func waitReady(ctx context.Context, t *testing.T, url string) {
	t.Helper()
	eventually.Until(ctx, t, url+" answers 200", func(context.Context) error {
		r, err := http.Get(url)
		if err != nil {
			return err
		}
		r.Body.Close()
		if r.StatusCode != http.StatusOK {
			return errors.New(r.Status)
		}
		return nil
	})
}

// batchStatus is the batch's status on the auditors' JSON API, or "".
func batchStatus(ctx context.Context, t *testing.T, base, token, batchID string) string {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/api/v1/batches", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var out struct {
		Batches []struct {
			BatchID string `json:"batch_id"`
			Status  string `json:"status"`
		} `json:"batches"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&out) != nil {
		return ""
	}
	for _, b := range out.Batches {
		if b.BatchID == batchID {
			return b.Status
		}
	}
	return ""
}

func tail(b []byte, lines int) string {
	s := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(s) > lines {
		s = s[len(s)-lines:]
	}
	return strings.Join(s, "\n")
}
