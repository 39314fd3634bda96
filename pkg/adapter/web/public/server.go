// Package public is the intake's HTTP adapter: the public order form
// (GOV.UK Frontend, works without JavaScript), the JSON API, the
// user-research pages, health checks, and the protections around them
// (security headers, CSRF, body limit, rate limit). It translates requests
// into the use cases, pkg/stage/placeorder and pkg/stage/research, and their
// outcomes into pages and problem responses; it knows nothing of NATS or
// PostgreSQL.
//
// Personal data never leaves a handler except to the use cases (which
// publish an order only sealed under the day key of its business date,
// docs/privacy.md): it is not logged, not put in a URL or cookie, and not
// echoed in an error.
package public

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"booklets/pkg/adapter/web/govuk"
	"booklets/pkg/domain/catalogue"
	"booklets/pkg/domain/order"
	"booklets/pkg/domain/reference"
	"booklets/pkg/stage/placeorder"
	"booklets/pkg/stage/research"
	"booklets/pkg/stage/trackorder"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// MinSecretLen is the least number of bytes INTAKE_SECRET must have.
const MinSecretLen = 32

// MaxBodyBytes is the largest request body accepted, form or API. An order
// is well under 2 KiB; the sealed form state adds about as much again.
const MaxBodyBytes = 16 << 10

// Config is what the web adapter needs.
type Config struct {
	// Orders places the orders of the form and the API (sealed, published,
	// idempotent); /readyz asks it whether the stream and the day key are
	// usable.
	Orders    *placeorder.Service
	Catalogue *catalogue.Catalogue
	// Ready, when set, is checked by /readyz besides the stream (the day
	// keys' database).
	Ready func(context.Context) error
	// Secret keys the sealing of form state. Every replica must share it.
	Secret []byte
	// Clock times the form state's expiry (StateTTL); time.Now when nil.
	// In demo mode the intake passes the real clock here while orders are
	// received on the demo clock: on it an hour lasts a fraction of a
	// second.
	Clock  func() time.Time
	Logger zerolog.Logger
	// RatePerMinute and Burst limit requests per client IP (assets and
	// health checks excepted). Zero means 60 and 20.
	RatePerMinute int
	Burst         int
	// ClientIPHeader, when set (e.g. "X-Forwarded-For"), is the header a
	// trusted reverse proxy puts the client's address in; its last value is
	// used. Unset, the connection's address is used.
	ClientIPHeader string
	// StateTTL is how long a person has between two pages. Zero means 1h.
	StateTTL time.Duration
	// TimeoutWarning is how long before StateTTL runs out the pages warn
	// (timeout.go). Zero means 5 minutes, or a quarter of StateTTL when
	// that is shorter.
	TimeoutWarning time.Duration
	// Research, when set, turns on the user-research sign-up and
	// withdrawal pages (volunteer.go).
	Research *research.Service
	// Metrics, when set, count orders received and rejected (metrics.go;
	// the use case reports the publishes to the same Metrics).
	Metrics *Metrics
	// Tracker, when set, turns on checking and cancelling an order: the
	// /status pages and GET /api/v1/orders/{reference}, POST
	// /api/v1/orders/{reference}/cancel (status.go, status_api.go).
	Tracker *trackorder.Service
	// StatusRatePerMinute and StatusBurst limit looking orders up and
	// cancelling them per client IP, besides the general limit. Zero
	// means 10 and 5.
	StatusRatePerMinute int
	StatusBurst         int
	// Identity is who runs the service (identity.go). The zero value means
	// DefaultIdentity, the marked example; any other is validated.
	Identity Identity
}

// Server serves the form and the API.
type Server struct {
	orders    *placeorder.Service
	catalogue *catalogue.Catalogue
	ready     func(context.Context) error
	log       zerolog.Logger
	sealer    *sealer
	limiter   *limiter
	ipHeader  string
	pages     map[string]*template.Template
	// catalogues are the pages' texts in English and Welsh (i18n.go).
	catalogues *catalogues
	handler    http.Handler
	research   *research.Service // nil: no research pages
	metrics    *Metrics          // nil: not counted
	identity   Identity
	// timeoutWarning is Config.TimeoutWarning.
	timeoutWarning time.Duration
	// tracker is Config.Tracker (nil: no status pages); lookupLimiter
	// its stricter limit.
	tracker       *trackorder.Service
	lookupLimiter *limiter
}

