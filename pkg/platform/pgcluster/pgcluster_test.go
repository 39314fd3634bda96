package pgcluster_test

import (
	"context"
	"errors"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"booklets/pkg/platform/pgcluster"
	"booklets/pkg/testkit/testenv"
)

// dataDir is a folder for a cluster that the server's user can reach: a
// test's temporary folder is closed to everyone else, and as root the
// server runs as another user.
func dataDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "postgres")
}

func TestClusterKeepsItsDataAcrossARestartAndLeavesNothingRunning(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := dataDir(t)

	c, err := pgcluster.Start(ctx, pgcluster.Config{Dir: dir, Log: &testenv.Buffer{}})
	if err != nil {
		t.Fatal(err)
	}
	if !c.Created() {
		t.Error("first start: Created() = false")
	}
	testenv.Must(t, pgcluster.EnsureDatabase(ctx, c.URL("booklets")))
	testenv.Must(t, pgcluster.EnsureDatabase(ctx, c.URL("booklets"))) // already there: no error
	exec(t, c.URL("booklets"), "CREATE TABLE kept (n int); INSERT INTO kept VALUES (42)")
	if os.Geteuid() == 0 {
		fi, err := os.Stat(dir)
		if err != nil {
			t.Fatal(err)
		}
		u, err := user.Lookup(pgcluster.RunAsUser)
		if err != nil {
			t.Fatal(err)
		}
		if uid := strconv.Itoa(int(fi.Sys().(*syscall.Stat_t).Uid)); uid != u.Uid {
			t.Errorf("data folder belongs to uid %s, want %s (%s): root cannot run PostgreSQL", uid, u.Uid, pgcluster.RunAsUser)
		}
	}
	first := stop(t, c)

	c, err = pgcluster.Start(ctx, pgcluster.Config{Dir: dir, Port: first, Log: &testenv.Buffer{}})
	if err != nil {
		t.Fatal(err)
	}
	if c.Created() {
		t.Error("second start: Created() = true; the cluster was made again")
	}
	conn, err := pgx.Connect(ctx, c.URL("booklets"))
	if err != nil {
		t.Fatal(err)
	}
	var n int
	err = conn.QueryRow(ctx, "SELECT n FROM kept").Scan(&n)
	conn.Close(ctx)
	if err != nil || n != 42 {
		t.Fatalf("after a restart: n = %d, %v; want 42", n, err)
	}
	stop(t, c)
}

// stop stops the cluster and checks that neither its process nor its port
// is left; it returns the port.
func stop(t *testing.T, c *pgcluster.Cluster) int {
	t.Helper()
	pid, port := c.Pid(), c.Port()
	if err := c.Stop(30 * time.Second); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if err := c.Stop(30 * time.Second); err != nil {
		t.Fatalf("second stop: %v", err)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("postgres %d still exists after Stop (kill 0: %v)", pid, err)
	}
	if conn, err := net.DialTimeout("tcp", c.Addr(), time.Second); err == nil {
		conn.Close()
		t.Errorf("something still listens on %s after Stop", c.Addr())
	}
	return port
}

func exec(t *testing.T, url, sql string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatal(err)
	}
}

func TestMissingServerProgramsNameThePackage(t *testing.T) {
	t.Parallel()
	_, err := pgcluster.Start(context.Background(), pgcluster.Config{Dir: dataDir(t), BinDir: t.TempDir()})
	if !errors.Is(err, pgcluster.ErrNotInstalled) {
		t.Fatalf("err = %v, want ErrNotInstalled", err)
	}
	if want := "apt-get install postgresql"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
}

func TestAFolderTheServerUserCannotReachIsNamed(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("only root hands the cluster to another user")
	}
	closed := filepath.Join(t.TempDir(), "closed") // t.TempDir's own folder is 0700 too
	if err := os.Mkdir(closed, 0o700); err != nil {
		t.Fatal(err)
	}
	_, err := pgcluster.Start(context.Background(), pgcluster.Config{Dir: filepath.Join(closed, "postgres")})
	if err == nil || !strings.Contains(err.Error(), "cannot enter") {
		t.Fatalf("err = %v, want one naming the closed folder", err)
	}
}
