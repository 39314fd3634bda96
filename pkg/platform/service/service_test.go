package service

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"booklets/pkg/testkit/eventually"
)

// logBuf collects a service's log lines from several goroutines.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// lines decodes the JSON lines logged so far.
func (l *logBuf) lines(t *testing.T) []map[string]any {
	t.Helper()
	l.mu.Lock()
	text := l.b.String()
	l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// messages lists the logged messages in order.
func (l *logBuf) messages(t *testing.T) []string {
	var ms []string
	for _, m := range l.lines(t) {
		ms = append(ms, fmt.Sprint(m["message"]))
	}
	return ms
}

// line returns the first line with message msg, or nil.
func (l *logBuf) line(t *testing.T, msg string) map[string]any {
	for _, m := range l.lines(t) {
		if m["message"] == msg {
			return m
		}
	}
	return nil
}

func newLog(buf *logBuf) zerolog.Logger {
	return zerolog.New(buf).With().Str("service", "test").Logger()
}

// running is a service run in the background until the test stops it.
type running struct {
	svc    *Service
	cancel context.CancelFunc
	done   chan error
	log    *logBuf
	base   string
}

// start builds a service on 127.0.0.1:0 (setup adds routes, checks and
// steps), runs it, and waits for its "listening" line, whose address it
// uses as tests of the services do.
func start(t *testing.T, setup func(*Service), opts ...Option) *running {
	t.Helper()
	buf := &logBuf{}
	svc := New("svc", newLog(buf), append([]Option{Addr("127.0.0.1:0")}, opts...)...)
	if setup != nil {
		setup(svc)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{svc: svc, cancel: cancel, done: make(chan error, 1), log: buf}
	go func() { r.done <- svc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(30 * time.Second):
			t.Error("the service did not stop")
		}
	})
	eventually.Within(t, 10*time.Second, "the service logs its listening line", func(context.Context) error {
		l := buf.line(t, "svc listening")
		if l == nil {
			return fmt.Errorf("no listening line; log: %v", buf.messages(t))
		}
		r.base = "http://" + l["addr"].(string)
		return nil
	})
	return r
}

// stop cancels the context and returns Run's error.
func (r *running) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		r.done <- err // for the cleanup
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return")
		return nil
	}
}

func get(t *testing.T, url string) (int, string, http.Header) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b), resp.Header
}

// The address on port 0 is the one the listening line reports, Addr
// agrees, and /healthz answers as the services' did: 200 "ok\n" in plain
// text.
func TestListeningLineAndHealthz(t *testing.T) {
	t.Parallel()
	r := start(t, nil, ListeningLog(func(e *zerolog.Event) *zerolog.Event { return e.Str("stream", "ORDERS") }))
	l := r.log.line(t, "svc listening")
	if l["addr"] != r.svc.Addr().String() || strings.HasSuffix(r.svc.Addr().String(), ":0") {
		t.Errorf("listening addr %v, Addr %v: want the same, a real port", l["addr"], r.svc.Addr())
	}
	if l["stream"] != "ORDERS" {
		t.Errorf("listening line %v: want the extra field", l)
	}
	// A test of the reconciler takes the first line with an "addr": it must
	// be the listening line.
	for _, m := range r.log.lines(t) {
		if _, ok := m["addr"]; ok {
			if m["message"] != "svc listening" {
				t.Errorf("first line with addr is %v", m)
			}
			break
		}
	}
	code, body, h := get(t, r.base+"/healthz")
	if code != 200 || body != "ok\n" || h.Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Errorf("healthz: %d %q %q", code, body, h.Get("Content-Type"))
	}
	if code, _, _ := get(t, r.base+"/nothing"); code != http.StatusNotFound {
		t.Errorf("unknown path: %d, want 404", code)
	}
}

