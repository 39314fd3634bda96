// Command reconciler checks that the print partner deletes every batch on
// time and keeps the auditors' record.
//
//	reconciler                       serve /audit, /api/v1/batches, /metrics, /healthz, /readyz
//	                                 and run the check daily at RECONCILE_AT (Europe/London)
//	reconciler check-now             run the check once and print what it did
//	reconciler verify-audit          check the audit log's hash chain; non-zero exit if broken
//	reconciler report --from DATE --to DATE --format csv|json
//	reconciler volunteers due|show ID|review ID --keep|--delete   (volunteers.go)
//
// Configuration (environment): DATABASE_URL, MIGRATE, SFTP_ADDR, SFTP_USER,
// SFTP_KEY_FILE, SFTP_KNOWN_HOSTS, SFTP_CONFIRMATIONS_DIR,
// SFTP_PROCESSED_DIR, SFTP_REJECTED_DIR, SFTP_TIMEOUT, RECONCILE_AT, HTTP_ADDR, AUDIT_TOKEN, AUDIT_USER,
// AUDIT_PASSWORD_HASH, LOG_FORMAT, LOG_LEVEL. See docs/reconciler.md.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
	_ "time/tzdata" // London dates must not depend on the host's zone files

	"github.com/go-co-op/gocron/v2"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"booklets/migrations"
	"booklets/pkg/auditlog"
	"booklets/pkg/auditweb"
	"booklets/pkg/businessday"
	"booklets/pkg/clock"
	"booklets/pkg/envconfig"
	"booklets/pkg/inflight"
	"booklets/pkg/ledger"
	"booklets/pkg/logging"
	"booklets/pkg/partner"
	"booklets/pkg/reconcile"
	"booklets/pkg/volunteerstore"
	bookletsweb "booklets/pkg/web"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "reconciler:", err)
		os.Exit(1)
	}
}

type config struct {
	DatabaseURL string
	Migrate     bool
	SFTP        partner.Config
	ConfDir     string
	Processed   string
	Rejected    string
	At          time.Duration // time of day, London
	HTTPAddr    string
	Auth        auditweb.Auth
	LogFormat   string
	LogLevel    string
	// Now is the clock: the real one, or in demo mode (DEMO_DAY) one on
	// which a day lasts Day of real time; the daily check then runs every
	// Day.
	Now  clock.Clock
	Demo bool
	Day  time.Duration
	// ShutdownTimeout bounds how long a check in progress may take to
	// finish after SIGTERM.
	ShutdownTimeout time.Duration
}