// New checks the configuration, parses every page template and builds
// the handler.
func New(cfg Config) (*Server, error) {
	if cfg.Orders == nil || cfg.Catalogue == nil {
		return nil, errors.New("web: Orders and Catalogue are required")
	}
	if len(cfg.Secret) < MinSecretLen {
		return nil, fmt.Errorf("web: secret must be at least %d bytes", MinSecretLen)
	}
	if cfg.RatePerMinute <= 0 {
		cfg.RatePerMinute = 60
	}
	if cfg.Burst <= 0 {
		cfg.Burst = 20
	}
	if cfg.StateTTL <= 0 {
		cfg.StateTTL = time.Hour
	}
	if cfg.StatusRatePerMinute <= 0 {
		cfg.StatusRatePerMinute = 10
	}
	if cfg.StatusBurst <= 0 {
		cfg.StatusBurst = 5
	}
	if cfg.TimeoutWarning <= 0 {
		cfg.TimeoutWarning = min(5*time.Minute, cfg.StateTTL/4)
	}
	if cfg.Identity.isZero() {
		cfg.Identity = DefaultIdentity()
	} else if err := cfg.Identity.Validate(); err != nil {
		return nil, fmt.Errorf("web: service identity: %w", err)
	}
	if cfg.TimeoutWarning >= cfg.StateTTL {
		return nil, errors.New("web: TimeoutWarning must be shorter than StateTTL")
	}
	stateClock := cfg.Clock
	if stateClock == nil {
		stateClock = time.Now
	}
	sl, err := newSealer(cfg.Secret, cfg.StateTTL, stateClock)
	if err != nil {
		return nil, err
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	cats, err := loadCatalogues()
	if err != nil {
		return nil, err
	}
	s := &Server{
		orders:    cfg.Orders,
		catalogue: cfg.Catalogue,
		ready:     cfg.Ready,
		log:       cfg.Logger,
		sealer:    sl,
		// The limiter uses the real time, not the injected clock: it protects
		// the process, and the clock is about when orders are received.
		limiter:    newLimiter(cfg.RatePerMinute, cfg.Burst, time.Now),
		ipHeader:   cfg.ClientIPHeader,
		pages:      pages,
		catalogues: cats,
		research:   cfg.Research,
		metrics:    cfg.Metrics,
		identity:   cfg.Identity,

		timeoutWarning: cfg.TimeoutWarning,

		tracker:       cfg.Tracker,
		lookupLimiter: newLimiter(cfg.StatusRatePerMinute, cfg.StatusBurst, time.Now),
	}
	s.handler = s.routes()
	return s, nil
}

// ServeHTTP serves a request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	handle := func(pattern string, h func(http.ResponseWriter, *http.Request) error) {
		mux.Handle(pattern, s.route(pattern, h))
	}
	handle("GET /{$}", s.start)
	for _, q := range questions {
		handle("GET "+q.path, s.showQuestion(q))
		handle("POST "+q.path, s.submitQuestion(q))
	}
	handle("GET "+pathCheck, s.checkPage)
	handle("POST "+pathCheck, s.checkSubmit)
	handle("GET "+pathConfirmation, s.confirmation)
	handle("POST "+pathKeep, s.keep)
	handle("GET "+pathTimedOut, s.timedOut)
	handle("GET /privacy", s.static("privacy.html", "privacy.title"))
	handle("GET /cookies", s.static("cookies.html", "cookies.title"))
	handle("GET /accessibility", s.static("accessibility.html", "accessibility.title"))
	handle("GET /contact", s.static("contact.html", "contact.title"))
	s.researchRoutes(handle)
	s.statusRoutes(handle)
	handle("POST /api/v1/orders", s.createOrder)
	handle("GET /healthz", s.healthz)
	handle("GET /readyz", s.readyz)
	handle("/", func(http.ResponseWriter, *http.Request) error { return errNotFound })

	app, _ := fs.Sub(staticFS, "static/app")
	mux.Handle("GET /assets/app/", s.route("GET /assets/app/", assets(http.StripPrefix("/assets/app/", http.FileServerFS(app)))))
	mux.Handle("GET /assets/", s.route("GET /assets/", assets(http.StripPrefix("/assets/", govuk.Assets()))))

	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, errCrossOrigin)
	}))
	var h http.Handler = cop.Handler(mux)
	h = s.limit(h)
	h = limitBody(h)
	h = securityHeaders(h)
	return s.logRequests(withLanguage(h))
}

