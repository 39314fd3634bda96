// Package service is the skeleton the three services (intake, batcher,
// reconciler) run in: one HTTP server with timeouts on HTTP_ADDR carrying
// /healthz, /readyz and /metrics besides the service's own routes, an
// optional profiler on a listener of its own, and the life cycle from
// "listening" to "stopped": serve until the context ends (SIGTERM), then
// run the service's shutdown steps in the order it registered them.
//
// The order of the steps is the service's to choose, because it differs on
// purpose: the intake stops HTTP first (its requests are the work in
// flight) and drains NATS after; the batcher stops its consumer and its
// jobs first and keeps HTTP to the end (so /metrics and /readyz answer
// while it finishes a batch); the reconciler finishes its check, then stops
// HTTP. The skeleton therefore never stops HTTP by itself before the steps:
// a service puts ShutdownHTTP among its steps where it belongs (and the
// server is closed after the last step in any case).
//
// What the skeleton logs is what the services logged before it existed,
// because tests and the pipeline launcher read it: "<name> listening" with
// the address in "addr" (tests on port 0 learn the address from it; it is
// the first line that carries an "addr" field, except for the profiler's
// line when PPROF_ADDR is set), the stopping line on SIGTERM, and
// "<name> stopped" after a clean shutdown.
package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
)

// Timeouts are the HTTP server's. Without them a client could hold a
// connection, and its goroutine, for ever: trickling a request, never
// reading the answer, or keeping an idle keep-alive connection open. The
// fields are those of the services' own httpTimeouts, so that
// service.Timeouts(cfg.HTTP) converts one.
type Timeouts struct {
	ReadHeader, Read, Write, Idle time.Duration
}

// DefaultTimeouts fill any timeout a service leaves at zero: a zero
// timeout in http.Server means none, which is never what a service wants.
var DefaultTimeouts = Timeouts{
	ReadHeader: 5 * time.Second,
	Read:       15 * time.Second,
	Write:      30 * time.Second,
	Idle:       2 * time.Minute,
}

// pprofTimeouts are the profiler listener's. WriteTimeout leaves room for a
// profile or trace of up to a minute and a half (?seconds=, 30 by default):
// pprof refuses a longer one rather than be cut off.
var pprofTimeouts = Timeouts{
	ReadHeader: 5 * time.Second,
	Read:       15 * time.Second,
	Write:      2 * time.Minute,
	Idle:       2 * time.Minute,
}

// Option configures a Service.
type Option func(*Service)

// Addr is the address the HTTP server listens on (HTTP_ADDR); port 0 picks
// a free one, which Addr and the "listening" log line report.
func Addr(addr string) Option { return func(s *Service) { s.addr = addr } }

// WithTimeouts sets the HTTP server's timeouts; a zero field takes
// DefaultTimeouts' value.
func WithTimeouts(t Timeouts) Option { return func(s *Service) { s.timeouts = t } }

// MaxHeaderBytes bounds the request headers (http.Server.MaxHeaderBytes;
// 0 leaves net/http's default of 1 MiB).
func MaxHeaderBytes(n int) Option { return func(s *Service) { s.maxHeaderBytes = n } }

// WithRegistry serves reg on /metrics instead of a new registry. The caller
// registers the Go and process collectors on it if it wants them (the
// default registry has both).
func WithRegistry(reg *prometheus.Registry) Option { return func(s *Service) { s.reg = reg } }

// ReadyTimeout bounds each /readyz answer: the checks get a context that
// ends after d (0: only the request's own context).
func ReadyTimeout(d time.Duration) Option { return func(s *Service) { s.readyTimeout = d } }

// NoProbes leaves /healthz and /readyz to the service's own handler (the
// intake's web adapter answers both, in its own words): the skeleton then
// registers neither, and Ready checks are refused.
func NoProbes() Option { return func(s *Service) { s.noProbes = true } }

// ListeningLog adds fields to the "<name> listening" line, after "addr".
func ListeningLog(fields func(*zerolog.Event) *zerolog.Event) Option {
	return func(s *Service) { s.listeningFields = fields }
}

// StoppingLog is the line logged when the context ends, with the shutdown
// timeout in "timeout" (a zero timeout is left out). Without it the line
// is "stopping".
func StoppingLog(msg string, timeout time.Duration) Option {
	return func(s *Service) { s.stoppingMsg, s.stoppingTimeout = msg, timeout }
}

// Service is one service's HTTP surface and life cycle. Build it with New,
// add routes, readiness checks, tasks and shutdown steps, then Run it once.
type Service struct {
	name string
	log  zerolog.Logger

	addr            string
	timeouts        Timeouts
	maxHeaderBytes  int
	reg             *prometheus.Registry
	readyTimeout    time.Duration
	noProbes        bool
	listeningFields func(*zerolog.Event) *zerolog.Event
	stoppingMsg     string
	stoppingTimeout time.Duration

	mux *http.ServeMux
	hs  *http.Server

	mu     sync.Mutex // guards what follows: registration may race a request
	checks []readyCheck
	steps  []step
	tasks  []*Task
	ln     net.Listener
	extra  []*http.Server // the profiler's, closed when Run returns
	ran    bool

	stopping atomic.Bool
	// ended is closed when the first task returns (endedOnce).
	ended     chan struct{}
	endedOnce sync.Once
	firstEnd  *Task
}

