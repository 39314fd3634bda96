// Package pgcluster runs a private PostgreSQL cluster from the server
// programs installed on this machine (initdb and postgres), for `make run`
// and `make test` on a machine where no PostgreSQL answers: the cluster is
// created in a folder of the caller's (kept there, so its data survives a
// restart), listens on a loopback port only, lets its superuser in without
// a password, and stops when the caller stops it or dies.
//
// PostgreSQL refuses to run as root; started by root, the cluster runs as
// the user "postgres" (which Debian's postgresql package creates) and its
// folder belongs to that user.
package pgcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// ErrNotInstalled is returned when initdb and postgres are not on this
// machine; its message says which package to install.
var ErrNotInstalled = errors.New("PostgreSQL's server programs (initdb, postgres) are not installed: " +
	"install them (Debian: apt-get install postgresql), or start a PostgreSQL server and point the URL at it")

// RunAsUser is the account the cluster runs as when the caller is root.
const RunAsUser = "postgres"

// Config says where the cluster lives and how it runs.
type Config struct {
	// Dir is the cluster's data folder; initdb fills it on the first
	// start. Its parent must exist or be creatable.
	Dir string
	// Port to listen on (127.0.0.1 only): 0 means any free port.
	Port int
	// User is the superuser's name; default "postgres".
	User string
	// Settings are extra server settings (name to value), such as
	// fsync=off for a throwaway test cluster.
	Settings map[string]string
	// LogFile is where the server's own log is appended (it never logs
	// statements or their values, see start); when empty, Log receives it,
	// and when both are empty it is discarded.
	LogFile string
	Log     io.Writer
	// BinDir holds initdb and postgres; default: found with FindBinaries.
	BinDir string
	// ReadyTimeout bounds the wait for the server to accept connections;
	// default 60s (the first start includes initdb).
	ReadyTimeout time.Duration
}

// Cluster is a running private PostgreSQL server.
type Cluster struct {
	cfg     Config
	port    int
	created bool
	cmd     *exec.Cmd
	done    chan struct{}
	err     error // the server's exit status, valid after done
}

