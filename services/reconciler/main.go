// Command reconciler checks that the print partner deletes every batch on
// time and keeps the auditors' record.
//
//	reconciler                       serve /audit, /api/v1/batches, /metrics, /healthz, /readyz
//	                                 and run the check daily at RECONCILE_AT (Europe/London)
//	reconciler check-now             run the check once and print what it did
//	reconciler verify-audit          check the audit log's hash chain; non-zero exit if broken
//	reconciler report --from DATE --to DATE --format csv|json
//	reconciler volunteers due|show ID|review ID --keep|--delete   (volunteers.go)
//	reconciler audit keygen|public-key|checkpoint|export|prove    (audit.go)
//	reconciler audit receipt --batch ID --dir DIR                (receipts.go)
//	reconciler help, or -h / --help after any command: its usage (connects to nothing)
//
// Configuration (environment): DATABASE_URL, MIGRATE, SFTP_ADDR, SFTP_USER,
// SFTP_KEY_FILE, SFTP_KNOWN_HOSTS, SFTP_CONFIRMATIONS_DIR,
// SFTP_PROCESSED_DIR, SFTP_REJECTED_DIR, SFTP_UPDATES_DIR,
// SFTP_UPDATES_PROCESSED_DIR, SFTP_UPDATES_REJECTED_DIR, SFTP_TIMEOUT, RECONCILE_AT, PARTNER_CONTACT, HTTP_ADDR, AUDIT_TOKEN, AUDIT_USER,
// AUDIT_PASSWORD_HASH, AUDIT_FAILURES_PER_MINUTE, AUDIT_FAILURE_BURST, LOG_FORMAT, LOG_LEVEL,
// AUDIT_SIGNING_KEY_FILE, AUDIT_CHECKPOINT_DIR, SFTP_CHECKPOINTS_DIR, AUDIT_CHECKPOINT_EVERY,
// PARTNER_SIGNING_KEY_FILE, ACCEPT_UNSIGNED_CONFIRMATIONS, CONFIRMATION_SIGNATURE_GRACE (receipts.go).
// See docs/reconciler.md.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
	_ "time/tzdata" // London dates must not depend on the host's zone files
	"unicode"

	"github.com/go-co-op/gocron/v2"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"

	"booklets/migrations"
	"booklets/pkg/adapter/postgres"
	"booklets/pkg/adapter/sftp"
	"booklets/pkg/adapter/web/auditors"
	"booklets/pkg/adapter/web/govuk"
	"booklets/pkg/domain/businessday"
	"booklets/pkg/domain/seal"
	"booklets/pkg/platform/clock"
	"booklets/pkg/platform/envconfig"
	"booklets/pkg/platform/inflight"
	"booklets/pkg/platform/logging"
	"booklets/pkg/platform/service"
	"booklets/pkg/stage/reconcile"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "reconciler:", err)
		var ue usageError
		if errors.As(err, &ue) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

const usage = `Usage: reconciler [COMMAND]

Checks that the print partner deletes every batch on time, and keeps the
auditors' record. Settings are environment variables (docs/reconciler.md).

Commands:
  (none)         serve the auditors' page, /metrics, /healthz and /readyz,
                 and check the partner's confirmations daily at RECONCILE_AT
  check-now      fetch and check the confirmations once; print what it did as JSON
  verify-audit   check the audit log's hash chain; exit 1 if it is broken
  report         list the sent batches and their deletion status (csv or json)
  volunteers     the research volunteers' 2-year review: due, show, review (and seal, rewrap)
  audit          the audit log's signed checkpoints: keygen, public-key, checkpoint, export, prove, receipt
  help           this text; "reconciler COMMAND -h" explains a command
`

// usages are the commands' own texts, printed for COMMAND -h.
var usages = map[string]string{
	"check-now": `Usage: reconciler check-now

Fetches the partner's deletion confirmations over SFTP once, judges and
records each, moves them out of the folder, does the same with its
dispatch and returns files, checks every sent batch for an overdue
deletion, and prints a JSON summary: files, accepted, rejected,
duplicates, unmatched (files naming no batch of ours), failed, overdue,
alerts_raised, updates (the dispatch and returns files).
`,
	"verify-audit": `Usage: reconciler verify-audit

Checks the audit log's hash chain; prints the head (seq and hash) to note
for the next visit, or the first broken entry and exits 1.
`,
	"report": `Usage: reconciler report [--from DATE] [--to DATE] [--format csv|json] [--unmatched]

Lists the sent batches of business dates DATE (YYYY-MM-DD) to DATE,
inclusive, with their deletion status, when the partner deleted them and
any deviation.

  --from DATE        first business date (default: the first)
  --to DATE          last business date (default: the last)
  --format csv|json  output format (default csv)
  --unmatched        list instead the files in the confirmations folder that
                     named no batch of ours (seen on London dates DATE to DATE),
                     with the reason given to the partner
`,
	"volunteers": volunteersUsage,
	"audit":      auditUsage,
}