// route adapts a handler that returns an error, and records the route
// pattern for the request log (the pattern, never the raw URL).
func (s *Server) route(pattern string, h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		infoFrom(r.Context()).route = pattern
		err := h(w, r)
		s.metrics.order(orderChannel(pattern), err)
		if err != nil {
			s.writeError(w, r, err)
		}
	})
}

// assets serves embedded files with long cache lifetimes. Links to the
// stylesheet and script carry the version in a query string, so an
// upgrade is fetched at once.
func assets(h http.Handler) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		if strings.HasSuffix(r.URL.Path, "/") {
			return errNotFound // no directory listings
		}
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		h.ServeHTTP(w, r)
		return nil
	}
}

// securityHeaderValues are the headers every response carries. The policy
// allows no inline script or style: GOV.UK Frontend's "js-enabled" class
// is added by an external script. Pages carry answers and sealed state:
// never store them (the assets handler overrides Cache-Control for its
// files).
var securityHeaderValues = [][2]string{
	{"Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; font-src 'self'; " +
		"connect-src 'self'; manifest-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"},
	{"X-Content-Type-Options", "nosniff"},
	{"Referrer-Policy", "no-referrer"},
	{"X-Frame-Options", "DENY"},
	{"Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()"},
	{"Cross-Origin-Opener-Policy", "same-origin"},
	{"Cache-Control", "no-store"},
}

// securityHeaders sets securityHeaderValues on every response. The value
// slices are made once and shared by all responses, sparing seven
// allocations a request: each has length and capacity 1, so Header.Add
// copies before appending, Header.Set replaces the slice, and net/http only
// reads them; nothing writes into one in place.
func securityHeaders(next http.Handler) http.Handler {
	type header struct {
		key   string
		value []string
	}
	hs := make([]header, len(securityHeaderValues))
	for i, kv := range securityHeaderValues {
		hs[i] = header{http.CanonicalHeaderKey(kv[0]), []string{kv[1]}}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		for _, kv := range hs {
			h[kv.key] = kv.value
		}
		next.ServeHTTP(w, r)
	})
}

// limitBody caps every request body.
func limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
		}
		next.ServeHTTP(w, r)
	})
}