type readyCheck struct {
	failBody string
	check    func(context.Context) error
}

type step struct {
	name string
	fn   func() error
}

// New returns the service called name (it names the log lines: "intake
// listening", "intake stopped"). It registers GET /metrics, and GET
// /healthz and GET /readyz unless NoProbes.
func New(name string, log zerolog.Logger, opts ...Option) *Service {
	s := &Service{name: name, log: log, addr: "127.0.0.1:0", stoppingMsg: "stopping",
		mux: http.NewServeMux(), ended: make(chan struct{})}
	for _, o := range opts {
		o(s)
	}
	if s.reg == nil {
		s.reg = prometheus.NewRegistry()
		s.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	s.timeouts = withDefaults(s.timeouts, DefaultTimeouts)
	// /metrics is outside any adapter's middleware: no rate limit, no
	// request log.
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	if !s.noProbes {
		s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
		s.mux.HandleFunc("GET /readyz", s.readyz)
	}
	s.hs = &http.Server{
		Handler:           s.mux,
		ReadHeaderTimeout: s.timeouts.ReadHeader,
		ReadTimeout:       s.timeouts.Read,
		WriteTimeout:      s.timeouts.Write,
		IdleTimeout:       s.timeouts.Idle,
		MaxHeaderBytes:    s.maxHeaderBytes,
	}
	return s
}

func withDefaults(t, d Timeouts) Timeouts {
	pick := func(v, d time.Duration) time.Duration {
		if v > 0 {
			return v
		}
		return d
	}
	return Timeouts{pick(t.ReadHeader, d.ReadHeader), pick(t.Read, d.Read), pick(t.Write, d.Write), pick(t.Idle, d.Idle)}
}

// Registry is the registry /metrics serves: the service registers its
// metrics on it.
func (s *Service) Registry() *prometheus.Registry { return s.reg }

// Handle registers handler for pattern (http.ServeMux patterns) on the
// HTTP server.
func (s *Service) Handle(pattern string, handler http.Handler) { s.mux.Handle(pattern, handler) }

// HandleFunc registers f for pattern.
func (s *Service) HandleFunc(pattern string, f func(http.ResponseWriter, *http.Request)) {
	s.mux.HandleFunc(pattern, f)
}

// Mux is the HTTP server's mux, for adapters that register their routes on
// a mux themselves (auditweb's Register).
func (s *Service) Mux() *http.ServeMux { return s.mux }

// Ready adds a readiness check. /readyz runs the checks in the order they
// were added and answers 503 with failBody (http.Error: the text and a
// newline) for the first that fails, or 200 "ready\n" when all pass.
// failBody is fixed text: anyone who can reach the port may ask, so no
// address, no secret, no error text.
func (s *Service) Ready(failBody string, check func(context.Context) error) {
	if s.noProbes {
		panic("service: Ready with NoProbes: the service's own handler answers /readyz")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checks = append(s.checks, readyCheck{failBody, check})
}

func (s *Service) readyz(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if s.readyTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.readyTimeout)
		defer cancel()
	}
	s.mu.Lock()
	checks := s.checks
	s.mu.Unlock()
	for _, c := range checks {
		if err := c.check(ctx); err != nil {
			http.Error(w, c.failBody, http.StatusServiceUnavailable)
			return
		}
	}
	io.WriteString(w, "ready\n")
}

// Stopping reports whether shutdown has begun: from then on a service's
// own readiness (the intake's) answers "shutting down", so that a load
// balancer stops sending work here.
func (s *Service) Stopping() bool { return s.stopping.Load() }

// OnShutdown adds a step to run when the service stops, after every step
// added before it. A step that fails ends the shutdown: Run returns its
// error at once (after closing the listeners), as the services did.
func (s *Service) OnShutdown(name string, fn func() error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.steps = append(s.steps, step{name, fn})
}

// Task is a goroutine whose end stops the service (the batcher's stream
// consumer): see Go.
type Task struct {
	done chan struct{}
	err  error
}

// Wait waits for the task to return and gives its error.
func (t *Task) Wait() error {
	<-t.done
	return t.err
}

// Go runs fn now, in a goroutine. If fn returns before the context given to
// Run ends, the service shuts down and Run returns fn's error (nil: a clean
// stop). The shutdown steps are what makes fn return otherwise (cancel its
// context); after the last step Run waits for every task and returns the
// first error among them if nothing failed before.
func (s *Service) Go(fn func() error) *Task {
	t := &Task{done: make(chan struct{})}
	s.mu.Lock()
	s.tasks = append(s.tasks, t)
	s.mu.Unlock()
	go func() {
		defer close(t.done)
		t.err = fn()
		s.endedOnce.Do(func() {
			s.firstEnd = t
			close(s.ended)
		})
	}()
	return t
}

