package main

import (
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"booklets/pkg/platform/envconfig"
)

// The services the pipeline is made of, in the order data flows through
// them (and the order they start in).
var allServices = []string{"intake", "batcher", "reconciler"}

// config is the launcher's one base configuration; each service's
// environment is derived from it (see serviceEnv).
type config struct {
	runDir      string   // RUN_DIR: everything the launcher writes
	binDir      string   // BIN_DIR: prebuilt binaries; empty = build into runDir/bin
	services    []string // PIPELINE_SERVICES: which services to run
	natsURL     string   // NATS_URL
	databaseURL string   // DATABASE_URL
	addrs       map[string]string
	partnerAddr string // PARTNER_ADDR: the partner simulator's SFTP address
	holidays    string // BANK_HOLIDAYS_FILE: also the partner simulator's calendar
	logFormat   string // LOG_FORMAT for the services
	logLevel    string // LOG_LEVEL for the services
	auditToken  string // AUDIT_TOKEN; generated when empty
	demo        bool   // DEMO
	demoDay     time.Duration
	demoEpoch   time.Time
	startWait   time.Duration // STARTUP_TIMEOUT
	stopWait    time.Duration // SHUTDOWN_TIMEOUT
}

func loadConfig(getenv func(string) string) (config, error) {
	r := envconfig.New(getenv)
	c := config{
		runDir:      r.String("RUN_DIR", ".run"),
		binDir:      r.String("BIN_DIR", ""),
		natsURL:     r.String("NATS_URL", "nats://127.0.0.1:4222"),
		databaseURL: r.String("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/booklets?sslmode=disable"),
		addrs: map[string]string{
			"intake":     r.String("INTAKE_ADDR", "127.0.0.1:8080"),
			"batcher":    r.String("BATCHER_ADDR", "127.0.0.1:8081"),
			"reconciler": r.String("RECONCILER_ADDR", "127.0.0.1:8082"),
		},
		partnerAddr: r.String("PARTNER_ADDR", "127.0.0.1:2222"),
		holidays:    r.String("BANK_HOLIDAYS_FILE", ""),
		logFormat:   r.String("LOG_FORMAT", "console"),
		logLevel:    r.String("LOG_LEVEL", "info"),
		auditToken:  r.String("AUDIT_TOKEN", ""),
		demo:        r.Bool("DEMO", false),
		demoDay:     r.Duration("DEMO_DAY", 5*time.Second),
		startWait:   r.Duration("STARTUP_TIMEOUT", 2*time.Minute),
		stopWait:    r.Duration("SHUTDOWN_TIMEOUT", 30*time.Second),
	}
	c.services = splitList(r.String("PIPELINE_SERVICES", strings.Join(allServices, ",")))
	for _, s := range c.services {
		if !known(s) {
			r.Fail("PIPELINE_SERVICES", fmt.Sprintf("%q is not one of %s", s, strings.Join(allServices, ", ")))
		}
	}
	if len(c.services) == 0 {
		r.Fail("PIPELINE_SERVICES", "names no service")
	}
	for name, addr := range c.addrs {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			r.Fail(strings.ToUpper(name)+"_ADDR", fmt.Sprintf("%q is not host:port", addr))
		}
	}
	if _, _, err := net.SplitHostPort(c.partnerAddr); err != nil {
		r.Fail("PARTNER_ADDR", fmt.Sprintf("%q is not host:port", c.partnerAddr))
	}
	if c.demo && c.demoDay <= 0 {
		r.Fail("DEMO_DAY", "must be a positive duration such as 5s")
	}
	if _, err := url.Parse(c.databaseURL); err != nil {
		r.Fail("DATABASE_URL", "is not a URL") // the value may hold a password: not repeated
	}
	if err := r.Err(); err != nil {
		return config{}, err
	}
	if abs, err := filepath.Abs(c.runDir); err == nil {
		c.runDir = abs // children run elsewhere; give them absolute paths
	}
	if c.binDir != "" {
		if abs, err := filepath.Abs(c.binDir); err == nil {
			c.binDir = abs
		}
	}
	return c, nil
}

func known(service string) bool {
	for _, s := range allServices {
		if s == service {
			return true
		}
	}
	return false
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// redact hides the password of a URL before it is printed.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	return u.Redacted()
}

// browserURL turns a listen address into a URL a person can open: a
// wildcard host becomes the loopback address.
func browserURL(addr, path string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr + path
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + path
}