// /readyz runs the checks in order and answers with the first failure's
// own fixed text (as the batcher's "database not ready" / "stream not
// ready" and the reconciler's "database unavailable"), 200 "ready\n" when
// all pass.
func TestReadyz(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	dbErr, streamErr := errors.New("db down: secret host"), error(nil)
	var calls []string
	r := start(t, func(s *Service) {
		s.Ready("database not ready", func(context.Context) error {
			mu.Lock()
			defer mu.Unlock()
			calls = append(calls, "db")
			return dbErr
		})
		s.Ready("stream not ready", func(context.Context) error {
			mu.Lock()
			defer mu.Unlock()
			calls = append(calls, "stream")
			return streamErr
		})
	})
	check := func(wantCode int, wantBody string, wantCalls ...string) {
		t.Helper()
		mu.Lock()
		calls = nil
		mu.Unlock()
		code, body, h := get(t, r.base+"/readyz")
		if code != wantCode || body != wantBody {
			t.Errorf("readyz: %d %q, want %d %q", code, body, wantCode, wantBody)
		}
		if ct := h.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
			t.Errorf("readyz Content-Type %q", ct)
		}
		mu.Lock()
		defer mu.Unlock()
		if !slices.Equal(calls, wantCalls) {
			t.Errorf("checks run: %v, want %v", calls, wantCalls)
		}
	}
	check(503, "database not ready\n", "db") // the error's text is never shown
	mu.Lock()
	dbErr, streamErr = nil, errors.New("no stream")
	mu.Unlock()
	check(503, "stream not ready\n", "db", "stream")
	mu.Lock()
	streamErr = nil
	mu.Unlock()
	check(200, "ready\n", "db", "stream")
}

// ReadyTimeout bounds the checks' context (the batcher's 2 s); without it
// the checks get the request's context, with no deadline of its own.
func TestReadyTimeout(t *testing.T) {
	t.Parallel()
	for _, d := range []time.Duration{0, 2 * time.Second} {
		deadlines := make(chan time.Duration, 1)
		r := start(t, func(s *Service) {
			s.Ready("x", func(ctx context.Context) error {
				dl, ok := ctx.Deadline()
				if !ok {
					deadlines <- 0
				} else {
					deadlines <- time.Until(dl)
				}
				return nil
			})
		}, ReadyTimeout(d))
		get(t, r.base+"/readyz")
		got := <-deadlines
		if d == 0 && got != 0 || d > 0 && (got <= 0 || got > d) {
			t.Errorf("ReadyTimeout(%v): the check's deadline is %v away", d, got)
		}
	}
	// A check that overruns the timeout sees its context end, and the
	// answer is 503.
	r := start(t, func(s *Service) {
		s.Ready("slow", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
	}, ReadyTimeout(50*time.Millisecond))
	if code, body, _ := get(t, r.base+"/readyz"); code != 503 || body != "slow\n" {
		t.Errorf("slow check: %d %q", code, body)
	}
}

// /metrics serves the default registry, with the Go and process collectors
// and what the service registers; WithRegistry serves the given one.
func TestMetrics(t *testing.T) {
	t.Parallel()
	r := start(t, func(s *Service) {
		c := prometheus.NewCounter(prometheus.CounterOpts{Name: "booklets_test_total", Help: "test"})
		c.Add(3)
		s.Registry().MustRegister(c)
	})
	code, body, _ := get(t, r.base+"/metrics")
	for _, want := range []string{"booklets_test_total 3", "go_goroutines", "process_start_time_seconds"} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("metrics: %d, no %q", code, want)
		}
	}
	reg := prometheus.NewRegistry()
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "booklets_own", Help: "own"})
	reg.MustRegister(g)
	r = start(t, nil, WithRegistry(reg))
	if r.svc.Registry() != reg {
		t.Error("Registry is not the one given")
	}
	_, body, _ = get(t, r.base+"/metrics")
	if !strings.Contains(body, "booklets_own 0") || strings.Contains(body, "go_goroutines") {
		t.Errorf("metrics with WithRegistry:\n%s", body)
	}
	// Only GET.
	resp, err := http.Post(r.base+"/metrics", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /metrics: %d", resp.StatusCode)
	}
}

// With NoProbes the service's handler at "/" answers /healthz and /readyz
// (the intake's web adapter), and Ready is refused rather than ignored.
func TestNoProbes(t *testing.T) {
	t.Parallel()
	r := start(t, func(s *Service) {
		s.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "adapter %s", r.URL.Path)
		}))
	}, NoProbes())
	for _, p := range []string{"/healthz", "/readyz"} {
		if _, body, _ := get(t, r.base+p); body != "adapter "+p {
			t.Errorf("%s: %q, want the adapter's", p, body)
		}
	}
	if _, body, _ := get(t, r.base+"/metrics"); !strings.Contains(body, "go_goroutines") {
		t.Error("/metrics is not the skeleton's with NoProbes")
	}
	defer func() {
		if recover() == nil {
			t.Error("Ready with NoProbes did not panic")
		}
	}()
	r.svc.Ready("x", func(context.Context) error { return nil })
}