// Listen opens the HTTP listener now, so that a service can fail on a
// taken port at the point of its start-up where it always did, and learn
// the address (Addr) before Run. The error is net.Listen's: the service
// wraps it in its own words. Run listens if Listen was not called.
func (s *Service) Listen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		return errors.New("service: already listening")
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return err
	}
	s.ln = ln
	return nil
}

// Addr is the address the HTTP server listens on, nil before Listen.
func (s *Service) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// ServePprof serves Go's profiler (/debug/pprof/) on a listener of its own
// at addr, never on the service's: profiles hold code locations and counts,
// not request data, but they are for operators (bind it to loopback). It
// logs "profiler listening (PPROF_ADDR)" with the address; the listener is
// closed when Run returns (or by Close). The error is net.Listen's.
func (s *Service) ServePprof(addr string) (net.Addr, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	ps := &http.Server{Handler: pprofMux(), ReadHeaderTimeout: pprofTimeouts.ReadHeader, ReadTimeout: pprofTimeouts.Read,
		WriteTimeout: pprofTimeouts.Write, IdleTimeout: pprofTimeouts.Idle}
	s.mu.Lock()
	s.extra = append(s.extra, ps)
	s.mu.Unlock()
	go func() { _ = ps.Serve(ln) }()
	s.log.Info().Str("addr", ln.Addr().String()).Msg("profiler listening (PPROF_ADDR)")
	return ln.Addr(), nil
}

// pprofMux serves net/http/pprof's handlers on a mux of their own
// (importing the package also registers them on http.DefaultServeMux,
// which no service serves).
func pprofMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	return mux
}

// ShutdownHTTP stops the HTTP server gracefully: it closes the listener and
// idle connections and waits, up to timeout, for the requests in flight.
// A service calls it from the shutdown step where HTTP must stop.
func (s *Service) ShutdownHTTP(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := s.hs.Shutdown(ctx); err != nil {
		return fmt.Errorf("shut down http: %w", err)
	}
	return nil
}

// Close closes the listeners and servers at once, for a start-up that
// fails after Listen or ServePprof and before Run (defer it after New; it
// is harmless after Run).
func (s *Service) Close() {
	_ = s.hs.Close()
	s.mu.Lock()
	ln, extra := s.ln, s.extra
	s.extra = nil
	s.mu.Unlock()
	if ln != nil {
		_ = ln.Close() // Serve may never have taken it over
	}
	for _, ps := range extra {
		_ = ps.Close()
	}
}

// Run logs "<name> listening" and serves until ctx ends, the server fails
// or a task (Go) returns. Then it marks the service as stopping, logs the
// stopping line (only when ctx ended), runs the shutdown steps in order,
// waits for the tasks, closes what is still open and logs "<name> stopped"
// unless something failed. The error is the first of: the server's
// ("serve http: ..."), the task's that ended first, a step's, another
// task's.
func (s *Service) Run(ctx context.Context) error {
	s.mu.Lock()
	ran := s.ran
	s.ran = true
	s.mu.Unlock()
	if ran {
		return errors.New("service: Run called twice")
	}
	if s.Addr() == nil {
		if err := s.Listen(); err != nil {
			return fmt.Errorf("listen on %s: %w", s.addr, err)
		}
	}
	defer s.Close()
	s.mu.Lock()
	ln := s.ln
	s.mu.Unlock()
	ev := s.log.Info().Str("addr", ln.Addr().String())
	if s.listeningFields != nil {
		ev = s.listeningFields(ev)
	}
	ev.Msg(s.name + " listening")

	served := make(chan error, 1)
	go func() { served <- s.hs.Serve(ln) }()
	var runErr error
	select {
	case <-ctx.Done():
		s.stopping.Store(true)
		ev := s.log.Info()
		if s.stoppingTimeout > 0 {
			ev = ev.Dur("timeout", s.stoppingTimeout)
		}
		ev.Msg(s.stoppingMsg)
	case err := <-served:
		s.stopping.Store(true)
		runErr = fmt.Errorf("serve http: %w", err)
		served <- err // for the wait below
	case <-s.ended:
		s.stopping.Store(true)
		runErr = s.firstEnd.err
	}

	s.mu.Lock()
	steps, tasks := s.steps, s.tasks
	s.mu.Unlock()
	for _, st := range steps {
		if err := st.fn(); err != nil {
			if runErr != nil {
				return runErr
			}
			return err
		}
	}
	for _, t := range tasks {
		if err := t.Wait(); err != nil && runErr == nil {
			runErr = err
		}
	}
	// The steps normally stopped HTTP (ShutdownHTTP); if not, stop it now,
	// so that nothing is served by a service that says it stopped.
	_ = s.hs.Close()
	<-served
	if runErr != nil {
		return runErr
	}
	s.log.Info().Msg(s.name + " stopped")
	return nil
}
