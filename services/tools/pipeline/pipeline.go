package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"booklets/pkg/domain/workdays"
	"booklets/pkg/platform/clock"
	"booklets/pkg/platform/logging"
	"booklets/pkg/platform/natsembed"
	"booklets/pkg/platform/pgcluster"
	"booklets/pkg/testkit/partnersim"
)

// auditPath is where the reconciler serves the auditors' page.
const auditPath = "/audit"

// pipeline is one run of the whole pipeline on this machine.
type pipeline struct {
	cfg    config
	out    *console
	getenv func(string) string

	nats     *natsembed.Server  // nil when a NATS server was already running
	pg       *pgcluster.Cluster // nil when a PostgreSQL server was already running
	partner  *partnersim.Server // nil when neither batcher nor reconciler runs
	secrets  secrets
	children []*child
	exited   chan *child
}

// start brings everything up in dependency order and prints the URLs.
func (p *pipeline) start(ctx context.Context) error {
	cfg := p.cfg
	goCmd := cmp.Or(p.getenv("GO"), "go")
	binDir := cfg.binDir
	if binDir == "" {
		// Check the sources before anything starts, so that a missing
		// service is the first and only thing reported.
		root, err := moduleRoot(goCmd)
		if err != nil {
			return err
		}
		if err := checkSources(root, cfg.services); err != nil {
			return err
		}
		binDir = filepath.Join(cfg.runDir, "bin")
		if err := build(ctx, goCmd, root, binDir, cfg.services, p.out); err != nil {
			return err
		}
	} else if err := checkBinaries(binDir, cfg.services); err != nil {
		return err
	}

	addrs := map[string]string{}
	for _, s := range cfg.services {
		a, err := claimAddr(s, cfg.addrs[s])
		if err != nil {
			return err
		}
		addrs[s] = a
	}

	var err error
	if p.nats, err = ensureNATS(ctx, cfg, p.out); err != nil {
		return err
	}
	if cfg.natsURL, err = p.natsURL(); err != nil {
		return err
	}
	if p.pg, cfg.databaseURL, err = ensurePostgres(ctx, cfg, p.getenv, p.out); err != nil {
		return err
	}
	if cfg.demo {
		if cfg.databaseURL, err = demoDatabaseURL(cfg.databaseURL); err != nil {
			return err
		}
		if err := resetDemo(ctx, cfg, cfg.natsURL, p.out); err != nil {
			return err
		}
	}
	if err := ensureDatabase(ctx, cfg, p.out); err != nil {
		return err
	}
	if p.secrets, err = makeSecrets(cfg); err != nil {
		return err
	}
	if cfg.demo {
		// One epoch for every clock (services and partner) so they agree.
		cfg.demoEpoch = time.Now()
	}
	if slices.Contains(cfg.services, "batcher") || slices.Contains(cfg.services, "reconciler") {
		if p.partner, err = startPartner(cfg, p.out, p.secrets.partnerPGP); err != nil {
			return err
		}
	}
	p.cfg = cfg

	p.exited = make(chan *child, len(cfg.services))
	for _, s := range cfg.services {
		c, err := startChild(s, filepath.Join(binDir, s), cfg.runDir, addrs[s], p.serviceEnv(s, addrs[s]), p.out, p.exited)
		if err != nil {
			return err
		}
		p.children = append(p.children, c)
		p.out.printf("started %s (pid %d) on %s", s, c.cmd.Process.Pid, addrs[s])
		// One at a time, in data-flow order: the batcher migrates the
		// schema that the reconciler then relies on.
		if err := waitHealthy(ctx, c, cfg.startWait); err != nil {
			return err
		}
	}
	p.printURLs(addrs)
	return nil
}

