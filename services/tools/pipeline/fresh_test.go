package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"booklets/pkg/testkit/eventually"
	"booklets/pkg/testkit/testenv"
)

// The test for a fresh machine: `make run`'s launcher, as its own
// process, with DATABASE_URL and NATS_URL pointing at ports where nothing
// answers. It must start a private PostgreSQL cluster and an embedded
// NATS, answer on the form, accept and store an order, and on SIGINT (the
// terminal's Ctrl-C) stop everything, exit 0, and leave no process and no
// listening port behind.
func TestMakeRunOnAMachineWithNothingRunning(t *testing.T) {
	t.Parallel()
	root, err := moduleRoot("go")
	if err != nil {
		t.Fatal(err)
	}
	launcher := filepath.Join(t.TempDir(), "pipeline")
	build := exec.Command("go", "build", "-o", launcher, "./services/tools/pipeline")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the launcher: %v\n%s", err, out)
	}

	// Run as root, the cluster runs as user postgres, who must be able to
	// reach its folder: a test's temporary folder is closed to others.
	runDir := t.TempDir()
	for _, d := range []string{filepath.Dir(runDir), runDir} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	pgPort, natsPort := freePort(t), freePort(t)
	cmd := exec.Command(launcher)
	cmd.Dir = root
	cmd.Env = append(os.Environ(),
		"RUN_DIR="+runDir,
		"DATABASE_URL=postgres://postgres@127.0.0.1:"+strconv.Itoa(pgPort)+"/booklets?sslmode=disable",
		"NATS_URL=nats://127.0.0.1:"+strconv.Itoa(natsPort),
		"INTAKE_ADDR=127.0.0.1:0", "BATCHER_ADDR=127.0.0.1:0", "RECONCILER_ADDR=127.0.0.1:0", "PARTNER_ADDR=127.0.0.1:0",
		"LOG_FORMAT=json", "SHUTDOWN_TIMEOUT=30s",
	)
	out := &testenv.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{}) // closed once the launcher has exited; then waitErr is its status
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		select {
		case <-exited:
		default: // the test failed half-way: stop it as Ctrl-C would
			_ = cmd.Process.Signal(os.Interrupt)
			<-exited
		}
	})

	eventually.Within(t, 5*time.Minute, "the pipeline is up", func(context.Context) error {
		if strings.Contains(out.String(), "press Ctrl-C to stop") {
			return nil
		}
		select {
		case <-exited:
			t.Fatalf("the launcher exited before the pipeline was up (%v):\n%s", waitErr, out)
		default:
		}
		return fmt.Errorf("the launcher has not said \"press Ctrl-C to stop\":\n%s", out)
	})
	text := out.String()
	for _, want := range []string{
		"started a private cluster on",
		"started an embedded one",
		"PostgreSQL:        private cluster on 127.0.0.1:" + strconv.Itoa(pgPort),
		"NATS:              embedded in the launcher",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the console does not say %q:\n%s", want, text)
		}
	}

	form := submatch(t, text, `order form:\s+(http://\S+)`)
	resp, err := http.Get(form)
	if err != nil {
		t.Fatalf("the form: %v", err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Contains(page, []byte("booklet")) {
		t.Fatalf("the form answered %s:\n%.500s", resp.Status, page)
	}

	api := submatch(t, text, `orders API:\s+POST (http://\S+)`)
	body := `{"area":"staffordshire","formats":["audio"],"name":"Ann Lee","address_line_1":"1 High St","town":"Stafford","postcode":"ST18 0YY"}`
	req, _ := http.NewRequest("POST", api, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("order: %v", err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("order: %s %s", resp.Status, answer)
	}
	var placed struct{ Reference string }
	if err := json.Unmarshal(answer, &placed); err != nil || placed.Reference == "" {
		t.Fatalf("order: no reference in %s (%v)", answer, err)
	}
	reference := placed.Reference
	waitStored(t, "postgres://postgres@127.0.0.1:"+strconv.Itoa(pgPort)+"/booklets?sslmode=disable", reference, exited, out)

	// What must be gone afterwards: every process and every port.
	var pids []int
	for _, m := range regexp.MustCompile(`\(pid (\d+)`).FindAllStringSubmatch(text, -1) {
		pid, _ := strconv.Atoi(m[1])
		pids = append(pids, pid)
	}
	if len(pids) != len(allServices)+1 { // the services and the postmaster
		t.Fatalf("found %d pids in the console, want %d:\n%s", len(pids), len(allServices)+1, text)
	}
	ports := []string{"127.0.0.1:" + strconv.Itoa(pgPort), "127.0.0.1:" + strconv.Itoa(natsPort)}
	for _, m := range regexp.MustCompile(`started \w+ \(pid \d+\) on (\S+)`).FindAllStringSubmatch(text, -1) {
		ports = append(ports, m[1])
	}
	ports = append(ports, submatch(t, text, `partner \(SFTP\):\s+([0-9.]+:\d+)`))
	if running := processesUnder(runDir); len(running) < len(pids) {
		t.Fatalf("only %d processes run from %s, want at least %d (is the check blind?)", len(running), runDir, len(pids))
	}

	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
		if waitErr != nil {
			t.Fatalf("the launcher after Ctrl-C: %v (a clean stop exits 0)\n%s", waitErr, out)
		}
	case <-time.After(3 * time.Minute):
		t.Fatalf("the launcher did not stop within 3 minutes of Ctrl-C:\n%s", out)
	}
	if !strings.Contains(out.String(), "private PostgreSQL stopped") {
		t.Errorf("the private PostgreSQL was not reported stopped:\n%s", out)
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("process %d is still there after the launcher exited (kill 0: %v)", pid, err)
		}
	}
	if left := processesUnder(runDir); len(left) > 0 {
		t.Errorf("processes left running from %s: %v", runDir, left)
	}
	for _, addr := range ports {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			t.Errorf("something still listens on %s after the launcher exited", addr)
		}
	}
}

func submatch(t *testing.T, text, pattern string) string {
	t.Helper()
	m := regexp.MustCompile(pattern).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no %s in:\n%s", pattern, text)
	}
	return m[1]
}

// waitStored waits until the batcher has stored the order in the private
// cluster, or the launcher exits.
func waitStored(t *testing.T, dbURL, reference string, exited <-chan struct{}, out *testenv.Buffer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatalf("connect to the private cluster: %v", err)
	}
	defer conn.Close(context.Background())
	eventually.Until(ctx, t, fmt.Sprintf("order %s is stored within 2 minutes", reference), func(ctx context.Context) error {
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM orders WHERE reference = $1", reference).Scan(&n); err != nil {
			t.Fatalf("look for the order: %v", err)
		}
		if n == 1 {
			return nil
		}
		select {
		case <-exited:
			t.Fatalf("the launcher exited before the order was stored:\n%s", out)
		default:
		}
		return fmt.Errorf("%d orders with the reference", n)
	})
}

// processesUnder lists the processes that run in dir or from it: the
// services (built into dir/bin, run in dir) and PostgreSQL's postmaster
// and backends (whose working folder is their data folder, dir/postgres;
// the backends rename themselves, so their command line does not say).
func processesUnder(dir string) []string {
	entries, _ := os.ReadDir("/proc")
	var found []string
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		exe, _ := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		cwd, _ := os.Readlink(filepath.Join("/proc", e.Name(), "cwd"))
		if bytes.Contains(cmdline, []byte(dir)) || strings.HasPrefix(exe, dir) || strings.HasPrefix(cwd, dir) {
			found = append(found, e.Name()+" "+strings.ReplaceAll(string(cmdline), "\x00", " "))
		}
	}
	return found
}