func readConfig(getenv func(string) string) (config, error) {
	r := envconfig.New(getenv)
	c := config{
		DatabaseURL: r.String("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/booklets?sslmode=disable"),
		Migrate:     r.Bool("MIGRATE", true),
		SFTP: partner.Config{
			Addr:       r.String("SFTP_ADDR", "127.0.0.1:2222"),
			User:       r.String("SFTP_USER", "booklets"),
			KeyFile:    r.String("SFTP_KEY_FILE", ""),
			KnownHosts: r.String("SFTP_KNOWN_HOSTS", ""),
			Timeout:    r.Duration("SFTP_TIMEOUT", 15*time.Second),
		},
		ConfDir:   r.String("SFTP_CONFIRMATIONS_DIR", "confirmations"),
		Processed: r.String("SFTP_PROCESSED_DIR", "confirmations/processed"),
		Rejected:  r.String("SFTP_REJECTED_DIR", "confirmations/rejected"),
		HTTPAddr:  r.String("HTTP_ADDR", "127.0.0.1:8082"),
		Auth: auditweb.Auth{
			// Secrets: the value, or a file named by *_FILE (container
			// secrets, deploy/README.md).
			Token:        r.Secret("AUDIT_TOKEN"),
			User:         r.String("AUDIT_USER", ""),
			PasswordHash: r.Secret("AUDIT_PASSWORD_HASH"),
		},
		LogFormat:       r.String("LOG_FORMAT", "json"),
		LogLevel:        r.String("LOG_LEVEL", "info"),
		ShutdownTimeout: r.Duration("SHUTDOWN_TIMEOUT", 30*time.Second),
	}
	now, day, err := clock.FromEnv(getenv)
	if err != nil {
		r.Fail(clock.EnvDemoDay, err.Error())
	}
	c.Now, c.Day, c.Demo = now, day, getenv(clock.EnvDemoDay) != ""
	at := r.String("RECONCILE_AT", "07:00")
	if t, err := time.Parse("15:04", at); err != nil {
		r.Fail("RECONCILE_AT", fmt.Sprintf("%q is not a time like 07:00", at))
	} else {
		c.At = time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute
	}
	if (c.Auth.User == "") != (c.Auth.PasswordHash == "") {
		r.Fail("AUDIT_USER", "AUDIT_USER and AUDIT_PASSWORD_HASH must be set together")
	}
	return c, r.Err()
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cfg, err := readConfig(getenv)
	if err != nil {
		return err
	}
	log, err := logging.New(stdout, cfg.LogFormat, cfg.LogLevel, "reconciler")
	if err != nil {
		return fmt.Errorf("LOG_LEVEL: %w", err)
	}
	if len(args) > 0 {
		// A command's result goes to stdout: keep log lines out of it.
		log = log.Output(os.Stderr)
	}
	db, err := pgxpool.New(ctx, cfg.DatabaseURL)
	if err != nil {
		return errors.New("DATABASE_URL is not a valid PostgreSQL URL") // it may hold a password: not repeated
	}
	defer db.Close()
	if cfg.Migrate {
		if err := migrate(ctx, db); err != nil {
			return err
		}
	}
	led := ledger.New(db)
	now := cfg.Now

	cmd := ""
	if len(args) > 0 {
		cmd = args[0]
	}
	switch cmd {
	case "":
		return serve(ctx, cfg, db, led, now, log)
	case "check-now":
		rec := reconciler(cfg, led, log, nil)
		sum, err := rec.Reconcile(ctx, now())
		_ = json.NewEncoder(stdout).Encode(sum)
		return err
	case "verify-audit":
		res, err := auditlog.Verify(ctx, db)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, res)
		if !res.OK {
			return fmt.Errorf("audit log broken at seq %d: %s", res.BrokenSeq, res.Reason)
		}
		return nil
	case "report":
		return report(ctx, args[1:], led, now, stdout)
	case "volunteers":
		return volunteersCommand(ctx, args[1:], volunteerstore.New(db, now), stdout)
	}
	return fmt.Errorf("unknown command %q (want check-now, verify-audit, report or volunteers)", cmd)
}

func migrate(ctx context.Context, db *pgxpool.Pool) error {
	conn, err := db.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	defer conn.Release()
	return migrations.Apply(ctx, conn.Conn())
}

func reconciler(cfg config, led *ledger.Ledger, log zerolog.Logger, overdue reconcile.Gauge) *reconcile.Reconciler {
	return &reconcile.Reconciler{
		Store: led,
		Open: func(ctx context.Context) (reconcile.Inbox, error) {
			c, err := partner.Dial(ctx, cfg.SFTP)
			if err != nil {
				return nil, err
			}
			return c.Confirmations(cfg.ConfDir, cfg.Processed, cfg.Rejected), nil
		},
		Log:     log,
		Overdue: overdue,
	}
}

func report(ctx context.Context, args []string, led *ledger.Ledger, now func() time.Time, stdout io.Writer) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	from := fs.String("from", "", "first business date, YYYY-MM-DD")
	to := fs.String("to", "", "last business date, YYYY-MM-DD")
	format := fs.String("format", "csv", "csv or json")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("report: %w (usage: report --from DATE --to DATE --format csv|json)", err)
	}
	var f reconcile.Filter
	for _, p := range []struct {
		name, val string
		dst       *time.Time
	}{{"--from", *from, &f.From}, {"--to", *to, &f.To}} {
		if p.val == "" {
			continue
		}
		d, err := businessday.ParseDate(p.val)
		if err != nil {
			return fmt.Errorf("report: %s %q is not a date like 2025-03-31", p.name, p.val)
		}
		*p.dst = d.UTC()
	}
	states, err := led.States(ctx, f)
	if err != nil {
		return err
	}
	views := reconcile.Views(states, now())
	switch *format {
	case "csv":
		return reconcile.WriteCSV(stdout, views)
	case "json":
		return reconcile.WriteJSON(stdout, views)
	}
	return fmt.Errorf("report: --format %q is not csv or json", *format)
}

