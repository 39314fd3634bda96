// Command batcher stores orders from the stream in PostgreSQL and, every
// day at the cut-off, sends the day's batch to the print partner over SFTP
// and then deletes our copy of the personal data.
//
//	batcher                              run the service (consumer, end-of-day job, /healthz, /readyz, /metrics)
//	batcher migrate                      apply the database migrations and exit
//	batcher send-now [--date YYYY-MM-DD] send one day's batch now and exit (non-zero on failure)
//	batcher order show REF                   show what is held about an unsent order (postcode on stdin)
//	batcher order correct REF --field f ...  correct it (postcode, then one new value per field, on stdin; re-sealed under the same day key)
//	batcher order erase REF                  erase its personal data; left out of the batch (postcode on stdin)
//	batcher keys list                    the day keys: business date, KEK id, created, destroyed (never key material)
//	batcher keys rewrap                  rewrap the live day keys under the current KEK (KEK rotation)
//
// See docs/batcher.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/go-co-op/gocron/v2"
	"github.com/rs/zerolog"

	"booklets/pkg/adapter/disk"
	"booklets/pkg/adapter/jetstream"
	"booklets/pkg/adapter/openpgp"
	"booklets/pkg/adapter/postgres"
	"booklets/pkg/adapter/sftp"
	"booklets/pkg/adapter/xlsx"
	"booklets/pkg/domain/businessday"
	"booklets/pkg/domain/catalogue"
	"booklets/pkg/domain/seal"
	"booklets/pkg/domain/workdays"
	"booklets/pkg/platform/clock"
	"booklets/pkg/platform/envconfig"
	"booklets/pkg/platform/inflight"
	"booklets/pkg/platform/logging"
	"booklets/pkg/platform/service"
	"booklets/pkg/stage/endofday"
	"booklets/pkg/stage/ingest"
)

func main() {
	// A send's live heap is 2-3 MiB (gctrace) while it allocates ~450 bytes
	// an order, so at the default GOGC (100) the collector ran ~210 times
	// per million orders; 400 runs it ~50 times, for a heap goal of ~16 MiB
	// instead of ~7 MiB, and cut the send's CPU by ~6 % (BenchmarkWriteSealed
	// produce, 7 alternating pairs of runs: mean 3.66 -> 3.44 cpu-µs/order,
	// 3-9 % a pair on this noisy machine). GOGC set in the environment wins.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "batcher:", err)
		if isUsage(err) {
			os.Exit(2) // as Go's flag package exits for a bad command line
		}
		os.Exit(1)
	}
}