// FindBinaries returns the folder holding initdb and postgres: the newest
// version under /usr/lib/postgresql (Debian and Ubuntu keep them there,
// off PATH), else the folder of an initdb on PATH. It returns
// ErrNotInstalled when there is none.
func FindBinaries() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int { return majorVersion(b) - majorVersion(a) })
	for _, d := range dirs {
		if executable(filepath.Join(d, "initdb")) && executable(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		d := filepath.Dir(p)
		if executable(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	return "", ErrNotInstalled
}

func majorVersion(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func executable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// Start creates the cluster if Dir holds none yet, starts the server and
// returns once it accepts connections. The server is in its own process
// group (a Ctrl-C at the terminal reaches only the caller, which stops it
// last) and the kernel stops it if the caller dies (Linux).
func Start(ctx context.Context, cfg Config) (*Cluster, error) {
	if cfg.Dir == "" {
		return nil, errors.New("private PostgreSQL: a data folder is required")
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("private PostgreSQL: data folder: %w", err)
	}
	cfg.Dir = dir
	if cfg.User == "" {
		cfg.User = "postgres"
	}
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	if cfg.ReadyTimeout <= 0 {
		cfg.ReadyTimeout = 60 * time.Second
	}
	if cfg.BinDir == "" {
		if cfg.BinDir, err = FindBinaries(); err != nil {
			return nil, err
		}
	} else if !executable(filepath.Join(cfg.BinDir, "initdb")) || !executable(filepath.Join(cfg.BinDir, "postgres")) {
		return nil, fmt.Errorf("%w (looked in %s)", ErrNotInstalled, cfg.BinDir)
	}
	cred, err := runAs()
	if err != nil {
		return nil, err
	}
	c := &Cluster{cfg: cfg, done: make(chan struct{})}
	if err := c.prepareDir(cred); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, "PG_VERSION")); errors.Is(err, fs.ErrNotExist) {
		if err := c.initdb(ctx, cred); err != nil {
			return nil, err
		}
		c.created = true
	}
	c.port = cfg.Port
	if c.port == 0 {
		if c.port, err = freePort(); err != nil {
			return nil, fmt.Errorf("private PostgreSQL: %w", err)
		}
	}
	if err := c.start(cred); err != nil {
		return nil, err
	}
	if err := c.waitReady(ctx); err != nil {
		_ = c.Stop(10 * time.Second)
		return nil, err
	}
	return c, nil
}

// runAs is the credential for initdb and postgres: nil (the caller's own)
// unless the caller is root, which PostgreSQL refuses to run as.
func runAs() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup(RunAsUser)
	if err != nil {
		return nil, fmt.Errorf("private PostgreSQL: running as root, and PostgreSQL refuses to; there is no user %q to run it as "+
			"(Debian's postgresql package creates one), or run this as an ordinary user: %w", RunAsUser, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
}

// prepareDir creates the data folder with the mode PostgreSQL demands
// (0700) and, for another user, gives it to them; and checks that the
// user can reach it, since initdb's own error for a closed parent folder
// does not say which one.
func (c *Cluster) prepareDir(cred *syscall.Credential) error {
	dir := c.cfg.Dir
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return fmt.Errorf("private PostgreSQL: data folder: %w", err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("private PostgreSQL: data folder: %w", err)
	}
	if cred == nil {
		return nil
	}
	if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
		return fmt.Errorf("private PostgreSQL: give %s to user %s: %w", dir, RunAsUser, err)
	}
	for p := filepath.Dir(dir); ; p = filepath.Dir(p) {
		if !searchable(p, cred) {
			return fmt.Errorf("private PostgreSQL: it runs as user %s (PostgreSQL refuses root), who cannot enter %s "+
				"on the way to %s: use a folder it can reach (RUN_DIR), or run as an ordinary user", RunAsUser, p, dir)
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}

// searchable says whether the credential's user may pass through dir.
func searchable(dir string, cred *syscall.Credential) bool {
	fi, err := os.Stat(dir)
	if err != nil {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return true // not a Unix file system: let PostgreSQL judge
	}
	mode := fi.Mode().Perm()
	switch {
	case st.Uid == cred.Uid:
		return mode&0o100 != 0
	case st.Gid == cred.Gid:
		return mode&0o010 != 0
	default:
		return mode&0o001 != 0
	}
}

// initdb creates the cluster: UTF-8, the superuser without a password
// (trust), which is safe only because the server listens on loopback alone
// and has no Unix socket (see start).
func (c *Cluster) initdb(ctx context.Context, cred *syscall.Credential) error {
	base := []string{"-D", c.cfg.Dir, "-U", c.cfg.User, "--auth=trust", "--encoding=UTF8"}
	// C.UTF-8, as Debian's own clusters, where the C library has it;
	// otherwise the plain C locale.
	var last error
	for _, locale := range [][]string{{"--locale=C.UTF-8"}, {"--no-locale"}} {
		cmd := exec.CommandContext(ctx, filepath.Join(c.cfg.BinDir, "initdb"), append(base, locale...)...)
		cmd.Env = serverEnv()
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		out, err := cmd.CombinedOutput()
		if err == nil {
			return nil
		}
		last = fmt.Errorf("private PostgreSQL: initdb %s: %w\n%s", c.cfg.Dir, err, strings.TrimSpace(string(out)))
		// initdb removes what it made when it fails, so the next try
		// starts from an empty folder again.
		if !strings.Contains(string(out), "locale") {
			break
		}
	}
	return last
}

// serverEnv is the caller's environment without the PG* variables, which
// would otherwise override what Start decides (PGDATA, PGPORT, ...).
func serverEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			env = append(env, kv)
		}
	}
	return env
}

// start runs postgres itself (not pg_ctl, which would detach it): the
// caller holds the process, sees it exit and stops it.
func (c *Cluster) start(cred *syscall.Credential) error {
	settings := map[string]string{
		"listen_addresses": "127.0.0.1",
		// No Unix socket: nothing but loopback TCP reaches the
		// password-less superuser, and no socket folder is needed.
		"unix_socket_directories": "",
		// The server's log never repeats a statement or the detail of an
		// error, either of which may quote a value from a row.
		"log_min_error_statement": "panic",
		"log_error_verbosity":     "terse",
	}
	for k, v := range c.cfg.Settings {
		settings[k] = v
	}
	args := []string{"-D", c.cfg.Dir, "-p", strconv.Itoa(c.port)}
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		args = append(args, "-c", k+"="+settings[k])
	}
	cmd := exec.Command(filepath.Join(c.cfg.BinDir, "postgres"), args...)
	cmd.Env = serverEnv()
	cmd.Stdout, cmd.Stderr = c.cfg.Log, c.cfg.Log
	var logFile *os.File
	if c.cfg.LogFile != "" {
		f, err := os.OpenFile(c.cfg.LogFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			return fmt.Errorf("private PostgreSQL: log file: %w", err)
		}
		logFile = f
		cmd.Stdout, cmd.Stderr = f, f
	}
	cmd.SysProcAttr = procAttr(cred)
	if err := cmd.Start(); err != nil {
		if logFile != nil {
			logFile.Close()
		}
		return fmt.Errorf("private PostgreSQL: start postgres: %w", err)
	}
	c.cmd = cmd
	go func() {
		c.err = cmd.Wait()
		if logFile != nil {
			logFile.Close()
		}
		close(c.done)
	}()
	return nil
}