// usageError is a mistake on the command line: main prints it with the
// usage and exits 2.
type usageError struct {
	err   error
	usage string
}

func (e usageError) Error() string { return e.err.Error() + "\n\n" + e.usage }
func (e usageError) Unwrap() error { return e.err }

// isHelp tells whether an argument asks for the usage.
func isHelp(a string) bool { return a == "-h" || a == "-help" || a == "--help" }

// command is a parsed command line.
type command struct {
	name       string // "" serves
	report     reportArgs
	volunteers volunteersArgs
	audit      auditArgs
}

// parseArgs reads the command line, and nothing else: it runs before the
// configuration is read and before anything is connected to, so that a
// request for help (flag.ErrHelp, with the text to print) or a mistake
// never acts.
func parseArgs(args []string) (command, string, error) {
	if len(args) == 0 {
		return command{}, "", nil
	}
	c := command{name: args[0]}
	text, known := usages[c.name]
	switch {
	case isHelp(c.name):
		return c, usage, flag.ErrHelp
	case c.name == "help":
		if len(args) > 1 {
			if t, ok := usages[args[1]]; ok {
				return c, t, flag.ErrHelp
			}
			return c, usage, usageError{fmt.Errorf("help: unknown command %q", args[1]), usage}
		}
		return c, usage, flag.ErrHelp
	case !known:
		what := "command"
		if strings.HasPrefix(c.name, "-") {
			what = "flag"
		}
		return c, usage, usageError{fmt.Errorf("unknown %s %q", what, c.name), usage}
	}
	var err error
	switch c.name {
	case "check-now", "verify-audit":
		err = noArgs(c.name, args[1:])
	case "report":
		c.report, err = parseReport(args[1:])
	case "volunteers":
		c.volunteers, err = parseVolunteers(args[1:])
	case "audit":
		c.audit, err = parseAudit(args[1:])
	}
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		err = usageError{err, text}
	}
	return c, text, err
}

// noArgs accepts only -h or --help.
func noArgs(name string, args []string) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s takes no arguments (got %q)", name, fs.Arg(0))
	}
	return nil
}

type config struct {
	DatabaseURL string
	Migrate     bool
	SFTP        sftp.Config
	ConfDir     string
	Processed   string
	Rejected    string
	// The partner's dispatch and returns files (SFTP_UPDATES_DIR, …);
	// UpdatesDir empty turns them off.
	UpdatesDir, UpdatesProcessed, UpdatesRejected string
	At                                            time.Duration // time of day, London
	// Contact is the last line of every reason file, "Questions: "
	// and it (PARTNER_CONTACT): who the partner asks.
	Contact   string
	HTTPAddr  string
	Auth      auditors.Auth
	LogFormat string
	LogLevel  string
	// Now is the clock: the real one, or in demo mode (DEMO_DAY) one on
	// which a day lasts Day of real time; the daily check then runs every
	// Day.
	Now  clock.Clock
	Demo bool
	Day  time.Duration
	// ShutdownTimeout bounds how long a check in progress may take to
	// finish after SIGTERM.
	ShutdownTimeout time.Duration
	// HTTP bounds how long a client may hold a connection (not settings:
	// tests shorten them).
	HTTP httpTimeouts
	// Ring is the KEK ring, nil if none is set: only `volunteers show`,
	// `seal` and `rewrap` need it (volunteers.go).
	Ring *seal.Ring
	// Audit is the transparency log's signing and publishing (audit.go).
	Audit auditConfig
	// Receipts is how the partner's signatures are checked (receipts.go).
	Receipts receiptsConfig
	// PartnerKeys are the partner's encryption keys for the auditors'
	// page (PARTNER_PGP_KEY_FILE, partnerkey.go); nil when unset.
	PartnerKeys func() []auditors.PartnerKey
}

// httpTimeouts are the HTTP server's. Without them a client could hold a
// connection, and its goroutine, for ever: trickling a request, never
// reading the answer, or keeping an idle keep-alive connection open.
type httpTimeouts struct {
	ReadHeader, Read, Write, Idle time.Duration
}