type config struct {
	DatabaseURL string
	// Migrate applies the migrations on start (MIGRATE, default true).
	// False lets the service run as a role that cannot CREATE (the
	// booklets_service group role), the migrations having been applied
	// by the owner beforehand (`batcher migrate`).
	Migrate      bool
	NATSURL      string
	Stream       string
	Subject      string
	Consumer     string
	Replicas     int           // NATS_REPLICAS, as the intake's (see serve)
	DupeWindow   time.Duration // NATS_DUPE_WINDOW, as the intake's
	Partner      sftp.Config
	Retries      int
	RetryBase    time.Duration
	Cutoff       businessday.Cutoff
	HTTPAddr     string
	LogFormat    string
	LogLevel     string
	AreasFile    string
	BankHolidays string
	// Now is the clock: the real one, or in demo mode (DEMO_DAY) one on
	// which a day lasts DEMO_DAY; Day is then DEMO_DAY.
	Now  clock.Clock
	Demo bool
	Day  time.Duration
	// ShutdownTimeout bounds stopping after SIGTERM: storing the orders in
	// hand and finishing a batch being sent.
	ShutdownTimeout time.Duration
	// Privacy (docs/privacy.md): the KEK ring (KEK or KEK_FILE, required),
	// the partner's OpenPGP key (PARTNER_PGP_KEY_FILE), how long past its
	// day's cut-off personal data may be held before the watchdog raises
	// it (RETENTION_GRACE), and how long a batch waits for the stream
	// consumer to catch up (CATCH_UP_TIMEOUT).
	Ring       *seal.Ring
	PGPKeyFile string
	// Plaintext allows sending batch files as plain CSV, for a partner
	// without an OpenPGP key (PARTNER_PLAINTEXT, default false). Without
	// it and without PGPKeyFile the batcher does not send at all; with
	// both it refuses to start.
	Plaintext      bool
	RetentionGrace time.Duration
	CatchUpTimeout time.Duration
	// SendRetryInterval is how often, and at start-up, a closed day not
	// yet sent is sent again (SEND_RETRY_INTERVAL, default 5m); 0 turns
	// that off, leaving only the cut-off job (tests that stage past days
	// by hand; not for production).
	SendRetryInterval time.Duration
	// XLSX also sends each batch as an XLSX workbook beside the CSV
	// (PARTNER_XLSX, default false: only when agreed with the partner).
	XLSX bool
	// RetainedDir and ResendWindow: an encrypted batch's files are kept
	// in RetainedDir for ResendWindow after it is sent, for `batcher
	// resend` (RETAINED_DIR, default "retained"; RESEND_WINDOW, default
	// 168h; 0 keeps nothing). See resend.go.
	RetainedDir  string
	ResendWindow time.Duration
	// HTTP are the HTTP server's timeouts (not settings: tests shorten
	// them).
	HTTP httpTimeouts
}

// httpTimeouts are the HTTP server's. Without them a client could hold a
// connection, and its goroutine, for ever: trickling a request, never
// reading the answer, or keeping an idle keep-alive connection open.
type httpTimeouts struct {
	ReadHeader, Read, Write, Idle time.Duration
}

var defaultHTTPTimeouts = httpTimeouts{
	ReadHeader: 5 * time.Second,
	Read:       10 * time.Second, // GETs without a body
	Write:      30 * time.Second, // /metrics counts the personal data held in the database
	Idle:       60 * time.Second,
}

func loadConfig(getenv func(string) string) (config, error) {
	return loadConfigFor(getenv, "")
}

