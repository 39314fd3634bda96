package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// env is what every benchmark shares: the built service binaries, a work
// folder, the local PostgreSQL and NATS servers, and one sshd.
type env struct {
	bin      string // folder with intake, batcher, reconciler
	work     string // scratch folder, removed at the end
	adminURL string // PostgreSQL URL used to create and drop databases
	natsURL  string
	kek      string // a key-encryption key ring for this run (KEK)
	secret   string // INTAKE_SECRET for this run
	pgpKey   string // the partner's OpenPGP public key (PARTNER_PGP_KEY_FILE)
	sshd     *sshd
	log      io.Writer // progress lines
	logs     string    // folder where the services' logs are kept, if any
	profile  string    // folder for CPU profiles of the intake, if any
	// httpClient is the intake load generator's client: "lean" or "nethttp".
	httpClient string
	floor      bool // also measure the floor server (floor.go)
}

func (e *env) progress(format string, args ...any) {
	fmt.Fprintf(e.log, "bench: "+format+"\n", args...)
}

// moduleRoot finds the booklets module from the working directory (make
// bench runs at the repository root, the smoke test in services/tools/bench).
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("find the module (go env GOMOD): %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside the booklets module: run from the repository")
	}
	return filepath.Dir(gomod), nil
}

// build compiles the services into dir, as `make build` would: the bench
// measures the real binaries, not a test build of them.
func build(ctx context.Context, dir string) error {
	root, err := moduleRoot(ctx)
	if err != nil {
		return err
	}
	args := []string{"build", "-o", dir + string(filepath.Separator),
		"./services/intake", "./services/batcher", "./services/reconciler"}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("build the services: %w\n%s", err, out.String())
	}
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// newKEK makes a one-entry key ring in seal.ParseRing's "id:base64" form.
func newKEK() string {
	b := make([]byte, 32)
	rand.Read(b)
	return "bench:" + base64.StdEncoding.EncodeToString(b)
}

// database creates an empty database and returns its URL and a function
// that drops it.
func (e *env) database(ctx context.Context) (string, func(), error) {
	admin, err := pgx.Connect(ctx, e.adminURL)
	if err != nil {
		return "", nil, fmt.Errorf("connect to PostgreSQL (is it running?): %w", err)
	}
	defer admin.Close(ctx)
	name := "booklets_bench_" + randomHex(6)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", nil, fmt.Errorf("create database: %w", err)
	}
	u, err := url.Parse(e.adminURL)
	if err != nil {
		return "", nil, fmt.Errorf("parse the PostgreSQL URL: %w", err)
	}
	u.Path = "/" + name
	drop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		admin, err := pgx.Connect(ctx, e.adminURL)
		if err != nil {
			return
		}
		defer admin.Close(ctx)
		_, _ = admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	}
	return u.String(), drop, nil
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// baseEnv is the environment every child gets: nothing of ours leaks in
// except PATH and HOME, so a developer's settings cannot skew a run.
func (e *env) baseEnv(extra map[string]string) []string {
	vars := map[string]string{
		"PATH":       os.Getenv("PATH"),
		"HOME":       os.Getenv("HOME"),
		"NATS_URL":   e.natsURL,
		"KEK":        e.kek,
		"LOG_FORMAT": "json",
		"LOG_LEVEL":  "info",
	}
	for k, v := range extra {
		vars[k] = v
	}
	var out []string
	for k, v := range vars {
		out = append(out, k+"="+v)
	}
	return out
}

// child is a service running in the background.
type child struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// start runs a service binary in its own process group, its output in a
// log file of the work folder.
func (e *env) start(name string, env []string, args ...string) (*child, error) {
	dir := e.work
	if e.logs != "" {
		dir = e.logs
	}
	logf, err := os.Create(filepath.Join(dir, name+"-"+time.Now().Format("150405.000")+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(filepath.Join(e.bin, name), args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		logf.Close()
		close(c.done)
	}()
	return c, nil
}

// stop asks the service to shut down (SIGTERM) and kills it if it has not
// within 15 seconds.
func (c *child) stop() {
	select {
	case <-c.done:
		return
	default:
	}
	_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(15 * time.Second):
		_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
		<-c.done
	}
}

// logTail returns the end of a child's log for an error message. The
// children's logs hold no personal data (that is their promise), and the
// bench's orders are made up anyway.
func (e *env) logTail(c *child) string {
	f, ok := c.cmd.Stdout.(*os.File)
	if !ok {
		return ""
	}
	b, err := os.ReadFile(f.Name())
	if err != nil {
		return ""
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// waitReady polls url until it answers 200, the child exits or the
// timeout passes.
func waitReady(ctx context.Context, c *child, url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-c.done:
			return fmt.Errorf("%s exited while starting: %v", c.name, c.err)
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready at %s within %s", c.name, url, timeout)
}

// measured is the outcome of a child run to completion.
type measured struct {
	wall   time.Duration
	cpu    time.Duration // user and system time of the command itself
	maxRSS int64         // bytes
	stdout []byte
}

// runOnce runs a command to completion and measures its wall time and
// peak resident memory (ru_maxrss), through the rusage helper.
func (e *env) runOnce(ctx context.Context, env []string, stdin io.Reader, name string, args ...string) (measured, error) {
	self, err := os.Executable()
	if err != nil {
		return measured{}, err
	}
	if !filepath.IsAbs(name) {
		if name, err = exec.LookPath(name); err != nil {
			return measured{}, err
		}
	}
	r, w, err := os.Pipe()
	if err != nil {
		return measured{}, err
	}
	defer r.Close()
	cmd := exec.CommandContext(ctx, self, append([]string{name}, args...)...)
	cmd.Env = append(env, rusageEnv+"=1")
	cmd.Stdin = stdin
	cmd.ExtraFiles = []*os.File{w}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	w.Close()
	if err != nil {
		tail := errb.String()
		if len(tail) > 2000 {
			tail = tail[len(tail)-2000:]
		}
		return measured{}, fmt.Errorf("%s %s: %w\n%s", filepath.Base(name), strings.Join(args, " "), err, tail)
	}
	report, err := io.ReadAll(r)
	if err != nil {
		return measured{}, err
	}
	var wallNS, maxKiB, cpuNS int64
	if _, err := fmt.Sscan(string(report), &wallNS, &maxKiB, &cpuNS); err != nil {
		return measured{}, fmt.Errorf("%s: no rusage from the helper: %q", filepath.Base(name), report)
	}
	if e.logs != "" {
		logName := filepath.Join(e.logs, filepath.Base(name)+"-"+time.Now().Format("150405.000")+".log")
		_ = os.WriteFile(logName, append(append([]byte(strings.Join(args, " ")+"\n"), out.Bytes()...), errb.Bytes()...), 0o644)
	}
	return measured{wall: time.Duration(wallNS), cpu: time.Duration(cpuNS), maxRSS: maxKiB * 1024, stdout: out.Bytes()}, nil
}

func itoa(n int) string { return strconv.Itoa(n) }
