// Command intake serves the public order form and the orders API, and
// publishes each order to NATS JetStream.
//
// Configuration (environment): HTTP_ADDR, NATS_URL, NATS_STREAM,
// NATS_SUBJECT, NATS_REPLICAS, AREAS_FILE, INTAKE_SECRET (or
// INTAKE_SECRET_FILE),
// SERVICE_IDENTITY_FILE (who runs the service, public.Identity),
// RATE_LIMIT_PER_MINUTE, RATE_LIMIT_BURST, STATUS_RATE_LIMIT_PER_MINUTE,
// STATUS_RATE_LIMIT_BURST (checking and cancelling an order, issue 17),
// CLIENT_IP_HEADER, LOG_FORMAT,
// LOG_LEVEL, DATABASE_URL, MIGRATE (the user-research sign-up,
// docs/research.md; and the day keys), KEK or KEK_FILE (required: the
// personal part of every order is sealed, docs/privacy.md), BATCH_CUTOFF
// (which business day, hence which day key), SHUTDOWN_TIMEOUT (10s),
// DEMO_DAY and DEMO_EPOCH (demo mode, docs/operations.md), PPROF_ADDR
// (off by default: Go's profiler on a listener of its own, for
// docs/performance.md). Prometheus metrics on /metrics. See docs/api.md.
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"

	"booklets/migrations"
	"booklets/pkg/adapter/jetstream"
	"booklets/pkg/adapter/postgres"
	"booklets/pkg/adapter/web/public"
	"booklets/pkg/domain/businessday"
	"booklets/pkg/domain/catalogue"
	"booklets/pkg/domain/seal"
	"booklets/pkg/platform/clock"
	"booklets/pkg/platform/envconfig"
	"booklets/pkg/platform/logging"
	"booklets/pkg/platform/service"
	"booklets/pkg/stage/placeorder"
	"booklets/pkg/stage/research"
	"booklets/pkg/stage/trackorder"
)