// Every timeout of the server is set: the service's, or the default for a
// zero one; MaxHeaderBytes as given.
func TestTimeoutsSet(t *testing.T) {
	t.Parallel()
	s := New("svc", zerolog.Nop())
	if got := s.hs; got.ReadHeaderTimeout != DefaultTimeouts.ReadHeader || got.ReadTimeout != DefaultTimeouts.Read ||
		got.WriteTimeout != DefaultTimeouts.Write || got.IdleTimeout != DefaultTimeouts.Idle || got.MaxHeaderBytes != 0 {
		t.Errorf("defaults: %+v", got)
	}
	if DefaultTimeouts.ReadHeader <= 0 || DefaultTimeouts.Read <= 0 || DefaultTimeouts.Write <= 0 || DefaultTimeouts.Idle <= 0 {
		t.Errorf("DefaultTimeouts %+v: all must be set", DefaultTimeouts)
	}
	want := Timeouts{ReadHeader: time.Second, Read: 2 * time.Second, Write: 3 * time.Second, Idle: 4 * time.Second}
	s = New("svc", zerolog.Nop(), WithTimeouts(want), MaxHeaderBytes(16<<10))
	if got := s.hs; got.ReadHeaderTimeout != want.ReadHeader || got.ReadTimeout != want.Read ||
		got.WriteTimeout != want.Write || got.IdleTimeout != want.Idle || got.MaxHeaderBytes != 16<<10 {
		t.Errorf("given: %+v", got)
	}
	s = New("svc", zerolog.Nop(), WithTimeouts(Timeouts{Write: time.Minute}))
	if got := s.hs; got.WriteTimeout != time.Minute || got.ReadHeaderTimeout != DefaultTimeouts.ReadHeader ||
		got.IdleTimeout != DefaultTimeouts.Idle {
		t.Errorf("partly given: %+v", got)
	}
	// The services' own timeout types convert.
	type httpTimeouts struct{ ReadHeader, Read, Write, Idle time.Duration }
	_ = Timeouts(httpTimeouts{})
}

// The timeouts act on real connections: an idle keep-alive connection and
// a client that never finishes its headers are both closed by the server.
func TestTimeoutsCloseConnections(t *testing.T) {
	t.Parallel()
	r := start(t, nil, WithTimeouts(Timeouts{ReadHeader: 200 * time.Millisecond, Idle: 200 * time.Millisecond}))
	addr := strings.TrimPrefix(r.base, "http://")

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: svc\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Close {
		t.Fatalf("healthz: %s close %v, want a kept-alive 200", resp.Status, resp.Close)
	}
	conn.SetReadDeadline(time.Now().Add(time.Minute))
	if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
		t.Errorf("idle connection: %v, want EOF (closed by the server)", err)
	}

	slow, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	io.WriteString(slow, "GET /healthz HTTP/1.1\r\nHost: svc\r\n") // never the blank line
	slow.SetReadDeadline(time.Now().Add(time.Minute))
	b, err := io.ReadAll(slow)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("a request whose headers never end held the connection for a minute")
	}
	if bytes.Contains(b, []byte("200 OK")) {
		t.Errorf("unfinished request answered: %q", b)
	}
}