// loadConfigFor reads the configuration for a command: `migrate` needs no
// KEK ring, so the migration step is not given the key that opens
// personal data.
func loadConfigFor(getenv func(string) string, cmd string) (config, error) {
	r := envconfig.New(getenv)
	def := jetstream.DefaultConfig()
	c := config{
		DatabaseURL: r.String("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/booklets?sslmode=disable"),
		Migrate:     r.Bool("MIGRATE", true),
		NATSURL:     r.String("NATS_URL", "nats://127.0.0.1:4222"),
		Stream:      r.String("NATS_STREAM", def.Stream),
		Subject:     r.String("NATS_SUBJECT", def.Subject),
		Consumer:    r.String("NATS_CONSUMER", "batcher"),
		Replicas:    r.Int("NATS_REPLICAS", def.Replicas),
		DupeWindow:  r.Duration("NATS_DUPE_WINDOW", def.DupeWindow),
		Partner: sftp.Config{
			Addr:       r.String("SFTP_ADDR", "127.0.0.1:2222"),
			User:       r.String("SFTP_USER", "booklets"),
			KeyFile:    r.String("SFTP_KEY_FILE", ""),
			KnownHosts: r.String("SFTP_KNOWN_HOSTS", ""),
			Dir:        r.String("SFTP_DIR", "outbox"),
		},
		Retries:         r.Int("SFTP_RETRIES", 5),
		RetryBase:       r.Duration("SFTP_RETRY_BASE", 2*time.Second),
		HTTPAddr:        r.String("HTTP_ADDR", "127.0.0.1:8081"),
		LogFormat:       r.String("LOG_FORMAT", "json"),
		LogLevel:        r.String("LOG_LEVEL", "info"),
		AreasFile:       r.String("AREAS_FILE", ""),
		BankHolidays:    r.String("BANK_HOLIDAYS_FILE", ""),
		ShutdownTimeout: r.Duration("SHUTDOWN_TIMEOUT", 30*time.Second),
		HTTP:            defaultHTTPTimeouts,
	}
	now, day, err := clock.FromEnv(getenv)
	if err != nil {
		r.Fail(clock.EnvDemoDay, err.Error())
	}
	c.Now, c.Day, c.Demo = now, day, getenv(clock.EnvDemoDay) != ""
	if c.ShutdownTimeout <= 0 {
		r.Fail("SHUTDOWN_TIMEOUT", "must be more than 0")
	}
	cut, err := businessday.ParseCutoff(r.String("BATCH_CUTOFF", "23:00"))
	if err != nil {
		r.Fail("BATCH_CUTOFF", err.Error())
	}
	c.Cutoff = cut
	if c.Replicas < 1 || c.Replicas > 5 {
		r.Fail("NATS_REPLICAS", "must be 1 to 5")
	}
	if c.Retries < 0 {
		r.Fail("SFTP_RETRIES", "must not be negative")
	}
	c.PGPKeyFile = r.String(openpgp.EnvKeyFile, "")
	c.Plaintext = r.Bool(EnvPlaintext, false)
	c.XLSX = r.Bool(EnvXLSX, false)
	c.RetentionGrace = r.Duration("RETENTION_GRACE", 2*time.Hour)
	c.CatchUpTimeout = r.Duration("CATCH_UP_TIMEOUT", 2*time.Minute)
	c.SendRetryInterval = r.Duration("SEND_RETRY_INTERVAL", 5*time.Minute)
	if c.SendRetryInterval < 0 {
		r.Fail("SEND_RETRY_INTERVAL", "must not be negative")
	}
	if c.RetentionGrace < 0 {
		r.Fail("RETENTION_GRACE", "must not be negative")
	}
	c.RetainedDir = r.String(EnvRetainedDir, "retained")
	c.ResendWindow = r.Duration(EnvResendWindow, 7*24*time.Hour)
	if c.ResendWindow < 0 || c.ResendWindow > maxResendWindow {
		r.Fail(EnvResendWindow, "must be 0 (keep nothing) to 720h (30 days)")
	}
	if c.RetainedDir == "" {
		r.Fail(EnvRetainedDir, "must not be empty")
	}
	if c.CatchUpTimeout <= 0 {
		r.Fail("CATCH_UP_TIMEOUT", "must be more than 0")
	}
	// The batcher opens sealed personal data and destroys day keys: it
	// cannot work without the KEK ring.
	ring, err := seal.RingFromEnv(getenv)
	// resend uploads ciphertext only it cannot open: it is not given the
	// key to the personal data either.
	if err != nil && !((cmd == "migrate" || cmd == "resend") && errors.Is(err, seal.ErrNoKEK)) {
		r.Fail("KEK_FILE or KEK", err.Error()) // names entries and ids, never a key
	}
	c.Ring = ring
	return c, r.Err()
}

// EnvPlaintext allows plain CSV batch files (docs/batcher.md, "Encryption").
const EnvPlaintext = "PARTNER_PLAINTEXT"

// EnvXLSX sends an XLSX copy of each batch beside the CSV, when agreed
// with the partner (docs/batcher.md, "The spreadsheet copy").
const EnvXLSX = "PARTNER_XLSX"

