package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"booklets/pkg/testkit/testenv"
)

// A server that answers at the default address but will not let the user
// in (a freshly installed Debian server wants a password for postgres):
// with DATABASE_URL unset the launcher runs a private cluster beside it on
// another port; with DATABASE_URL set it says the server refused, as the
// person chose that server.
func TestARefusingServerAtTheDefaultGetsAPrivateClusterBesideIt(t *testing.T) {
	t.Parallel()
	runDir := t.TempDir()
	for _, d := range []string{filepath.Dir(runDir), runDir} { // reachable by user postgres when run as root
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	// The test server refuses a role it does not have: the same answer
	// class (28000) as a password it was not given.
	refused := strings.Replace(testenv.DatabaseURL(), "postgres@", testenv.Name("norole")+"@", 1)
	cfg := config{runDir: runDir, databaseURL: refused, stopWait: 30 * time.Second}
	var out bytes.Buffer

	_, _, err := ensurePostgres(context.Background(), cfg, func(string) string { return refused }, newConsole(&out))
	if err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("DATABASE_URL set: err = %v, want the refusal", err)
	}

	cluster, url, err := ensurePostgres(context.Background(), cfg, func(string) string { return "" }, newConsole(&out))
	if err != nil {
		t.Fatalf("DATABASE_URL unset: %v\n%s", err, out.String())
	}
	if cluster == nil {
		t.Fatalf("no private cluster:\n%s", out.String())
	}
	defer cluster.Stop(30 * time.Second)
	if url == refused || !strings.Contains(url, cluster.Addr()) {
		t.Errorf("services would get %s, want the private cluster at %s", url, cluster.Addr())
	}
	if !strings.Contains(out.String(), "wants a password") {
		t.Errorf("the console does not say why:\n%s", out.String())
	}
	ctx := context.Background()
	pc, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	pc.Database = "postgres" // the URL's own database is ensureDatabase's business
	conn, err := pgx.ConnectConfig(ctx, pc)
	if err != nil {
		t.Fatalf("the private cluster does not let the URL's user in: %v", err)
	}
	conn.Close(ctx)
}