// On SIGTERM (ctx ends): Stopping turns true, the stopping line is logged
// with the timeout, the steps run in the order added, each after the one
// before returned, and "svc stopped" is logged last.
func TestShutdownOrder(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var order []string
	var svc *Service
	stoppingSeen := make([]bool, 0, 3)
	add := func(name string) func() error {
		return func() error {
			mu.Lock()
			defer mu.Unlock()
			order = append(order, name)
			stoppingSeen = append(stoppingSeen, svc.Stopping())
			return nil
		}
	}
	r := start(t, func(s *Service) {
		svc = s
		s.OnShutdown("consumer", add("consumer"))
		s.OnShutdown("jobs", add("jobs"))
		s.OnShutdown("nats", add("nats"))
	}, StoppingLog("stopping: finishing what is in hand", 30*time.Second))
	if svc.Stopping() {
		t.Error("Stopping before the signal")
	}
	if err := r.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if want := []string{"consumer", "jobs", "nats"}; !slices.Equal(order, want) {
		t.Errorf("steps ran %v, want %v", order, want)
	}
	if !slices.Equal(stoppingSeen, []bool{true, true, true}) {
		t.Errorf("Stopping during the steps: %v", stoppingSeen)
	}
	msgs := r.log.messages(t)
	if want := []string{"svc listening", "stopping: finishing what is in hand", "svc stopped"}; !slices.Equal(msgs, want) {
		t.Errorf("log %v, want %v", msgs, want)
	}
	if l := r.log.line(t, "stopping: finishing what is in hand"); l["timeout"] != 30000.0 {
		t.Errorf("stopping line %v: want timeout 30000 (ms, zerolog's default)", l)
	}
	if _, err := http.Get(r.base + "/healthz"); err == nil {
		t.Error("still serving after Run returned")
	}
}

// A service that keeps HTTP to the end (the batcher) still answers while
// its earlier steps run; one that stops HTTP first (the intake) lets the
// request in flight finish and takes no new connection, then runs the next
// step.
func TestShutdownHTTPPlacement(t *testing.T) {
	t.Parallel()
	t.Run("last", func(t *testing.T) {
		t.Parallel()
		var base string
		answered := make(chan int, 1)
		r := start(t, func(s *Service) {
			s.OnShutdown("jobs", func() error {
				resp, err := http.Get(base + "/healthz")
				if err != nil {
					answered <- -1
					return nil
				}
				resp.Body.Close()
				answered <- resp.StatusCode
				return nil
			})
			s.OnShutdown("http", func() error { _ = s.ShutdownHTTP(5 * time.Second); return nil })
		})
		base = r.base
		if err := r.stop(t); err != nil {
			t.Fatal(err)
		}
		if code := <-answered; code != 200 {
			t.Errorf("healthz during an earlier step: %d, want 200", code)
		}
	})
	t.Run("first", func(t *testing.T) {
		t.Parallel()
		entered, release := make(chan struct{}), make(chan struct{})
		var mu sync.Mutex
		var order []string
		note := func(s string) {
			mu.Lock()
			defer mu.Unlock()
			order = append(order, s)
		}
		var base string
		refused := make(chan bool, 1)
		r := start(t, func(s *Service) {
			s.HandleFunc("POST /api/v1/orders", func(w http.ResponseWriter, _ *http.Request) {
				close(entered)
				<-release
				note("request done")
				w.WriteHeader(http.StatusCreated)
			})
			s.OnShutdown("http", func() error { return s.ShutdownHTTP(10 * time.Second) })
			s.OnShutdown("nats", func() error {
				_, err := net.DialTimeout("tcp", strings.TrimPrefix(base, "http://"), time.Second)
				refused <- err != nil
				note("nats drained")
				return nil
			})
		})
		base = r.base
		got := make(chan int, 1)
		go func() {
			resp, err := http.Post(r.base+"/api/v1/orders", "application/json", nil)
			if err != nil {
				got <- -1
				return
			}
			resp.Body.Close()
			got <- resp.StatusCode
		}()
		<-entered
		r.cancel()
		for r.log.line(t, "stopping") == nil {
			time.Sleep(5 * time.Millisecond)
		}
		// Shutdown has begun and waits for the request: the next step
		// must not run meanwhile.
		time.Sleep(100 * time.Millisecond)
		mu.Lock()
		early := slices.Clone(order)
		mu.Unlock()
		if len(early) != 0 {
			t.Errorf("while a request was in flight: %v", early)
		}
		close(release)
		if err := r.stop(t); err != nil {
			t.Fatal(err)
		}
		if code := <-got; code != http.StatusCreated {
			t.Errorf("request in flight: %d, want 201", code)
		}
		if !<-refused {
			t.Error("a new connection was accepted after ShutdownHTTP")
		}
		if want := []string{"request done", "nats drained"}; !slices.Equal(order, want) {
			t.Errorf("order %v, want %v", order, want)
		}
	})
}