// startPartner starts the partner simulator (pkg/testkit/partnersim) with its
// keys and files in runDir/partner, on the pipeline's clock so that in demo
// mode it confirms deletions within minutes. It signs its confirmations
// with the private half of pgpPublic, the partner key the batcher encrypts
// to (a partner's one key may both decrypt and sign), which the reconciler
// pins as PARTNER_SIGNING_KEY_FILE.
func startPartner(cfg config, out *console, pgpPublic string) (*partnersim.Server, error) {
	log, err := logging.New(out.writer("partner"), cfg.logFormat, cfg.logLevel, "partnersim")
	if err != nil {
		return nil, fmt.Errorf("LOG_LEVEL: %w", err)
	}
	sc := partnersim.Config{Addr: cfg.partnerAddr, Dir: filepath.Join(cfg.runDir, "partner"), Log: log}
	if pgpPublic != "" {
		sc.SigningKeyFile = partnerPGPPrivate(pgpPublic)
	}
	if cfg.demo {
		sc.Clock, sc.Day = clock.Demo(cfg.demoEpoch, cfg.demoDay), cfg.demoDay
		sc.Dir = demoPartnerDir(cfg)
	}
	if cfg.holidays != "" {
		// The same calendar as the batcher's, or due dates would differ.
		extra, err := workdays.LoadGovUK(cfg.holidays)
		if err != nil {
			return nil, fmt.Errorf("BANK_HOLIDAYS_FILE: %w", err)
		}
		sc.Calendar = workdays.New(extra...)
	}
	s, err := partnersim.Start(sc)
	if err != nil {
		return nil, fmt.Errorf("partner simulator (set PARTNER_ADDR if the address is taken): %w", err)
	}
	out.printf("partner simulator: SFTP on %s, files in %s", s.Addr, s.Root)
	return s, nil
}

// natsURL is the URL the services use: the embedded server's when one was
// started (its port may differ from NATS_URL's if that was taken).
func (p *pipeline) natsURL() (string, error) {
	if p.nats == nil {
		return p.cfg.natsURL, nil
	}
	return p.nats.URL(), nil
}

func (p *pipeline) printURLs(addrs map[string]string) {
	p.out.printf("the pipeline is running:")
	if p.nats != nil {
		p.out.printf("  NATS:              embedded in the launcher, %s", p.cfg.natsURL)
	} else {
		p.out.printf("  NATS:              found at %s", redact(p.cfg.natsURL))
	}
	if p.pg != nil {
		p.out.printf("  PostgreSQL:        private cluster on %s, data in %s", p.pg.Addr(), p.pg.Dir())
	} else {
		p.out.printf("  PostgreSQL:        found at %s", redact(p.cfg.databaseURL))
	}
	if a, ok := addrs["intake"]; ok {
		p.out.printf("  order form:        %s", browserURL(a, "/"))
		p.out.printf("  in Welsh:          %s", browserURL(a, "/cy"))
		p.out.printf("  check an order:    %s", browserURL(a, "/status"))
		p.out.printf("  orders API:        POST %s", browserURL(a, "/api/v1/orders"))
	}
	if a, ok := addrs["reconciler"]; ok {
		p.out.printf("  auditors' page:    %s", browserURL(a, auditPath))
		p.out.printf("  auditors sign in:  user %s, password %s", p.secrets.auditUser, p.secrets.auditPass)
		p.out.printf("  auditor token:     %s   (for the JSON API: Authorization: Bearer <token>)", p.secrets.auditToken)
		p.out.printf("  audit public key:  %s   (auditverify --key %s)", p.secrets.auditPub, p.secrets.auditPub)
	}
	if p.partner != nil {
		p.out.printf("  partner (SFTP):    %s, its files in %s", p.partner.Addr, p.partner.Root)
	}
	for _, s := range p.cfg.services {
		p.out.printf("  %-10s metrics: %s", s, browserURL(addrs[s], "/metrics"))
	}
	if p.cfg.demo {
		p.out.printf("demo mode: a day lasts %s, so a batch goes out every %s and 30 working days pass in about %s",
			p.cfg.demoDay, p.cfg.demoDay, (p.cfg.demoDay * 42).Round(time.Second))
	}
	p.out.printf("press Ctrl-C to stop")
}

