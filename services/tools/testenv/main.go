// Command testenv runs the tests with what they need, so that `make test`
// works on a machine where nothing is running:
//
//	testenv go test -count=1 ./...     (what make test runs)
//	testenv -check                     (only say what is missing)
//
// It first checks the programs the tests use (OpenSSH's sshd, Chromium,
// GnuPG, the PostgreSQL client, promtool, LibreOffice) and, if any is missing, says in
// one line which Debian packages to install, and stops. Then it looks for
// PostgreSQL at TEST_DATABASE_URL and NATS with JetStream at TEST_NATS_URL
// (pkg/testkit/testenv's defaults, 127.0.0.1:5432 and :4222): what answers is used;
// where nothing answers on this machine it starts a private PostgreSQL
// cluster (pkg/platform/pgcluster, durability off, it is thrown away) and an
// embedded NATS server (pkg/platform/natsembed), each on a free loopback port, in
// a temporary folder. It runs the command with TEST_DATABASE_URL and
// TEST_NATS_URL (and the bench's BENCH_DATABASE_URL and BENCH_NATS_URL,
// unless set) naming them - go test runs each package as a process of its
// own, which all inherit these - and stops and removes them when the
// command ends, exiting with its status.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"booklets/pkg/platform/natsembed"
	"booklets/pkg/platform/pgcluster"
	"booklets/pkg/testkit/testenv"
)

const usage = `Usage: testenv [-check] [--] command [argument ...]

Runs command (make test: go test ./...) with a PostgreSQL and a NATS server
for the tests: those answering at TEST_DATABASE_URL and TEST_NATS_URL, or,
where nothing answers on this machine, a private PostgreSQL cluster and an
embedded NATS started for the run and removed afterwards. Checks first that
the programs the tests use are installed, naming the Debian packages that
are missing. Exits with the command's status.

  -check   only check what is installed and what answers; start nothing
`