// limit applies the per-client rate limit, except to assets (a page needs
// several) and health checks (the orchestrator polls them).
func (s *Server) limit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if strings.HasPrefix(p, "/assets/") || p == "/healthz" || p == "/readyz" {
			next.ServeHTTP(w, r)
			return
		}
		if wait := s.limiter.reserve(s.clientIP(r)); wait > 0 {
			s.metrics.rateLimited(r)
			s.writeError(w, r, &rateLimitedError{retryAfter: wait})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) clientIP(r *http.Request) string {
	if s.ipHeader != "" {
		if vs := r.Header.Values(s.ipHeader); len(vs) > 0 {
			parts := strings.Split(vs[len(vs)-1], ",")
			if ip := strings.TrimSpace(parts[len(parts)-1]); ip != "" {
				return ip
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// requestInfo is what the request log needs to know from the handlers.
type requestInfo struct {
	id    string
	route string
	// lang is the language of the page (its path) or of the API's
	// answer (Accept-Language): withLanguage.
	lang      lang
	reference string
	duplicate bool
}

type infoKey struct{}

func infoFrom(ctx context.Context) *requestInfo {
	if i, ok := ctx.Value(infoKey{}).(*requestInfo); ok {
		return i
	}
	return &requestInfo{}
}

func (i *requestInfo) logger(l zerolog.Logger) *zerolog.Logger {
	l = l.With().Str("request_id", i.id).Logger()
	return &l
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// logRequests logs one line per request: id, method, route pattern,
// status, duration and, for an order, its reference. Never the URL, a
// header value, or the body.
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		var b [8]byte
		rand.Read(b[:])
		info := &requestInfo{id: hex.EncodeToString(b[:]), route: "unmatched"}
		w.Header().Set("X-Request-Id", info.id)
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), infoKey{}, info)))
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		ev := s.log.Info()
		if strings.HasPrefix(info.route, "GET /assets/") || info.route == "GET /healthz" || info.route == "GET /readyz" {
			ev = s.log.Debug()
		}
		if info.reference != "" {
			ev = ev.Str("reference", info.reference).Bool("duplicate", info.duplicate)
		}
		ev.Str("request_id", info.id).Str("method", r.Method).Str("route", info.route).
			Int("status", sw.status).Dur("duration", time.Since(start)).Msg("request")
	})
}

// place places a validated order (placeorder.Service.Place) and notes its
// reference for the request log.
func (s *Server) place(ctx context.Context, v order.Validated, idemKey string) (reference.Reference, error) {
	p, err := s.orders.Place(ctx, v, idemKey)
	if err != nil {
		return "", err
	}
	info := infoFrom(ctx)
	info.reference, info.duplicate = p.Reference.String(), p.Duplicate
	return p.Reference, nil
}

// RequestLog is placeorder.Config.RequestLog for orders placed through
// this adapter: the log of the request (its id) a context belongs to, or
// nil outside a request. It is made only when the use case logs, which an
// order that goes well never makes it do.
func RequestLog(log zerolog.Logger) func(context.Context) *zerolog.Logger {
	return func(ctx context.Context) *zerolog.Logger {
		if i, ok := ctx.Value(infoKey{}).(*requestInfo); ok {
			return i.logger(log)
		}
		return nil
	}
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, "ok")
	return nil
}

// readyz answers 200 only when NATS is connected, the stream and the
// idempotency bucket exist, Ready (the intake's: the database) passes and
// the current day's key can be used, so that a load balancer sends no
// orders to an instance that cannot store them. A 503 says why in one line
// of fixed text (no addresses, no KEK ids: anyone may ask).
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	reason := ""
	err := s.orders.Ready(ctx)
	if err != nil {
		reason = "order stream unavailable (NATS JetStream)"
	}
	if err == nil && s.ready != nil {
		if err = s.ready(ctx); err != nil {
			reason = "not ready"
			if re := (*ReadyError)(nil); errors.As(err, &re) {
				reason = re.Reason // the intake's own words
			}
		}
	}
	if err == nil {
		if err = s.orders.CheckDayKey(ctx); err != nil {
			reason = "day key unavailable"
			if errors.Is(err, placeorder.ErrDayKeyFault) {
				reason = err.Error()
			}
		}
	}
	if err != nil {
		infoFrom(r.Context()).logger(s.log).Debug().Err(err).Msg("not ready")
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "not ready:", reason)
		return nil
	}
	fmt.Fprintln(w, "ready")
	return nil
}

// ReadyError is a reason for not being ready that Config.Ready may give
// in words fit for /readyz's answer; any other error is shown as "not
// ready" (and logged at debug level).
type ReadyError struct {
	Reason string // fixed text: no address, no secret
	Err    error  // the cause, for the log
}

func (e *ReadyError) Error() string {
	if e.Err == nil {
		return e.Reason
	}
	return e.Reason + ": " + e.Err.Error()
}
func (e *ReadyError) Unwrap() error { return e.Err }