// wait blocks until ctx ends or a service exits on its own, then stops
// everything.
func (p *pipeline) wait(ctx context.Context) error {
	select {
	case <-ctx.Done():
		p.out.printf("stopping: SIGTERM to every service, in data-flow order")
		return p.stopChildren()
	case c := <-p.exited:
		p.out.printf("%s exited on its own (%s): stopping the others", c.name, exitStatus(c.err))
		_ = p.stopChildren()
		return fmt.Errorf("%s exited unexpectedly (%s): see its output above", c.name, exitStatus(c.err))
	case <-p.pgDone():
		p.out.printf("the private PostgreSQL exited on its own: stopping the services")
		_ = p.stopChildren()
		return fmt.Errorf("the private PostgreSQL exited unexpectedly: see %s", filepath.Join(p.cfg.runDir, "postgres.log"))
	}
}

// pgDone is closed when the private PostgreSQL exits; nil (never ready)
// when the run uses a server of its own.
func (p *pipeline) pgDone() <-chan struct{} {
	if p.pg == nil {
		return nil
	}
	return p.pg.Done()
}

// stopChildren stops the services one by one in data-flow order: the
// intake stops taking orders first, so the batcher can store all it
// published, and so on.
func (p *pipeline) stopChildren() error {
	var errs []error
	for _, c := range p.children {
		if err := c.stop(p.cfg.stopWait, p.out); err != nil {
			errs = append(errs, err)
		}
	}
	p.children = nil
	if len(errs) > 0 {
		return fmt.Errorf("not every service stopped cleanly: %w", errors.Join(errs...))
	}
	return nil
}

// close releases everything start set up, in reverse order. It is safe
// after a failed or partial start. Only the private PostgreSQL reports a
// failure to stop: the rest stop in process.
func (p *pipeline) close() error {
	_ = p.stopChildren()
	if p.partner != nil {
		_ = p.partner.Close()
		p.out.printf("partner simulator stopped")
		p.partner = nil
	}
	if p.nats != nil {
		p.nats.Shutdown()
		p.out.printf("embedded NATS stopped")
		p.nats = nil
	}
	var err error
	if p.pg != nil {
		if err = p.pg.Stop(p.cfg.stopWait); err == nil {
			p.out.printf("private PostgreSQL stopped")
		}
		p.pg = nil
	}
	return err
}

// passThrough are settings a person may set for `make run` that reach the
// services unchanged. A name prefixed with a service's name in capitals
// (BATCHER_BATCH_CUTOFF) reaches only that service and wins.
var passThrough = []string{
	// the process basics
	"PATH", "HOME", "TMPDIR", "TZ", "LANG", "ZONEINFO",
	// intake
	"NATS_STREAM", "NATS_SUBJECT", "NATS_REPLICAS", "NATS_DUPE_WINDOW", "AREAS_FILE",
	"RATE_LIMIT_PER_MINUTE", "RATE_LIMIT_BURST", "CLIENT_IP_HEADER",
	// batcher
	"BATCH_CUTOFF", "SFTP_DIR", "NATS_CONSUMER", "SFTP_RETRIES", "SFTP_RETRY_BASE",
	"PARTNER_PGP_KEY_FILE", "PARTNER_PLAINTEXT", "PARTNER_XLSX", "SEND_RETRY_INTERVAL", "RETENTION_GRACE", "CATCH_UP_TIMEOUT",
	"RESEND_WINDOW", "RETAINED_DIR",
	// reconciler
	"SFTP_CONFIRMATIONS_DIR", "SFTP_PROCESSED_DIR", "SFTP_REJECTED_DIR", "SFTP_TIMEOUT",
	"RECONCILE_AT", "BANK_HOLIDAYS_FILE", "MIGRATE",
	"PARTNER_SIGNING_KEY_FILE", "ACCEPT_UNSIGNED_CONFIRMATIONS", "CONFIRMATION_SIGNATURE_GRACE",
}