func main() {
	// The intake's live heap is a few MiB while it allocates ~14 KiB per
	// order, so at the default GOGC (100) the collector runs dozens of times
	// a second under load; 400 costs a few MiB more and ~20 % less CPU per
	// order (docs/performance.md). GOGC set in the environment wins.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "intake:", err)
		if errors.As(err, new(*usageError)) {
			fmt.Fprint(os.Stderr, usage)
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// usage is what -h and --help print (to stdout, exit 0), and what follows
// a wrong flag or argument (on stderr, exit 2).
const usage = `Usage: intake [-h | --help]

Serves the public order form and the orders API (POST /api/v1/orders),
seals each order under its business day's key and publishes it to NATS
JetStream. It takes no arguments: it is configured by environment
variables, each with a default (README.md, "Configuration"):

  HTTP_ADDR              listen address (127.0.0.1:8080): pages, API,
                         /healthz, /readyz, /metrics
  NATS_URL, NATS_STREAM, NATS_SUBJECT, NATS_REPLICAS, NATS_DUPE_WINDOW
                         JetStream; NATS_DUPE_WINDOW (24h) is also how long
                         an Idempotency-Key is honoured
  KEK or KEK_FILE        key-encryption keys (required), id:base64key
  INTAKE_SECRET[_FILE]   shared by every replica (random per process if unset)
  DATABASE_URL, MIGRATE  PostgreSQL: day keys, research sign-ups
  BATCH_CUTOFF           end of the business day (23:00, Europe/London)
  ANSWERS_TIMEOUT        how long the form keeps answers after the last page
                         (1h); ANSWERS_TIMEOUT_WARNING, when it warns (5m)
  SERVICE_IDENTITY_FILE  JSON file naming who runs the service: data
                         controller, DPO, contact, the other way to order,
                         feedback link, phase (unset: a marked example, with
                         a warning; deploy/service-identity.json)
  STATUS_RATE_LIMIT_PER_MINUTE, STATUS_RATE_LIMIT_BURST
                         looking an order up or cancelling it, per client
                         IP, besides the general limit (10 a minute, burst 5)
  AREAS_FILE, RATE_LIMIT_PER_MINUTE, RATE_LIMIT_BURST, CLIENT_IP_HEADER,
  SHUTDOWN_TIMEOUT, LOG_FORMAT, LOG_LEVEL, PPROF_ADDR, DEMO_DAY, DEMO_EPOCH

-h and --help print this and do nothing else.
`

// usageError is a wrong flag or argument: main prints the usage after it.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// parseArgs reads the command line: only -h or --help (help true), or
// nothing. It reads no setting and connects to nothing.
func parseArgs(args []string) (help bool, err error) {
	fs := flag.NewFlagSet("intake", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // the usage is printed by the caller, once
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return true, nil
		}
		return false, &usageError{err}
	}
	if fs.NArg() > 0 {
		// Not repeated: a mistyped secret must not end up in a log.
		return false, &usageError{fmt.Errorf("intake takes no arguments (got %d): it is configured by environment variables", fs.NArg())}
	}
	return false, nil
}

// config is the intake's configuration, read from the environment.
type config struct {
	HTTPAddr       string
	NATSURL        string
	Stream         jetstream.Config
	AreasFile      string
	Secret         []byte
	SecretSet      bool
	RatePerMinute  int
	RateBurst      int
	ClientIPHeader string
	LogFormat      string
	LogLevel       string
	DatabaseURL    string
	Migrate        bool
	Cutoff         businessday.Cutoff
	Ring           *seal.Ring
	// Now is the clock orders are received by: the real one, or in demo
	// mode (DEMO_DAY) one on which a day lasts DEMO_DAY.
	Now clock.Clock
	// AnswersTimeout is how long the form keeps a person's answers after
	// the last page; AnswersWarning how long before the end it warns.
	AnswersTimeout, AnswersWarning time.Duration
	// IdentityFile is SERVICE_IDENTITY_FILE ("": the built-in example,
	// public.DefaultIdentity); Identity is what it says, checked.
	IdentityFile string
	Identity     public.Identity
	// ShutdownTimeout bounds finishing the requests in flight after
	// SIGTERM.
	ShutdownTimeout time.Duration
	// PprofAddr, when set, serves Go's profiler (/debug/pprof/) on a
	// listener of its own, never on the public one. Profiles hold code
	// locations and counts, not request data, but they are for operators:
	// bind it to loopback.
	PprofAddr string
	// StatusRatePerMinute and StatusBurst limit the status and cancel
	// pages and API per client IP (STATUS_RATE_LIMIT_*).
	StatusRatePerMinute, StatusBurst int
}

func readConfig(getenv func(string) string) (config, error) {
	r := envconfig.New(getenv)
	sc := jetstream.DefaultConfig()
	c := config{
		HTTPAddr:       r.String("HTTP_ADDR", "127.0.0.1:8080"),
		NATSURL:        r.String("NATS_URL", "nats://127.0.0.1:4222"),
		AreasFile:      r.String("AREAS_FILE", ""),
		RatePerMinute:  r.Int("RATE_LIMIT_PER_MINUTE", 60),
		RateBurst:      r.Int("RATE_LIMIT_BURST", 20),
		ClientIPHeader: r.String("CLIENT_IP_HEADER", ""),
		LogFormat:      r.String("LOG_FORMAT", "json"),
		LogLevel:       r.String("LOG_LEVEL", "info"),
		DatabaseURL:    r.String("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/booklets?sslmode=disable"),
		Migrate:        r.Bool("MIGRATE", true),
		PprofAddr:      r.String("PPROF_ADDR", ""),
	}
	c.ShutdownTimeout = r.Duration("SHUTDOWN_TIMEOUT", 10*time.Second)
	c.StatusRatePerMinute = r.Int("STATUS_RATE_LIMIT_PER_MINUTE", 10)
	c.StatusBurst = r.Int("STATUS_RATE_LIMIT_BURST", 5)
	if c.StatusRatePerMinute <= 0 {
		r.Fail("STATUS_RATE_LIMIT_PER_MINUTE", "must be more than 0")
	}
	if c.StatusBurst <= 0 {
		r.Fail("STATUS_RATE_LIMIT_BURST", "must be more than 0")
	}
	c.AnswersTimeout = r.Duration("ANSWERS_TIMEOUT", time.Hour)
	c.AnswersWarning = r.Duration("ANSWERS_TIMEOUT_WARNING", 5*time.Minute)
	if c.AnswersWarning < 20*time.Second || c.AnswersWarning >= c.AnswersTimeout {
		// WCAG 2.2.1: at least 20 seconds to extend.
		r.Fail("ANSWERS_TIMEOUT_WARNING", "must be at least 20s and shorter than ANSWERS_TIMEOUT")
	}
	c.IdentityFile = r.String("SERVICE_IDENTITY_FILE", "")
	id, err := public.LoadIdentity(c.IdentityFile)
	if err != nil {
		r.Fail("SERVICE_IDENTITY_FILE", err.Error()) // names the field at fault
	}
	c.Identity = id
	now, _, err := clock.FromEnv(getenv)
	if err != nil {
		r.Fail(clock.EnvDemoDay, err.Error())
	}
	c.Now = now
	cut, err := businessday.ParseCutoff(r.String("BATCH_CUTOFF", "23:00"))
	if err != nil {
		r.Fail("BATCH_CUTOFF", err.Error())
	}
	c.Cutoff = cut
	// No KEK, no intake: an order must never be published unsealed.
	ring, err := seal.RingFromEnv(getenv)
	if err != nil {
		r.Fail("KEK_FILE or KEK", err.Error()) // names entries and ids, never a key
	}
	c.Ring = ring
	sc.Stream = r.String("NATS_STREAM", sc.Stream)
	sc.Subject = r.String("NATS_SUBJECT", sc.Subject)
	sc.Replicas = r.Int("NATS_REPLICAS", sc.Replicas)
	sc.DupeWindow = r.Duration("NATS_DUPE_WINDOW", sc.DupeWindow)
	c.Stream = sc
	if c.RatePerMinute <= 0 {
		r.Fail("RATE_LIMIT_PER_MINUTE", "must be more than 0")
	}
	if c.RateBurst <= 0 {
		r.Fail("RATE_LIMIT_BURST", "must be more than 0")
	}
	// The idempotency bucket is named after the stream, and a bucket's
	// name allows only these.
	if sc.Stream == "" || strings.ContainsFunc(sc.Stream, func(r rune) bool {
		return !(r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
	}) {
		r.Fail("NATS_STREAM", "must be letters, digits, '-' or '_'")
	}
	if sc.DupeWindow < time.Second {
		r.Fail("NATS_DUPE_WINDOW", "must be at least 1s")
	}
	if sc.Replicas < 1 || sc.Replicas > 5 {
		r.Fail("NATS_REPLICAS", "must be 1 to 5")
	}
	if c.LogFormat != "json" && c.LogFormat != "console" {
		r.Fail("LOG_FORMAT", "must be json or console")
	}
	if s := r.Secret("INTAKE_SECRET"); s != "" {
		b, err := decodeSecret(s)
		if err != nil {
			r.Fail("INTAKE_SECRET", err.Error()) // never the value
		}
		c.Secret, c.SecretSet = b, true
	}
	return c, r.Err()
}

// decodeSecret accepts hex or base64 (standard or URL-safe, padded or not).
func decodeSecret(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	decoders := []func(string) ([]byte, error){
		hex.DecodeString,
		base64.StdEncoding.DecodeString, base64.RawStdEncoding.DecodeString,
		base64.URLEncoding.DecodeString, base64.RawURLEncoding.DecodeString,
	}
	for _, dec := range decoders {
		if b, err := dec(s); err == nil {
			if len(b) < public.MinSecretLen {
				return nil, fmt.Errorf("must decode to at least %d bytes (e.g. `openssl rand -hex 32`)", public.MinSecretLen)
			}
			return b, nil
		}
	}
	return nil, errors.New("must be hex or base64 (e.g. `openssl rand -hex 32`)")
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	help, err := parseArgs(args)
	if err != nil {
		return err
	}
	if help {
		_, err := fmt.Fprint(stdout, usage)
		return err
	}
	cfg, err := readConfig(getenv)
	if err != nil {
		return err
	}
	log, err := logging.New(os.Stderr, cfg.LogFormat, cfg.LogLevel, "intake")
	if err != nil {
		return fmt.Errorf("LOG_LEVEL: %w", err)
	}
	return serve(ctx, cfg, log, stdout)
}

// serve runs the intake until ctx ends. It is run without its logger setup
// so that tests can capture the logs.
func serve(ctx context.Context, cfg config, log zerolog.Logger, stdout io.Writer) error {
	if !cfg.SecretSet {
		cfg.Secret = make([]byte, 32)
		rand.Read(cfg.Secret)
		log.Warn().Msg("INTAKE_SECRET is not set: using a random secret for this process only. " +
			"Set it when running more than one replica or across restarts, or retries and open forms will not match")
	}
	if cfg.IdentityFile == "" {
		// The pages show the example's contact details (marked as such):
		// nobody would answer them.
		log.Warn().Str("data_controller", cfg.Identity.DataController).
			Msg("SERVICE_IDENTITY_FILE is not set: the pages show an example organisation's contact details. " +
				"Set it to the real organisation's file (deploy/service-identity.json is an example) before going live")
	}
	cat, err := catalogue.Load(cfg.AreasFile)
	if err != nil {
		return err
	}
	nc, err := jetstream.Connect(cfg.NATSURL, "intake")
	if err != nil {
		return err
	}
	defer nc.Close()
	orders, err := jetstream.New(nc, cfg.Stream)
	if err != nil {
		return err
	}
	// PostgreSQL holds only the user-research sign-ups; orders go to
	// JetStream. The pool connects lazily, so the order form works while
	// the database is down.
	db, err := pgxpool.New(ctx, cfg.DatabaseURL)
	if err != nil {
		return errors.New("DATABASE_URL is not a valid PostgreSQL URL") // it may hold a password: not repeated
	}
	defer db.Close()
	// Orders need the day keys: not ready until their table exists and
	// PostgreSQL answers.
	var schemaReady atomic.Bool
	keysReady := func(ctx context.Context) error {
		if !schemaReady.Load() {
			return &public.ReadyError{Reason: "database schema not applied yet"}
		}
		if err := db.Ping(ctx); err != nil {
			return &public.ReadyError{Reason: "database unavailable (PostgreSQL, for the day keys)", Err: err}
		}
		return nil
	}
	// The web adapter answers /healthz and /readyz itself (with the reason
	// in the body); /metrics is outside it: no rate limit, no request log.
	svc := service.New("intake", log, service.Addr(cfg.HTTPAddr),
		service.WithTimeouts(service.Timeouts{ReadHeader: 5 * time.Second, Read: 15 * time.Second, Write: 30 * time.Second, Idle: 2 * time.Minute}),
		service.MaxHeaderBytes(16<<10), service.NoProbes(),
		service.ListeningLog(func(e *zerolog.Event) *zerolog.Event {
			return e.Str("stream", cfg.Stream.Stream).Strs("kek_ids", cfg.Ring.IDs())
		}),
		service.StoppingLog("stopping: finishing requests in flight", cfg.ShutdownTimeout))
	defer svc.Close()
	// From SIGTERM, /readyz fails so that a load balancer stops sending
	// orders here.
	ready := func(ctx context.Context) error {
		if svc.Stopping() {
			return &public.ReadyError{Reason: "shutting down"}
		}
		return keysReady(ctx)
	}
	metrics := public.NewMetrics(svc.Registry())
	// Sign-ups are sealed under a key per volunteer, wrapped by the KEK
	// (docs/research.md).
	vols := postgres.NewVolunteers(db, time.Now, postgres.WithRing(cfg.Ring))
	place, err := placeorder.New(placeorder.Config{
		Publisher:  orders,
		Claims:     orders,
		Keys:       postgres.NewDayKeys(db, cfg.Ring),
		Cutoff:     cfg.Cutoff,
		Secret:     cfg.Secret,
		Clock:      cfg.Now,
		Observer:   metrics,
		Logger:     log,
		RequestLog: public.RequestLog(log),
	})
	if err != nil {
		return err
	}
	// Checking and cancelling an order (issue 17) read what the batcher
	// stored, in the same database, on the clock orders are received by;
	// a cancel opens the postcode sealed under the order's day key.
	tracker, err := trackorder.New(trackorder.Config{
		Store:  postgres.NewOrders(db, cfg.Now),
		Keys:   postgres.NewDayKeys(db, cfg.Ring, postgres.WithClock(cfg.Now)),
		Cutoff: cfg.Cutoff,
		Clock:  cfg.Now,
	})
	if err != nil {
		return err
	}
	srv, err := public.New(public.Config{
		Research:       research.NewService(vols),
		Ready:          ready,
		Orders:         place,
		Catalogue:      cat,
		Secret:         cfg.Secret,
		Clock:          time.Now, // a person's time to fill the form is real, even in demo mode
		Metrics:        metrics,
		Logger:         log,
		RatePerMinute:  cfg.RatePerMinute,
		Burst:          cfg.RateBurst,
		ClientIPHeader: cfg.ClientIPHeader,
		StateTTL:       cfg.AnswersTimeout,
		TimeoutWarning: cfg.AnswersWarning,
		Identity:       cfg.Identity,

		Tracker:             tracker,
		StatusRatePerMinute: cfg.StatusRatePerMinute,
		StatusBurst:         cfg.StatusBurst,
	})
	if err != nil {
		return err
	}

	if err := svc.Listen(); err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.HTTPAddr, err)
	}
	svc.Handle("/", srv)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go ensureStream(ctx, orders, log)
	// The day key is checked now and then, not only by /readyz and orders,
	// so that a KEK that cannot unwrap it raises the alert (log and
	// booklets_intake_day_key_unavailable) before the first order fails.
	go place.WatchDayKey(ctx, dayKeyCheckEvery)
	if cfg.Migrate {
		go func() {
			ensureSchema(ctx, db, log)
			schemaReady.Store(ctx.Err() == nil)
			research.SealLegacy(ctx, vols, log)
		}()
	} else {
		schemaReady.Store(true)
		go research.SealLegacy(ctx, vols, log)
	}

	if cfg.PprofAddr != "" {
		if _, err := svc.ServePprof(cfg.PprofAddr); err != nil {
			return fmt.Errorf("listen on PPROF_ADDR %s: %w", cfg.PprofAddr, err)
		}
	}

	fmt.Fprintf(stdout, "Order form: http://%s/\n", svc.Addr())
	// Stop taking orders: close the listener and finish the requests in
	// flight (each ends with JetStream's acknowledgement and a 201, or a
	// 503 with nothing stored), then drain NATS.
	svc.OnShutdown("http", func() error { return svc.ShutdownHTTP(cfg.ShutdownTimeout) })
	svc.OnShutdown("nats", func() error {
		if err := nc.Drain(); err == nil {
			for i := 0; i < 50 && !nc.IsClosed(); i++ {
				time.Sleep(100 * time.Millisecond)
			}
		}
		return nil
	})
	return svc.Run(ctx)
}