func serve(ctx context.Context, cfg config, db *pgxpool.Pool, led *ledger.Ledger, now func() time.Time, log zerolog.Logger) error {
	m := newMetrics(led.States, now, log)
	reg := m.reg
	rec := reconciler(cfg, led, log, m.overdue)
	// The check runs with a context that outlives the SIGTERM, so that a
	// run in progress finishes (each file is one transaction, and a run is
	// harmless to repeat); past SHUTDOWN_TIMEOUT it is cancelled.
	jobs := inflight.New(ctx)
	defer jobs.Cancel()
	jobCtx := jobs.Context()
	check := func(what string) {
		defer jobs.Begin()()
		sum, err := rec.Reconcile(jobCtx, now())
		m.observe(sum, err)
		if err != nil {
			log.Error().Err(err).Msg(what + " incomplete")
		}
	}

	web, err := auditweb.New(led, cfg.Auth, now, log, bookletsweb.GOVUKAssets())
	if err != nil {
		return err
	}
	web.Volunteers = volunteerstore.New(db, now)
	web.Retention = led
	if !cfg.Auth.Configured() {
		log.Error().Msg("no AUDIT_TOKEN or AUDIT_USER/AUDIT_PASSWORD_HASH: the audit pages answer 503 until one is set")
	}
	mux := http.NewServeMux()
	web.Register(mux)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := led.Ready(r.Context()); err != nil {
			http.Error(w, "database unavailable", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})

	sched, err := gocron.NewScheduler(gocron.WithLocation(businessday.London()))
	if err != nil {
		return fmt.Errorf("start scheduler: %w", err)
	}
	h, mi := int(cfg.At/time.Hour), int(cfg.At%time.Hour/time.Minute)
	daily := gocron.DailyJob(1, gocron.NewAtTimes(gocron.NewAtTime(uint(h), uint(mi), 0)))
	if cfg.Demo {
		// A day lasts DEMO_DAY: check once per simulated day.
		daily = gocron.DurationJob(cfg.Day)
		log.Warn().Str("demo_day", cfg.Day.String()).Msg("DEMO MODE: a day lasts DEMO_DAY; the daily check runs every DEMO_DAY")
	}
	_, err = sched.NewJob(daily,
		gocron.NewTask(func() { check("daily reconciliation") }),
		gocron.WithSingletonMode(gocron.LimitModeReschedule),
	)
	if err != nil {
		return fmt.Errorf("schedule daily reconciliation: %w", err)
	}
	if err := scheduleVolunteerReviews(jobCtx, sched, reg, volunteerstore.New(db, now), cfg.At, log); err != nil {
		return err
	}
	sched.Start()

	// Work out the gauge and any alert due today at start, so a restart
	// does not leave the metric at zero until the next scheduled run.
	startup := make(chan struct{})
	go func() {
		defer close(startup)
		check("start-up reconciliation")
	}()

	// stop waits for the check in progress, within the timeout.
	stop := func() {
		stopNew := func() {
			_ = sched.Shutdown()
			<-startup
		}
		jobs.Stop(cfg.ShutdownTimeout, stopNew, func() {
			log.Warn().Msg("the check in progress did not finish in time: cancelling it; the next run repeats it")
		})
	}

	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		stop()
		return fmt.Errorf("listen on %s: %w", cfg.HTTPAddr, err)
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	log.Info().Str("addr", ln.Addr().String()).Str("reconcile_at", fmt.Sprintf("%02d:%02d", h, mi)).Msg("reconciler listening")
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		stop()
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info().Dur("timeout", cfg.ShutdownTimeout).Msg("stopping: no new checks; finishing the one in progress")
	stop()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shut down http: %w", err)
	}
	log.Info().Msg("reconciler stopped")
	return nil
}
