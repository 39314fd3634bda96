// Command partnersim runs the print partner's SFTP server in-process (see
// pkg/partnersim) for `make run` on machines without OpenSSH's sshd, and
// prints the settings the batcher needs.
//
//	PARTNERSIM_ADDR (default 127.0.0.1:2222), PARTNERSIM_USER (default booklets),
//	PARTNERSIM_DIR (default ./.run/partner): keys, known_hosts and the files in root/.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"booklets/pkg/envconfig"
	"booklets/pkg/partnersim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "partnersim:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, _ []string, getenv func(string) string, stdout io.Writer) error {
	r := envconfig.New(getenv)
	cfg := partnersim.Config{
		Addr: r.String("PARTNERSIM_ADDR", "127.0.0.1:2222"),
		User: r.String("PARTNERSIM_USER", "booklets"),
		Dir:  r.String("PARTNERSIM_DIR", ".run/partner"),
	}
	if err := r.Err(); err != nil {
		return err
	}
	s, err := partnersim.Start(cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "SFTP_ADDR=%s\nSFTP_USER=%s\nSFTP_KEY_FILE=%s\nSFTP_KNOWN_HOSTS=%s\n# files arrive in %s\n",
		s.Addr, s.User, s.KeyFile, s.KnownHosts, s.Root)
	return s.Wait(ctx)
}
