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

// run starts the pipeline and blocks until ctx is cancelled (Ctrl-C,
// SIGTERM) or a service dies. It returns nil after a clean stop.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) > 0 {
		return fmt.Errorf("no arguments expected (got %q): configure with environment variables, see docs/operations.md", args[0])
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	out := newConsole(stdout)
	p := &pipeline{cfg: cfg, out: out, getenv: getenv}
	defer p.close()
	if err := p.start(ctx); err != nil {
		return err
	}
	return p.wait(ctx)
}