// serviceEnv is the whole environment of one service: what the person
// running the launcher passed through, then the launcher's own settings,
// which every service shares so that they talk to each other.
func (p *pipeline) serviceEnv(service, addr string) []string {
	env := map[string]string{}
	prefix := strings.ToUpper(service) + "_"
	for _, k := range passThrough {
		if v := p.getenv(prefix + k); v != "" {
			env[k] = v
		} else if v := p.getenv(k); v != "" {
			env[k] = v
		}
	}
	cfg := p.cfg
	env["HTTP_ADDR"] = addr
	env["NATS_URL"] = cfg.natsURL
	env["DATABASE_URL"] = cfg.databaseURL
	env["LOG_FORMAT"] = cfg.logFormat
	env["LOG_LEVEL"] = cfg.logLevel
	env["KEK_FILE"] = p.secrets.kekFile
	switch service {
	case "intake":
		env["INTAKE_SECRET"] = strings.TrimSpace(p.secrets.intakeSecret)
	case "batcher":
		// Batch files are encrypted to the simulated partner's key, as in
		// production; PARTNER_PGP_KEY_FILE given to make run wins.
		if _, set := env["PARTNER_PGP_KEY_FILE"]; !set && p.secrets.partnerPGP != "" {
			env["PARTNER_PGP_KEY_FILE"] = p.secrets.partnerPGP
		}
		// The copies kept for a resend belong to one database: a demo's
		// apart from a normal run's.
		if _, set := env["RETAINED_DIR"]; !set {
			env["RETAINED_DIR"] = retainedDir(cfg)
		}
	case "reconciler":
		// The auditors' page shows the key(s) the batcher encrypts to.
		if _, set := env["PARTNER_PGP_KEY_FILE"]; !set && p.secrets.partnerPGP != "" {
			env["PARTNER_PGP_KEY_FILE"] = p.secrets.partnerPGP
		}
		env["AUDIT_TOKEN"] = p.secrets.auditToken
		env["AUDIT_USER"] = p.secrets.auditUser
		env["AUDIT_PASSWORD_HASH"] = p.secrets.auditHash
		// Checkpoints are signed with the launcher's key and published to
		// a folder of the run: a demo's apart from a normal run's, as its
		// database is (a checkpoint of one log would not match the other,
		// and the reconciler refuses to sign a log that does not extend
		// the checkpoints it finds there).
		env["AUDIT_SIGNING_KEY_FILE"] = p.secrets.auditKey
		env["AUDIT_CHECKPOINT_DIR"] = checkpointDir(cfg)
		// The simulated partner signs its confirmations (startPartner):
		// its public key is pinned, as a real partner's would be;
		// PARTNER_SIGNING_KEY_FILE given to make run wins.
		if _, set := env["PARTNER_SIGNING_KEY_FILE"]; !set && p.secrets.partnerPGP != "" {
			env["PARTNER_SIGNING_KEY_FILE"] = p.secrets.partnerPGP
		}
	}
	if p.partner != nil && service != "intake" {
		for k, v := range p.partner.Env() {
			if _, set := env[k]; !set {
				env[k] = v
			}
		}
	}
	if cfg.demo {
		for k, v := range map[string]string{"NATS_STREAM": demoStream, "NATS_SUBJECT": demoSubject} {
			if _, set := env[k]; !set {
				env[k] = v
			}
		}
		env["DEMO_DAY"] = cfg.demoDay.String()
		env["DEMO_EPOCH"] = cfg.demoEpoch.Format(time.RFC3339Nano)
	}
	list := make([]string, 0, len(env))
	for k, v := range env {
		list = append(list, k+"="+v)
	}
	slices.Sort(list)
	return list
}