// A request that outlasts ShutdownHTTP's timeout makes Run fail with
// "shut down http: ...", and the steps after it do not run (the services
// returned at once); no "stopped" line.
func TestShutdownHTTPTimeout(t *testing.T) {
	t.Parallel()
	entered, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	later := false
	r := start(t, func(s *Service) {
		s.HandleFunc("GET /slow", func(http.ResponseWriter, *http.Request) { close(entered); <-release })
		s.OnShutdown("http", func() error { return s.ShutdownHTTP(100 * time.Millisecond) })
		s.OnShutdown("later", func() error { later = true; return nil })
	})
	go func() {
		if resp, err := http.Get(r.base + "/slow"); err == nil {
			resp.Body.Close()
		}
	}()
	<-entered
	err := r.stop(t)
	if err == nil || !strings.HasPrefix(err.Error(), "shut down http: ") || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Run: %v, want shut down http: context deadline exceeded", err)
	}
	if later {
		t.Error("a step after the failed one ran")
	}
	if r.log.line(t, "svc stopped") != nil {
		t.Error("stopped logged after a failed shutdown")
	}
}

// A task that returns before the signal stops the service: the steps run
// (they are what stops the rest), Run returns the task's error, and no
// stopping line is logged (there was no signal). A task returning nil is
// a clean stop.
func TestTaskEndStopsService(t *testing.T) {
	t.Parallel()
	for _, taskErr := range []error{errors.New("consumer: stream deleted"), nil} {
		buf := &logBuf{}
		svc := New("svc", newLog(buf), StoppingLog("stopping", time.Second))
		fail := make(chan struct{})
		svc.Go(func() error { <-fail; return taskErr })
		stepped := false
		svc.OnShutdown("jobs", func() error { stepped = true; return nil })
		done := make(chan error, 1)
		go func() { done <- svc.Run(context.Background()) }()
		// No limit of its own, as before: the test's timeout is the limit.
		eventually.Until(t.Context(), t, "the service logs its listening line", func(context.Context) error {
			if buf.line(t, "svc listening") == nil {
				return errors.New("no listening line")
			}
			return nil
		})
		close(fail)
		var err error
		select {
		case err = <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("the service did not stop when its task ended")
		}
		if !errors.Is(err, taskErr) || (taskErr == nil) != (err == nil) {
			t.Errorf("Run: %v, want %v", err, taskErr)
		}
		if !stepped {
			t.Error("the steps did not run")
		}
		if buf.line(t, "stopping") != nil {
			t.Error("stopping line without a signal")
		}
		if got := buf.line(t, "svc stopped") != nil; got != (taskErr == nil) {
			t.Errorf("stopped logged: %v, want %v", got, taskErr == nil)
		}
	}
}

// After the steps Run waits for every task, and a task's error is Run's
// when nothing failed before (the batcher's consumer failing while it
// drains); the steps after the one that stopped it still run.
func TestTaskErrorDuringShutdown(t *testing.T) {
	t.Parallel()
	var drained bool
	taskCtx, stopTask := context.WithCancel(context.Background())
	defer stopTask()
	finished := make(chan struct{})
	r := start(t, func(s *Service) {
		task := s.Go(func() error {
			<-taskCtx.Done()
			time.Sleep(50 * time.Millisecond) // storing what it holds
			close(finished)
			return errors.New("ack failed")
		})
		s.OnShutdown("consumer", func() error { stopTask(); return nil })
		s.OnShutdown("wait", func() error { _ = task.Wait(); return nil })
		s.OnShutdown("nats", func() error { drained = true; return nil })
	})
	err := r.stop(t)
	if err == nil || err.Error() != "ack failed" {
		t.Errorf("Run: %v, want the task's error", err)
	}
	select {
	case <-finished:
	default:
		t.Error("Run returned before the task")
	}
	if !drained {
		t.Error("the steps after the task's were skipped")
	}
}