// checkSending reports the settings that sending needs and that have no
// safe default: SFTP's, and how batch files are protected. Plain CSV of
// people's names and addresses is never the silent fallback of a missing
// key: it must be asked for, and cannot be asked for together with a key.
func (c config) checkSending() error {
	var errs []error
	switch {
	case c.PGPKeyFile != "" && c.Plaintext:
		errs = append(errs, fmt.Errorf("%s=true and %s are both set: batch files are either encrypted to the partner's key or plain CSV; unset one",
			EnvPlaintext, openpgp.EnvKeyFile))
	case c.PGPKeyFile == "" && !c.Plaintext:
		errs = append(errs, fmt.Errorf("%s must be set (the partner's OpenPGP public key: batch files hold names and addresses); "+
			"only for a partner without a key, set %s=true to send plain CSV", openpgp.EnvKeyFile, EnvPlaintext))
	}
	if c.Partner.KeyFile == "" {
		errs = append(errs, errors.New("SFTP_KEY_FILE must be set"))
	}
	if c.Partner.KnownHosts == "" {
		errs = append(errs, errors.New("SFTP_KNOWN_HOSTS must be set (the partner's host key is pinned, never trusted blindly)"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("configuration: %w", errors.Join(errs...))
	}
	return nil
}

// run is the whole command. stdin is read only by the order commands, for
// the personal data they must never take from args (visible in ps and
// shell history); nil reads as empty.
//
// The command line is checked first: -h and --help (of the binary or of a
// command) print the usage and return, and a command line that cannot be
// run is an error with the usage, before any setting is read or anything
// connected to.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout io.Writer) error {
	c, err := parseCommand(args)
	if err != nil {
		return err
	}
	if c.help != "" {
		_, err := io.WriteString(stdout, c.help)
		return err
	}
	cmd := c.name
	cfg, err := loadConfigFor(getenv, cmd)
	if err != nil {
		return err
	}
	log, err := logging.New(stdout, cfg.LogFormat, cfg.LogLevel, "batcher")
	if err != nil {
		return fmt.Errorf("LOG_LEVEL: %w", err)
	}
	switch cmd {
	case "":
		return serve(ctx, cfg, log)
	case "migrate":
		cfg.Migrate = true // the command's whole point, whatever MIGRATE says
		st, err := openStore(ctx, cfg)
		if err != nil {
			return err
		}
		defer st.Close()
		log.Info().Msg("database migrated")
		return nil
	case "send-now":
		return sendNow(ctx, cfg, log, c.sendDate, stdout)
	case "order":
		return orderCommand(ctx, cfg, c.order, stdin, stdout)
	case "keys":
		return keysCommand(ctx, cfg, c.keysVerb, stdout)
	case "resend":
		return resendCommand(ctx, cfg, log, c.resendID, stdout)
	default: // parseCommand knows no other
		return usageError{fmt.Sprintf("unknown command %q", cmd), usage}
	}
}

func openStore(ctx context.Context, cfg config) (*postgres.Orders, error) {
	st, err := postgres.OpenOrders(ctx, cfg.DatabaseURL, cfg.Now)
	if err != nil {
		return nil, err
	}
	if !cfg.Migrate {
		return st, nil
	}
	if err := st.Migrate(ctx); err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

func newSender(cfg config, st *postgres.Orders, log zerolog.Logger, m *Metrics, opts ...endofday.Option) (*endofday.Sender, error) {
	if err := cfg.checkSending(); err != nil {
		return nil, err
	}
	if cfg.PGPKeyFile != "" {
		// Key validity is judged on real time, not the demo clock.
		rec, err := openpgp.LoadRecipient(cfg.PGPKeyFile, time.Now)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", openpgp.EnvKeyFile, err)
		}
		logPartnerKeys(log, rec.Keys(), time.Now())
		if err := m.WatchPartnerKeys(rec.Keys); err != nil {
			return nil, fmt.Errorf("metrics: %w", err)
		}
		opts = append(opts, endofday.WithRecipient(rec))
		if cfg.ResendWindow > 0 {
			opts = append(opts, endofday.WithRetention(disk.Retained{Dir: cfg.RetainedDir}, cfg.ResendWindow))
		}
	} else {
		// checkSending: PARTNER_PLAINTEXT=true, asked for.
		log.Warn().Str("encryption", "none").
			Msg(EnvPlaintext + "=true: batch files are sent as plain CSV (over SFTP), not encrypted to the partner")
		opts = append(opts, endofday.WithPlaintext())
	}
	if cfg.XLSX {
		log.Info().Msg(EnvXLSX + "=true: each batch is also sent as an XLSX workbook beside the CSV")
		opts = append(opts, endofday.WithSpreadsheet(xlsx.Spreadsheet{}))
	}
	areas, err := catalogue.Load(cfg.AreasFile)
	if err != nil {
		return nil, fmt.Errorf("AREAS_FILE: %w", err)
	}
	var extra []time.Time
	if cfg.BankHolidays != "" {
		if extra, err = workdays.LoadGovUK(cfg.BankHolidays); err != nil {
			return nil, fmt.Errorf("BANK_HOLIDAYS_FILE: %w", err)
		}
	}
	// The day keys open the personal parts, and the record transaction of
	// a sent batch destroys them (crypto-shredding).
	keys := postgres.NewDayKeys(st.Pool(), cfg.Ring, postgres.WithClock(cfg.Now))
	return endofday.NewSender(postgres.EndOfDayStore{Orders: st, Keys: keys}, sftp.Outbox{Config: cfg.Partner}, append([]endofday.Option{
		endofday.WithAreas(areas), endofday.WithCalendar(workdays.New(extra...)), endofday.WithLogger(log),
		endofday.WithMetrics(m), endofday.WithRetries(cfg.Retries, cfg.RetryBase), endofday.WithClock(cfg.Now),
		endofday.WithKeys(keys)}, opts...)...), nil
}

// sendNow is `batcher send-now [--date D]`; dateFlag "" sends the day that
// closed at the last cut-off, which it names before it starts.
func sendNow(ctx context.Context, cfg config, log zerolog.Logger, dateFlag string, stdout io.Writer) error {
	now := cfg.Now()
	date := cfg.Cutoff.LastClosed(now)
	if dateFlag != "" {
		d, err := businessday.ParseDate(dateFlag)
		if err != nil {
			return fmt.Errorf("--date: %w", err)
		}
		// The current business day is still taking orders: sending it early
		// would destroy its day key while the intake still seals under it,
		// and every later order of the day would be refused as late.
		if open := cfg.Cutoff.DateOf(now); !d.Before(open) {
			return fmt.Errorf("--date %s has not closed yet (the current business day is %s; it closes at %s Europe/London)", d, open, cfg.Cutoff)
		}
		date = d
	}
	if err := cfg.checkSending(); err != nil {
		return err
	}
	if dateFlag == "" {
		// The operator did not say which day: say it before anything is sent.
		fmt.Fprintf(stdout, "sending the batch of business day %s (the day that closed at the last cut-off, %s Europe/London); "+
			"--date YYYY-MM-DD sends another\n", date, cfg.Cutoff)
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	// Orders of the day may still be in the stream: wait for the running
	// service's consumer to store them before the day's key is destroyed.
	nc, err := jetstream.Connect(cfg.NATSURL, "batcher-send-now")
	if err != nil {
		return err
	}
	defer nc.Close()
	orders, err := jetstream.New(nc, jetstream.Config{Stream: cfg.Stream, Subject: cfg.Subject})
	if err != nil {
		return err
	}
	catchUp := ingest.NewConsumer(orders, ingest.ConsumerConfig{
		Stream: cfg.Stream, Subject: cfg.Subject, Durable: cfg.Consumer, CatchUpTimeout: cfg.CatchUpTimeout,
	}, st, cfg.Cutoff, cfg.Now, log, nil)
	s, err := newSender(cfg, st, log, NewMetrics(nil), endofday.WithCatchUp(catchUp.WaitCaughtUp))
	if err != nil {
		return err
	}
	res, err := s.SendBatch(ctx, date)
	if err != nil {
		return err
	}
	switch {
	case res.Skipped:
		return fmt.Errorf("another instance is sending a batch; nothing sent for %s", date)
	case res.AlreadySent:
		fmt.Fprintf(stdout, "batch %s for %s was already sent on %s\n", res.Batch.ID, date, res.Batch.SentAt.UTC().Format(time.RFC3339))
	default:
		fmt.Fprintf(stdout, "sent batch %s for %s: %d records, %d orders, sha256 %s, due %s, encryption %s (%s)\n",
			res.Batch.ID, date, res.Batch.RecordCount, res.Batch.OrderCount, res.Batch.SHA256, res.Batch.DueDate,
			res.Batch.Encryption, res.Batch.DataFile)
	}
	return nil
}

func serve(ctx context.Context, cfg config, log zerolog.Logger) error {
	// Refused at start-up, before anything is connected to, rather than at
	// the first cut-off.
	if err := cfg.checkSending(); err != nil {
		return err
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	svc := service.New("batcher", log, service.Addr(cfg.HTTPAddr), service.WithTimeouts(service.Timeouts(cfg.HTTP)),
		service.ReadyTimeout(2*time.Second),
		service.StoppingLog("stopping: no new orders or batches; finishing what is in hand", cfg.ShutdownTimeout))
	defer svc.Close()
	reg := svc.Registry()
	metrics := NewMetrics(reg)
	if err := RegisterHeld(reg, st.HeldPersonal, cfg.Now, log); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}

	nc, err := jetstream.Connect(cfg.NATSURL, "batcher")
	if err != nil {
		return err
	}
	defer nc.Close()
	sc := jetstream.DefaultConfig()
	sc.Stream, sc.Subject = cfg.Stream, cfg.Subject
	// The intake ensures the stream too, with its NATS_REPLICAS and
	// NATS_DUPE_WINDOW: the two must agree, or a restart of one changes
	// the stream (a batcher with 1 would make a three-replica stream a
	// single copy).
	sc.Replicas, sc.DupeWindow = cfg.Replicas, cfg.DupeWindow
	orders, err := jetstream.New(nc, sc)
	if err != nil {
		return err
	}
	if err := orders.Ensure(ctx); err != nil {
		return err
	}

	consumerCtx, stopConsumer := context.WithCancel(ctx)
	defer stopConsumer()
	consumer := ingest.NewConsumer(orders, ingest.ConsumerConfig{
		Stream: cfg.Stream, Subject: cfg.Subject, Durable: cfg.Consumer, DrainTimeout: cfg.ShutdownTimeout / 2,
		CatchUpTimeout: cfg.CatchUpTimeout,
	}, st, cfg.Cutoff, cfg.Now, log, metrics)
	// A day's batch waits until the consumer has stored every order of
	// that day still in the stream (docs/privacy.md, the race to close).
	sender, err := newSender(cfg, st, log, metrics, endofday.WithCatchUp(consumer.WaitCaughtUp))
	if err != nil {
		return err
	}
	// The consumer's end, before SIGTERM, stops the service (Run returns
	// its error).
	consumed := svc.Go(func() error { return consumer.Run(consumerCtx) })

	// Scheduled sends run with a context that outlives the SIGTERM, so that
	// a batch being sent can finish; past SHUTDOWN_TIMEOUT it is cancelled
	// (nothing is deleted before a verified upload, and the next run
	// resumes the same batch). jobs lets shutdown wait for it.
	jobs := inflight.New(ctx)
	defer jobs.Cancel()
	jobCtx := jobs.Context()
	send := func(ctx context.Context, d businessday.Date) (endofday.Result, error) {
		defer jobs.Begin()()
		return sender.SendBatch(ctx, d)
	}
	sched, err := NewScheduler(nil)
	if err != nil {
		return err
	}
	var job gocron.Job
	if cfg.Demo {
		// A day lasts DEMO_DAY: look every simulated hour for closed days
		// not yet sent, rather than once a day at the cut-off.
		every := clock.RealDuration(time.Hour, clock.DayFactor(cfg.Day))
		job, err = ScheduleCatchUp(jobCtx, sched, every, endofday.CatchUp{
			Cutoff: cfg.Cutoff, Now: cfg.Now, LastSent: st.LastSent, Send: send, Log: log,
		})
		log.Warn().Str("demo_day", cfg.Day.String()).Dur("every", every).
			Msg("DEMO MODE: a day lasts DEMO_DAY; closed days are sent every simulated hour")
	} else {
		job, err = ScheduleEndOfDay(jobCtx, sched, cfg.Cutoff, cfg.Now, send, log)
		if err == nil && cfg.SendRetryInterval > 0 {
			// At start-up and then every SEND_RETRY_INTERVAL: a closed day
			// whose batch did not go is not left for the next cut-off.
			_, err = ScheduleRetry(jobCtx, sched, cfg.SendRetryInterval, endofday.Retry{
				Cutoff: cfg.Cutoff, Now: cfg.Now, Pending: st.Unsent, Send: send, Log: log,
			})
		}
	}
	if err != nil {
		return err
	}
	// The retention watchdog: at start-up and every 15 minutes (on the
	// demo clock, every 15 simulated minutes).
	watchdog := endofday.Watchdog{Store: st, Cutoff: cfg.Cutoff, Grace: cfg.RetentionGrace, Now: cfg.Now, Log: log, Metrics: metrics}
	watchEvery := 15 * time.Minute
	if cfg.Demo {
		watchEvery = max(clock.RealDuration(watchEvery, clock.DayFactor(cfg.Day)), time.Second)
	}
	if _, err := ScheduleWatchdog(jobCtx, sched, watchEvery, watchdog); err != nil {
		return err
	}
	if _, err := watchdog.Check(ctx); err != nil {
		log.Error().Err(err).Msg("retention check at start-up failed")
	}
	// The copies kept for a resend: deleted when their window ends, at
	// start-up and every 15 minutes (resend.go).
	if _, err := ScheduleRetentionSweep(jobCtx, sched, watchEvery, retentionSweep(cfg, st, log)); err != nil {
		return err
	}
	sched.Start()
	if next, err := job.NextRun(); err == nil && !cfg.Demo {
		log.Info().Str("cutoff", cfg.Cutoff.String()).Time("next_run", next).Dur("retry_every", cfg.SendRetryInterval).
			Msg("end-of-day job scheduled")
	}

	svc.Ready("database not ready", st.Ready)
	svc.Ready("stream not ready", orders.Ready)
	if err := svc.Listen(); err != nil {
		_ = sched.Shutdown()
		return fmt.Errorf("HTTP_ADDR %s: %w", cfg.HTTPAddr, err)
	}
	// 1. Stop taking orders: the consumer stops fetching and stores and
	// acknowledges what it has been given.
	svc.OnShutdown("consumer", func() error { stopConsumer(); return nil })
	// 2. No new runs; a batch being sent may finish within the timeout.
	svc.OnShutdown("jobs", func() error {
		jobs.Stop(cfg.ShutdownTimeout, func() { _ = sched.Shutdown() }, func() {
			log.Warn().Msg("the batch being sent did not finish in time: abandoning it; the next run resumes it")
		})
		return nil
	})
	// Its error is Run's (service.Go).
	svc.OnShutdown("consumer drained", func() error { _ = consumed.Wait(); return nil })
	// 3. Drain NATS: pending acknowledgements are flushed before closing.
	svc.OnShutdown("nats", func() error {
		if err := nc.Drain(); err == nil {
			for i := 0; i < 50 && !nc.IsClosed(); i++ {
				time.Sleep(100 * time.Millisecond)
			}
		}
		return nil
	})
	// 4. HTTP last: /metrics and /readyz answer while the batch finishes.
	svc.OnShutdown("http", func() error { _ = svc.ShutdownHTTP(5 * time.Second); return nil })
	return svc.Run(ctx)
}