func main() {
	code, err := run(context.Background(), os.Args[1:], os.Getenv, exec.LookPath, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testenv:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// A tool the tests run, and the Debian package that has it.
type tool struct {
	program string // an absolute path (the tests use it so) or a name on PATH
	pkg     string
}

var tools = []tool{
	{"/usr/sbin/sshd", "openssh-server"}, // pkg/testkit/sftptest, the bench
	{"sftp", "openssh-client"},           // the bench's baseline
	{"/usr/bin/chromium", "chromium"},    // the browser tests
	{"gpg", "gnupg"},                     // OpenPGP batch files, read back
	{"gpgconf", "gnupg"},
	{"gpg-agent", "gnupg"},
	{"psql", "postgresql-client"},         // the bench's baselines
	{"pg_dump", "postgresql-client"},      // the privacy scans
	{"promtool", "prometheus"},            // the alerting rules (make alerts-test)
	{"soffice", "libreoffice-calc-nogui"}, // the XLSX copy read back as a partner's spreadsheet does
}

// missingTools returns the programs that are not installed and their
// packages, each package once.
func missingTools(lookPath func(string) (string, error)) (programs, packages []string) {
	for _, t := range tools {
		if _, err := lookPath(t.program); err != nil {
			programs = append(programs, filepath.Base(t.program))
			if !slices.Contains(packages, t.pkg) {
				packages = append(packages, t.pkg)
			}
		}
	}
	return programs, packages
}

// missingLine is the one line that names what to install.
func missingLine(programs, packages []string) error {
	return fmt.Errorf("the tests need what is not installed here: %s; install it with: apt-get install %s",
		strings.Join(programs, ", "), strings.Join(packages, " "))
}

// run does what main says; lookPath finds the tests' programs.
func run(ctx context.Context, args []string, getenv func(string) string, lookPath func(string) (string, error),
	stdout io.Writer) (int, error) {
	fs := flag.NewFlagSet("testenv", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	check := fs.Bool("check", false, "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usage)
			return 0, nil
		}
		return 2, fmt.Errorf("%w\n\n%s", err, usage)
	}
	command := fs.Args()
	if *check == (len(command) > 0) {
		return 2, fmt.Errorf("give a command to run, or -check\n\n%s", usage)
	}

	dbURL := orDefault(getenv, "TEST_DATABASE_URL", testenv.DatabaseURL())
	natsURL := orDefault(getenv, "TEST_NATS_URL", testenv.NATSURL())
	pgPlan, err := planPostgres(ctx, dbURL, getenv("TEST_DATABASE_URL") == "")
	if err != nil {
		return 1, err
	}
	natsPlan, err := planNATS(ctx, natsURL)
	if err != nil {
		return 1, err
	}
	programs, packages := missingTools(lookPath)
	if pgPlan.private && !pgPlan.installed {
		programs = append(programs, "initdb and postgres (no PostgreSQL lets us in at "+pgPlan.where+")")
		packages = append(packages, "postgresql")
	}
	if len(packages) > 0 {
		return 1, missingLine(programs, packages)
	}
	fmt.Fprintf(stdout, "testenv: PostgreSQL: %s\n", pgPlan.say)
	fmt.Fprintf(stdout, "testenv: NATS: %s\n", natsPlan.say)
	if *check {
		return 0, nil
	}

	env, stop, err := startServers(ctx, dbURL, natsURL, pgPlan, natsPlan, getenv, stdout)
	if err != nil {
		return 1, err
	}
	code, err := runCommand(command, env)
	stop(code != 0)
	return code, err
}

func orDefault(getenv func(string) string, name, def string) string {
	if v := getenv(name); v != "" {
		return v
	}
	return def
}

// plan says whether a server answered and, if not, what will stand in.
type plan struct {
	private   bool   // start our own
	installed bool   // (PostgreSQL) its server programs are here
	where     string // host:port looked at
	say       string // one line for the person running the tests
}

func planPostgres(ctx context.Context, raw string, isDefault bool) (plan, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return plan{}, errors.New("TEST_DATABASE_URL is not a URL") // may hold a password: not repeated
	}
	p := plan{where: u.Host}
	answer, perr := pgcluster.Probe(ctx, raw)
	switch {
	case answer == pgcluster.Answered:
		// The tests' administrative database (pkg/testkit/testenv) may not exist
		// yet on a freshly installed server.
		if err := pgcluster.EnsureDatabase(ctx, raw); err != nil {
			return plan{}, err
		}
		p.say = "found at " + u.Host
		return p, nil
	case answer == pgcluster.RefusedUs && !isDefault:
		return plan{}, fmt.Errorf("PostgreSQL at %s refused TEST_DATABASE_URL's user: %w", u.Host, perr)
	case answer == pgcluster.NoAnswer && !isLocal(u.Hostname()):
		return plan{}, fmt.Errorf("PostgreSQL does not answer at %s, which is not on this machine: %w", u.Host, perr)
	}
	p.private = true
	_, err = pgcluster.FindBinaries()
	p.installed = err == nil
	reason := "nothing answered at " + u.Host
	if answer == pgcluster.RefusedUs {
		reason = "the server at " + u.Host + " wants a password"
	}
	p.say = reason + ": a private cluster for this run"
	return p, nil
}

func planNATS(ctx context.Context, raw string) (plan, error) {
	first := strings.TrimSpace(strings.Split(raw, ",")[0])
	u, err := url.Parse(first)
	if err != nil {
		return plan{}, errors.New("TEST_NATS_URL is not a URL")
	}
	p := plan{where: u.Host}
	nc, err := nats.Connect(raw, nats.Name("booklets-testenv"), nats.Timeout(2*time.Second))
	if err == nil {
		defer nc.Close()
		js, err := jetstream.New(nc)
		if err == nil {
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			_, err = js.AccountInfo(cctx)
			cancel()
		}
		if err != nil {
			return plan{}, fmt.Errorf("NATS at %s answers without JetStream (start nats-server with -js): %w", u.Host, err)
		}
		p.say = "found at " + u.Host + ", with JetStream"
		return p, nil
	}
	if !isLocal(u.Hostname()) {
		return plan{}, fmt.Errorf("NATS does not answer at %s, which is not on this machine: %w", u.Host, err)
	}
	p.private = true
	p.say = "nothing answered at " + u.Host + ": an embedded server for this run"
	return p, nil
}

func isLocal(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}

// startServers starts what the plans call for, in a temporary folder, and
// returns the command's environment and a function that stops them (and,
// after a failed run, shows the end of their logs first).
func startServers(ctx context.Context, dbURL, natsURL string, pgPlan, natsPlan plan, getenv func(string) string,
	stdout io.Writer) ([]string, func(failed bool), error) {
	env := os.Environ()
	if !pgPlan.private && !natsPlan.private {
		return withURLs(env, dbURL, natsURL, getenv), func(bool) {}, nil
	}
	dir, err := os.MkdirTemp("", "booklets-testenv-")
	if err != nil {
		return nil, nil, err
	}
	// As root the cluster runs as user postgres, who must reach its folder.
	if err := os.Chmod(dir, 0o711); err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	var (
		cluster *pgcluster.Cluster
		ns      *natsembed.Server
		logs    []string
	)
	stop := func(failed bool) {
		if failed {
			for _, l := range logs {
				showTail(stdout, l, 40)
			}
		}
		if ns != nil {
			ns.Shutdown()
		}
		if cluster != nil {
			if err := cluster.Stop(30 * time.Second); err != nil {
				fmt.Fprintf(stdout, "testenv: %v\n", err)
			}
		}
		os.RemoveAll(dir)
	}
	if pgPlan.private {
		u, _ := url.Parse(dbURL) // parsed by planPostgres
		port, _ := strconv.Atoi(u.Port())
		if port == 0 || !pgcluster.PortFree(port) {
			port = 0
		}
		logFile := filepath.Join(dir, "postgres.log")
		logs = append(logs, logFile)
		cluster, err = pgcluster.Start(ctx, pgcluster.Config{
			Dir: filepath.Join(dir, "postgres"), Port: port, User: u.User.Username(), LogFile: logFile,
			// Thrown away afterwards: no need to survive a crash.
			Settings: map[string]string{"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off",
				"max_connections": "200"},
		})
		if err == nil {
			u.Host = cluster.Addr()
			dbURL = u.String()
			err = pgcluster.EnsureDatabase(ctx, dbURL)
		}
		if err != nil {
			stop(true)
			return nil, nil, err
		}
		fmt.Fprintf(stdout, "testenv: private PostgreSQL on %s (pid %d)\n", cluster.Addr(), cluster.Pid())
	}
	if natsPlan.private {
		logFile := filepath.Join(dir, "nats.log")
		logs = append(logs, logFile)
		ns, err = natsembed.Start(natsembed.Config{Dir: filepath.Join(dir, "nats"), Port: -1, Name: "booklets-test", LogFile: logFile})
		if err != nil {
			stop(true)
			return nil, nil, err
		}
		natsURL = ns.URL()
		fmt.Fprintf(stdout, "testenv: embedded NATS on %s\n", natsURL)
	}
	return withURLs(env, dbURL, natsURL, getenv), stop, nil
}

// withURLs adds the servers' URLs to env (later entries win in os/exec).
func withURLs(env []string, dbURL, natsURL string, getenv func(string) string) []string {
	env = append(env, "TEST_DATABASE_URL="+dbURL, "TEST_NATS_URL="+natsURL)
	if getenv("BENCH_DATABASE_URL") == "" {
		env = append(env, "BENCH_DATABASE_URL="+dbURL)
	}
	if getenv("BENCH_NATS_URL") == "" {
		env = append(env, "BENCH_NATS_URL="+natsURL)
	}
	return env
}

// runCommand runs the command with env and the terminal, passing on
// SIGINT and SIGTERM (so that the servers are stopped after it, not
// under it), and returns its exit status.
func runCommand(command, env []string) (int, error) {
	cmd := exec.Command(command[0], command[1:]...)
	cmd.Env = env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		return 1, fmt.Errorf("run %s: %w", command[0], err)
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-sigs:
				_ = cmd.Process.Signal(s)
			case <-done:
				return
			}
		}
	}()
	err := cmd.Wait()
	close(done)
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		if code := exit.ExitCode(); code > 0 {
			return code, nil
		}
		return 1, fmt.Errorf("%s: %w", command[0], err)
	}
	if err != nil {
		return 1, fmt.Errorf("%s: %w", command[0], err)
	}
	return 0, nil
}

// showTail prints the last n lines of a server's log: the cause of a
// refused stream store, for one, is written only there.
func showTail(w io.Writer, path string, n int) {
	b, err := os.ReadFile(path)
	if err != nil || len(b) == 0 {
		return
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	fmt.Fprintf(w, "testenv: the end of %s:\n%s\n", filepath.Base(path), strings.Join(lines, "\n"))
}