// A failing step's error is Run's and ends the shutdown.
func TestStepError(t *testing.T) {
	t.Parallel()
	ran := []string{}
	r := start(t, func(s *Service) {
		s.OnShutdown("a", func() error { ran = append(ran, "a"); return errors.New("a failed") })
		s.OnShutdown("b", func() error { ran = append(ran, "b"); return nil })
	})
	if err := r.stop(t); err == nil || err.Error() != "a failed" {
		t.Errorf("Run: %v", err)
	}
	if !slices.Equal(ran, []string{"a"}) {
		t.Errorf("ran %v", ran)
	}
}

// A taken port fails Listen with net.Listen's error (the service words it),
// and Run without Listen with "listen on ADDR: ...".
func TestListenErrors(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	addr := taken.Addr().String()
	s := New("svc", zerolog.Nop(), Addr(addr))
	var oe *net.OpError
	if err := s.Listen(); !errors.As(err, &oe) {
		t.Errorf("Listen on a taken port: %v, want a *net.OpError", err)
	}
	if s.Addr() != nil {
		t.Error("Addr after a failed Listen")
	}
	s = New("svc", zerolog.Nop(), Addr(addr))
	if err := s.Run(context.Background()); err == nil || !strings.HasPrefix(err.Error(), "listen on "+addr+": ") {
		t.Errorf("Run on a taken port: %v", err)
	}

	s = New("svc", zerolog.Nop(), Addr("127.0.0.1:0"))
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	if s.Listen() == nil {
		t.Error("a second Listen succeeded")
	}
	// Close frees the port of a service that failed before Run.
	a := s.Addr().String()
	s.Close()
	l, err := net.Listen("tcp", a)
	if err != nil {
		t.Errorf("port still held after Close: %v", err)
	} else {
		l.Close()
	}
}

// Listen before Run: the address is known before serving (the intake
// prints its "Order form:" line from it) and Run serves on that listener.
func TestListenThenRun(t *testing.T) {
	t.Parallel()
	buf := &logBuf{}
	s := New("svc", newLog(buf), Addr("127.0.0.1:0"))
	if s.Addr() != nil {
		t.Error("Addr before Listen")
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	addr := s.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	if code, _, _ := get(t, "http://"+addr+"/healthz"); code != 200 {
		t.Errorf("healthz on the address from Listen: %d", code)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if l := buf.line(t, "svc listening"); l == nil || l["addr"] != addr {
		t.Errorf("listening line %v, want addr %s", l, addr)
	}
	if s.Run(context.Background()) == nil {
		t.Error("a second Run succeeded")
	}
}

// The profiler is on its own listener, not the service's, and is closed
// when Run returns.
func TestPprof(t *testing.T) {
	t.Parallel()
	var paddr net.Addr
	r := start(t, func(s *Service) {
		a, err := s.ServePprof("127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		paddr = a
	})
	if code, body, _ := get(t, "http://"+paddr.String()+"/debug/pprof/cmdline"); code != 200 || body == "" {
		t.Errorf("pprof cmdline: %d %q", code, body)
	}
	if code, _, _ := get(t, r.base+"/debug/pprof/"); code != http.StatusNotFound {
		t.Errorf("pprof on the service's listener: %d, want 404", code)
	}
	if l := r.log.line(t, "profiler listening (PPROF_ADDR)"); l == nil || l["addr"] != paddr.String() {
		t.Errorf("profiler line %v", l)
	}
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	if _, err := net.DialTimeout("tcp", paddr.String(), time.Second); err == nil {
		t.Error("profiler still listening after Run returned")
	}

	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	if _, err := New("svc", zerolog.Nop()).ServePprof(taken.Addr().String()); err == nil {
		t.Error("ServePprof on a taken port succeeded")
	}
}

// The task that ended first, and so stopped the service, gives Run's
// error, even if a task started before it fails later while stopping.
func TestFirstEndedTaskWins(t *testing.T) {
	t.Parallel()
	buf := &logBuf{}
	svc := New("svc", newLog(buf))
	stopA := make(chan struct{})
	svc.Go(func() error { <-stopA; return errors.New("a, while stopping") })
	svc.Go(func() error { return errors.New("b, first") })
	svc.OnShutdown("stop a", func() error { close(stopA); return nil })
	err := svc.Run(context.Background())
	if err == nil || err.Error() != "b, first" {
		t.Errorf("Run: %v, want the first-ended task's error", err)
	}
}
