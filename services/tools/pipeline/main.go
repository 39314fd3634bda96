// Command pipeline is `make run`: it starts the whole pipeline on one
// machine. It finds (or starts) NATS, makes sure the PostgreSQL database
// exists, starts the partner simulator, builds the intake, batcher and
// reconciler and runs each as a child process with its own environment,
// prints the URLs a person needs, and stops everything cleanly on Ctrl-C.
//
// The services run as separate processes, exactly as in production, rather
// than as goroutines: each keeps its own signal handling, logs and exit
// status, and a crash in one is seen as a crash.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "pipeline: %v\n", err)
		os.Exit(1)
	}
}

const usage = `Usage: pipeline   (what make run runs)

Starts the whole pipeline on this machine - intake, batcher, reconciler and a
simulated print partner - and prints the order form's URL and the auditors'
page; Ctrl-C stops everything. NATS and PostgreSQL are used where they answer;
where they do not, an embedded NATS and a private PostgreSQL cluster (in
RUN_DIR) are started for the run.

It takes no arguments: it is configured by environment variables, among them
RUN_DIR (.run), NATS_URL, DATABASE_URL, INTAKE_ADDR, BATCHER_ADDR,
RECONCILER_ADDR, PARTNER_ADDR, PIPELINE_SERVICES, DEMO, DEMO_DAY, LOG_FORMAT,
LOG_LEVEL, STARTUP_TIMEOUT, SHUTDOWN_TIMEOUT (docs/operations.md).
`

// run starts the pipeline and blocks until ctx is cancelled (Ctrl-C,
// SIGTERM) or a service dies. It returns nil after a clean stop, and after
// an interruption while starting: the person asked for the stop.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if help, err := parseArgs(args, stdout); help || err != nil {
		return err
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	out := newConsole(stdout)
	p := &pipeline{cfg: cfg, out: out, getenv: getenv}
	err = p.start(ctx)
	if err != nil && ctx.Err() != nil {
		out.printf("interrupted while starting: stopping what had started")
		err = nil
	} else if err == nil {
		err = p.wait(ctx)
	}
	return errors.Join(err, p.close())
}

// parseArgs accepts -h and --help (usage on stdout, nothing else done) and
// nothing more: every setting is an environment variable.
func parseArgs(args []string, stdout io.Writer) (help bool, err error) {
	fs := flag.NewFlagSet("pipeline", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usage)
			return true, nil
		}
		return false, fmt.Errorf("%w\n\n%s", err, usage)
	}
	if fs.NArg() > 0 {
		return false, fmt.Errorf("unexpected argument %q: the launcher is configured by environment variables\n\n%s", fs.Arg(0), usage)
	}
	return false, nil
}
