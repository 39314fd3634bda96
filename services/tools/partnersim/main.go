// Command partnersim runs the print partner simulator (pkg/testkit/partnersim) on
// its own: an SFTP server with a clerk that confirms deletions after 30
// working days, for running the services by hand on a machine without
// OpenSSH's sshd. `make run` starts the same simulator inside the launcher.
// It prints the settings the batcher and the reconciler need.
//
//	PARTNERSIM_ADDR (default 127.0.0.1:2222), PARTNERSIM_USER (default booklets),
//	PARTNERSIM_DIR (default .run/partner): keys, known_hosts and the login folder home/;
//	DEMO_DAY, DEMO_EPOCH: the demo clock (the same values as the services');
//	BANK_HOLIDAYS_FILE: extra holidays (the batcher's); LOG_FORMAT, LOG_LEVEL.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"syscall"

	"booklets/pkg/domain/workdays"
	"booklets/pkg/platform/clock"
	"booklets/pkg/platform/envconfig"
	"booklets/pkg/platform/logging"
	"booklets/pkg/testkit/partnersim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "partnersim:", err)
		os.Exit(1)
	}
}

const usage = `Usage: partnersim

Runs the print partner simulator: an SFTP server with a clerk that confirms
deletions after 30 working days (and reports the booklets of a batch it can
read dispatched, in its updates folder). Prints the SFTP_* settings the batcher and
the reconciler need, and runs until Ctrl-C.

It takes no arguments: it is configured by environment variables -
PARTNERSIM_ADDR (127.0.0.1:2222), PARTNERSIM_USER (booklets), PARTNERSIM_DIR
(.run/partner), DEMO_DAY and DEMO_EPOCH, BANK_HOLIDAYS_FILE, LOG_FORMAT,
LOG_LEVEL (docs/operations.md).
`

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("partnersim", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usage) // and nothing else: no folder, no port
			return nil
		}
		return fmt.Errorf("%w\n\n%s", err, usage)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q: partnersim is configured by environment variables\n\n%s", fs.Arg(0), usage)
	}
	r := envconfig.New(getenv)
	cfg := partnersim.Config{
		Addr: r.String("PARTNERSIM_ADDR", "127.0.0.1:2222"),
		User: r.String("PARTNERSIM_USER", "booklets"),
		Dir:  r.String("PARTNERSIM_DIR", ".run/partner"),
	}
	holidays := r.String("BANK_HOLIDAYS_FILE", "")
	logFormat, logLevel := r.String("LOG_FORMAT", "json"), r.String("LOG_LEVEL", "info")
	if err := r.Err(); err != nil {
		return err
	}
	now, day, err := clock.FromEnv(getenv)
	if err != nil {
		return err
	}
	cfg.Clock, cfg.Day = now, day
	if holidays != "" {
		extra, err := workdays.LoadGovUK(holidays)
		if err != nil {
			return fmt.Errorf("BANK_HOLIDAYS_FILE: %w", err)
		}
		cfg.Calendar = workdays.New(extra...)
	}
	if cfg.Log, err = logging.New(os.Stderr, logFormat, logLevel, "partnersim"); err != nil {
		return fmt.Errorf("LOG_LEVEL: %w", err)
	}
	s, err := partnersim.Start(cfg)
	if err != nil {
		return err
	}
	env := s.Env()
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(stdout, "%s=%s\n", k, env[k])
	}
	fmt.Fprintf(stdout, "# files are in %s\n", s.Root)
	return s.Wait(ctx)
}