// dayKeyCheckEvery is how often the intake checks that the current day's
// key can be used (placeorder.Service.WatchDayKey).
const dayKeyCheckEvery = 30 * time.Second

// ensureStream creates or updates the stream and its idempotency bucket,
// retrying while NATS is down. The form is served meanwhile and /readyz
// answers 503 until both exist.
func ensureStream(ctx context.Context, orders *jetstream.Orders, log zerolog.Logger) {
	wait := time.Second
	for {
		ectx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := orders.Ensure(ectx)
		if err == nil {
			err = orders.EnsureIdempotency(ectx)
		}
		cancel()
		if err == nil {
			log.Info().Str("stream", orders.Config().Stream).Msg("stream ready")
			return
		}
		log.Warn().Err(err).Dur("retry_in", wait).Msg("stream not ready")
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 30*time.Second)
	}
}

// ensureSchema applies the migrations, retrying while PostgreSQL is down.
// Until it succeeds only the research sign-up fails (500); orders do not
// need the database.
func ensureSchema(ctx context.Context, db *pgxpool.Pool, log zerolog.Logger) {
	wait := time.Second
	for {
		err := func() error {
			mctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			conn, err := db.Acquire(mctx)
			if err != nil {
				return fmt.Errorf("connect to PostgreSQL: %w", err)
			}
			defer conn.Release()
			return migrations.Apply(mctx, conn.Conn())
		}()
		if err == nil {
			log.Info().Msg("database schema ready")
			return
		}
		log.Warn().Err(err).Dur("retry_in", wait).Msg("database schema not ready: research sign-up unavailable")
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 30*time.Second)
	}
}