// logHint says where to read why the server stopped.
func (c *Cluster) logHint() string {
	if c.cfg.LogFile != "" {
		return "its log " + c.cfg.LogFile
	}
	return "its log"
}

// waitReady polls until the server accepts a connection, it exits, or
// time runs out.
func (c *Cluster) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.ReadyTimeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
		conn, err := pgx.Connect(pctx, c.URL("postgres"))
		pcancel()
		if err == nil {
			conn.Close(ctx)
			return nil
		}
		last = err
		select {
		case <-c.done:
			return fmt.Errorf("private PostgreSQL in %s exited while starting (%v): %s says why "+
				"(is another server already using this folder?)", c.cfg.Dir, c.err, c.logHint())
		case <-ctx.Done():
			return fmt.Errorf("private PostgreSQL in %s did not accept connections within %s: %w", c.cfg.Dir, c.cfg.ReadyTimeout, last)
		case <-tick.C:
		}
	}
}

// Port is the loopback port the server listens on.
func (c *Cluster) Port() int { return c.port }

// Addr is host:port.
func (c *Cluster) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)) }

// Pid is the server's (postmaster's) process id.
func (c *Cluster) Pid() int { return c.cmd.Process.Pid }

// Created says whether this Start made the cluster (initdb ran).
func (c *Cluster) Created() bool { return c.created }

// Dir is the cluster's data folder.
func (c *Cluster) Dir() string { return c.cfg.Dir }

// URL is a connection URL for the superuser and the database.
func (c *Cluster) URL(database string) string {
	u := url.URL{Scheme: "postgres", User: url.User(c.cfg.User), Host: c.Addr(), Path: "/" + database,
		RawQuery: "sslmode=disable"}
	return u.String()
}

// Stop shuts the server down (PostgreSQL's fast shutdown: open sessions
// are ended, everything committed is on disk) and waits for it. After
// timeout it escalates to an immediate shutdown and then kills it; the
// error says so. It is safe to call more than once.
func (c *Cluster) Stop(timeout time.Duration) error {
	select {
	case <-c.done:
		return c.exitErr()
	default:
	}
	pid := c.cmd.Process.Pid
	_ = syscall.Kill(pid, syscall.SIGINT)
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-c.done:
		return c.exitErr()
	case <-timer.C:
	}
	_ = syscall.Kill(pid, syscall.SIGQUIT) // immediate shutdown: recovery at the next start
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-pid, syscall.SIGKILL) // its group: the backends too
		<-c.done
	}
	return fmt.Errorf("private PostgreSQL did not stop within %s and was stopped abruptly", timeout)
}

func (c *Cluster) exitErr() error {
	if c.err != nil {
		return fmt.Errorf("private PostgreSQL: %w", c.err)
	}
	return nil
}

// Done is closed once the server has exited.
func (c *Cluster) Done() <-chan struct{} { return c.done }

// EnsureDatabase creates the database that url names unless it exists,
// connecting as url's user to the server's "postgres" database to do so.
func EnsureDatabase(ctx context.Context, url string) error {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return errors.New("ensure database: not a PostgreSQL URL") // may hold a password: not repeated
	}
	name := cfg.Database
	cfg.Database = "postgres"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("ensure database %s: %w", name, err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return fmt.Errorf("ensure database %s: %w", name, err)
	}
	if exists {
		return nil
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	var pgErr *pgconn.PgError
	if err != nil && !(errors.As(err, &pgErr) && pgErr.Code == "42P04") { // 42P04: made meanwhile
		return fmt.Errorf("ensure database %s: %w", name, err)
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Answer is what a PostgreSQL server said to Probe.
type Answer int

const (
	// Answered: the server let the user in (the database itself may be
	// missing: that is for the caller to create).
	Answered Answer = iota
	// NoAnswer: nothing that speaks PostgreSQL answered.
	NoAnswer
	// RefusedUs: a server answered but wants a password for the user, or
	// refuses the user (as a freshly installed Debian server does).
	RefusedUs
)

// Probe connects to url once and says what answered; the error, for
// NoAnswer and RefusedUs, is the driver's.
func Probe(ctx context.Context, url string) (Answer, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err == nil {
		conn.Close(ctx)
		return Answered, nil
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return NoAnswer, err
	}
	switch pgErr.Code {
	case "28P01", "28000": // invalid_password, invalid_authorization_specification
		return RefusedUs, err
	}
	return Answered, nil // 3D000 (no such database) and the like: the server is there
}

// PortFree says whether a listener can be opened on 127.0.0.1:port now.
func PortFree(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}