var defaultHTTPTimeouts = httpTimeouts{
	ReadHeader: 5 * time.Second,
	Read:       15 * time.Second, // requests are GETs without a body
	Write:      60 * time.Second, // the CSV and /metrics read the database
	Idle:       60 * time.Second,
}

func readConfig(getenv func(string) string) (config, error) {
	r := envconfig.New(getenv)
	c := config{
		DatabaseURL: r.String("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/booklets?sslmode=disable"),
		Migrate:     r.Bool("MIGRATE", true),
		SFTP: sftp.Config{
			Addr:       r.String("SFTP_ADDR", "127.0.0.1:2222"),
			User:       r.String("SFTP_USER", "booklets"),
			KeyFile:    r.String("SFTP_KEY_FILE", ""),
			KnownHosts: r.String("SFTP_KNOWN_HOSTS", ""),
			Timeout:    r.Duration("SFTP_TIMEOUT", 15*time.Second),
		},
		ConfDir:          r.String("SFTP_CONFIRMATIONS_DIR", "confirmations"),
		Processed:        r.String("SFTP_PROCESSED_DIR", "confirmations/processed"),
		Rejected:         r.String("SFTP_REJECTED_DIR", "confirmations/rejected"),
		UpdatesDir:       r.String("SFTP_UPDATES_DIR", "updates"),
		UpdatesProcessed: r.String("SFTP_UPDATES_PROCESSED_DIR", "updates/processed"),
		UpdatesRejected:  r.String("SFTP_UPDATES_REJECTED_DIR", "updates/rejected"),
		HTTPAddr:         r.String("HTTP_ADDR", "127.0.0.1:8082"),
		Auth: auditors.Auth{
			// Secrets: the value, or a file named by *_FILE (container
			// secrets, deploy/README.md).
			Token:             r.Secret("AUDIT_TOKEN"),
			User:              r.String("AUDIT_USER", ""),
			PasswordHash:      r.Secret("AUDIT_PASSWORD_HASH"),
			FailuresPerMinute: r.Int("AUDIT_FAILURES_PER_MINUTE", auditors.DefaultFailuresPerMinute),
			FailureBurst:      r.Int("AUDIT_FAILURE_BURST", auditors.DefaultFailureBurst),
		},
		LogFormat:       r.String("LOG_FORMAT", "json"),
		LogLevel:        r.String("LOG_LEVEL", "info"),
		ShutdownTimeout: r.Duration("SHUTDOWN_TIMEOUT", 30*time.Second),
		HTTP:            defaultHTTPTimeouts,
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
	c.Contact = r.String("PARTNER_CONTACT", reconcile.DefaultContact)
	if strings.TrimSpace(c.Contact) == "" || strings.ContainsFunc(c.Contact, unicode.IsControl) {
		r.Fail("PARTNER_CONTACT", "must be one line of text (who the partner asks about a rejection)")
	}
	c.Ring = volunteersKEK(r, getenv)
	c.Audit = readAuditConfig(r)
	c.Receipts = readReceiptsConfig(r)
	c.PartnerKeys = readPartnerKeys(r)
	if (c.Auth.User == "") != (c.Auth.PasswordHash == "") {
		r.Fail("AUDIT_USER", "AUDIT_USER and AUDIT_PASSWORD_HASH must be set together")
	}
	if c.Auth.FailuresPerMinute < 1 {
		r.Fail("AUDIT_FAILURES_PER_MINUTE", "must be at least 1")
	}
	if c.Auth.FailureBurst < 1 {
		r.Fail("AUDIT_FAILURE_BURST", "must be at least 1")
	}
	return c, r.Err()
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cmd, text, err := parseArgs(args)
	if errors.Is(err, flag.ErrHelp) {
		_, err := io.WriteString(stdout, text)
		return err
	}
	if err != nil {
		return err
	}
	cfg, err := readConfig(getenv)
	if err != nil {
		return err
	}
	if cmd.name == "audit" && cmd.audit.offline() {
		return auditOffline(cfg, cmd.audit, stdout) // connects to nothing
	}
	return runCommand(ctx, cfg, cmd, stdout)
}

// runCommand runs a parsed command with its configuration.
func runCommand(ctx context.Context, cfg config, cmd command, stdout io.Writer) error {
	log, err := logging.New(stdout, cfg.LogFormat, cfg.LogLevel, "reconciler")
	if err != nil {
		return fmt.Errorf("LOG_LEVEL: %w", err)
	}
	if cmd.name != "" {
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
	led := postgres.NewLedger(db)
	now := cfg.Now

	switch cmd.name {
	case "":
		return serve(ctx, cfg, db, led, now, log)
	case "check-now":
		rec := reconciler(cfg, led, log)
		rec.Trail = postgres.AuditTrail{DB: db} // as the daemon's runs (serve)
		sum, err := rec.Reconcile(ctx, now())
		_ = json.NewEncoder(stdout).Encode(sum)
		cp, cerr := newCheckpointer(cfg, db)
		if cerr != nil {
			return errors.Join(err, cerr)
		}
		signCheckpoint(ctx, cp, false, log) // after every run (audit.go)
		return err
	case "verify-audit":
		res, err := postgres.VerifyAudit(ctx, db)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, res)
		if !res.OK {
			return fmt.Errorf("audit log broken at seq %d: %s", res.BrokenSeq, res.Reason)
		}
		return nil
	case "report":
		return report(ctx, cmd.report, led, now, stdout)
	case "volunteers":
		return volunteersCommand(ctx, cmd.volunteers, postgres.NewVolunteers(db, now, postgres.WithRing(cfg.Ring)), stdout)
	case "audit":
		return auditCommand(ctx, cfg, cmd.audit, db, stdout)
	}
	return fmt.Errorf("unknown command %q", cmd.name) // parseArgs knows them all
}

func migrate(ctx context.Context, db *pgxpool.Pool) error {
	conn, err := db.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	defer conn.Release()
	return migrations.Apply(ctx, conn.Conn())
}

func reconciler(cfg config, led *postgres.Ledger, log zerolog.Logger) *reconcile.Reconciler {
	cfg.Receipts.warn(log)
	rec := &reconcile.Reconciler{
		Verify:         cfg.Receipts.verifier(),
		AcceptUnsigned: cfg.Receipts.AcceptUnsigned,
		SignatureGrace: cfg.Receipts.Grace,
		Store:          led,
		Open: func(ctx context.Context) (reconcile.Inbox, error) {
			c, err := sftp.Dial(ctx, cfg.SFTP)
			if err != nil {
				return nil, err
			}
			return c.Confirmations(cfg.ConfDir, cfg.Processed, cfg.Rejected), nil
		},
		Log:     log,
		Contact: cfg.Contact,
	}
	if cfg.UpdatesDir != "" {
		rec.Updates = led
		rec.OpenUpdates = func(ctx context.Context) (reconcile.Inbox, error) {
			c, err := sftp.Dial(ctx, cfg.SFTP)
			if err != nil {
				return nil, err
			}
			return c.Updates(cfg.UpdatesDir, cfg.UpdatesProcessed, cfg.UpdatesRejected), nil
		}
	}
	return rec
}

// reportArgs is a parsed `reconciler report` command line.
type reportArgs struct {
	filter    reconcile.Filter
	format    string
	unmatched bool
}

func parseReport(args []string) (reportArgs, error) {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	from := fs.String("from", "", "first business date, YYYY-MM-DD")
	to := fs.String("to", "", "last business date, YYYY-MM-DD")
	format := fs.String("format", "csv", "csv or json")
	unmatched := fs.Bool("unmatched", false, "list the files that named no batch of ours")
	if err := fs.Parse(args); err != nil {
		return reportArgs{}, fmt.Errorf("report: %w", err)
	}
	if fs.NArg() > 0 {
		return reportArgs{}, fmt.Errorf("report: unexpected argument %q", fs.Arg(0))
	}
	a := reportArgs{format: *format, unmatched: *unmatched}
	if a.format != "csv" && a.format != "json" {
		return a, fmt.Errorf("report: --format %q is not csv or json", a.format)
	}
	for _, p := range []struct {
		name, val string
		dst       *time.Time
	}{{"--from", *from, &a.filter.From}, {"--to", *to, &a.filter.To}} {
		if p.val == "" {
			continue
		}
		d, err := businessday.ParseDate(p.val)
		if err != nil {
			return a, fmt.Errorf("report: %s %q is not a date like 2025-03-31", p.name, p.val)
		}
		*p.dst = d.UTC()
	}
	return a, nil
}

func report(ctx context.Context, a reportArgs, led *postgres.Ledger, now func() time.Time, stdout io.Writer) error {
	if a.unmatched {
		// London dates, as the batches' business dates: from its first
		// instant to the first instant of the day after to.
		var from, to time.Time
		if !a.filter.From.IsZero() {
			from = time.Date(a.filter.From.Year(), a.filter.From.Month(), a.filter.From.Day(), 0, 0, 0, 0, businessday.London())
		}
		if !a.filter.To.IsZero() {
			to = time.Date(a.filter.To.Year(), a.filter.To.Month(), a.filter.To.Day()+1, 0, 0, 0, 0, businessday.London())
		}
		files, err := led.Unmatched(ctx, from, to, 0)
		if err != nil {
			return err
		}
		return reconcile.WriteUnmatched(stdout, a.format, files)
	}
	states, err := led.States(ctx, a.filter)
	if err != nil {
		return err
	}
	views := reconcile.Views(states, now())
	if a.format == "json" {
		return reconcile.WriteJSON(stdout, views)
	}
	return reconcile.WriteCSV(stdout, views)
}

func serve(ctx context.Context, cfg config, db *pgxpool.Pool, led *postgres.Ledger, now func() time.Time, log zerolog.Logger) error {
	// Every status, due date and confirmation shown or alerted on is
	// checked against the verified audit log (issue 15): the tables can be
	// written by the services' role, the log only appended to.
	trail := postgres.AuditTrail{DB: db}
	m := newMetrics(led, trail, nil, now, log)
	reg := m.reg
	rec := reconciler(cfg, led, log)
	rec.Trail = trail
	// The check runs with a context that outlives the SIGTERM, so that a
	// run in progress finishes (each file is one transaction, and a run is
	// harmless to repeat); past SHUTDOWN_TIMEOUT it is cancelled.
	jobs := inflight.New(ctx)
	defer jobs.Cancel()
	jobCtx := jobs.Context()
	checkpoints, err := newCheckpointer(cfg, db)
	if err != nil {
		return err
	}
	if checkpoints == nil {
		log.Error().Msg("no AUDIT_SIGNING_KEY_FILE: no audit checkpoint is signed")
	}
	go watchCheckpoints(ctx, checkpoints, cfg.Audit.Every, log) // the batcher's end-of-day records (audit.go)
	check := func(what string) {
		defer jobs.Begin()()
		// What the run did is recorded in the database, where /metrics
		// reads it (metrics.go), as for a `check-now` run elsewhere.
		_, err := rec.Reconcile(jobCtx, now())
		if err != nil {
			log.Error().Err(err).Msg(what + " incomplete")
		}
		signCheckpoint(jobCtx, checkpoints, false, log) // after every run
	}

	web, err := auditors.New(led, cfg.Auth, now, log, govuk.Assets())
	if err != nil {
		return err
	}
	web.Volunteers = postgres.NewVolunteers(db, now)
	web.OnSignInFailure = m.signInFailure
	web.Retention = led
	web.Trail = trail
	web.PartnerKeys = cfg.PartnerKeys
	web.AuditLog = postgres.AuditTree{DB: db} // export and proofs for the auditors (audit.go's, over HTTP)
	if checkpoints != nil {
		web.AuditPublicKey = checkpoints.Signer.PublicKey
		web.LogChecks = checkpoints // the page's "last consistency check"
	}
	if !cfg.Auth.Configured() {
		log.Error().Msg("no AUDIT_TOKEN or AUDIT_USER/AUDIT_PASSWORD_HASH: the audit pages answer 503 until one is set")
	}
	h, mi := int(cfg.At/time.Hour), int(cfg.At%time.Hour/time.Minute)
	svc := service.New("reconciler", log, service.Addr(cfg.HTTPAddr), service.WithTimeouts(service.Timeouts(cfg.HTTP)),
		service.WithRegistry(reg),
		service.ListeningLog(func(e *zerolog.Event) *zerolog.Event {
			return e.Str("reconcile_at", fmt.Sprintf("%02d:%02d", h, mi))
		}),
		service.StoppingLog("stopping: no new checks; finishing the one in progress", cfg.ShutdownTimeout))
	defer svc.Close()
	web.Register(svc.Mux())
	svc.Ready("database unavailable", led.Ready)

	sched, err := gocron.NewScheduler(gocron.WithLocation(businessday.London()))
	if err != nil {
		return fmt.Errorf("start scheduler: %w", err)
	}
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
	if err := scheduleVolunteerReviews(jobCtx, sched, reg, postgres.NewVolunteers(db, now), cfg.At, log); err != nil {
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

	if err := svc.Listen(); err != nil {
		stop()
		return fmt.Errorf("listen on %s: %w", cfg.HTTPAddr, err)
	}
	svc.OnShutdown("checks", func() error { stop(); return nil })
	svc.OnShutdown("http", func() error { return svc.ShutdownHTTP(10 * time.Second) })
	return svc.Run(ctx)
}
