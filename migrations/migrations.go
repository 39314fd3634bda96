// Package migrations holds the database schema as tern migrations
// (NNN_name.sql, "---- create above / drop below ----") embedded in the
// binary, and applies them.
//
// Numbers are reserved in ranges per part of the system (batcher 001-009,
// reconciler and audit 010-019, privacy and keys 020-029, research sign-up
// 030-039), so the sequence has gaps. Apply therefore loads the files
// itself in numeric order instead of using tern's FindMigrations, which
// insists on a gap-free sequence. tern records how many migrations have
// run, so once a database is in service a new migration must take a
// number higher than every one already applied.
package migrations

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/tern/v2/migrate"
)

//go:embed *.sql
var files embed.FS

// VersionTable is the table tern keeps the schema version in.
const VersionTable = "schema_version"

var fileName = regexp.MustCompile(`^(\d+)_[a-z0-9_]+\.sql$`)

const separator = "---- create above / drop below ----"

// Migration is one schema change.
type Migration struct {
	Number int
	Name   string
	Up     string
	Down   string
}

// All returns the embedded migrations in order.
func All() ([]Migration, error) {
	entries, err := fs.ReadDir(files, ".")
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var all []Migration
	seen := map[int]string{}
	for _, e := range entries {
		m := fileName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("migration file %s is not named NNN_name.sql", e.Name())
		}
		n, _ := strconv.Atoi(m[1])
		if other, dup := seen[n]; dup {
			return nil, fmt.Errorf("migrations %s and %s have the same number", other, e.Name())
		}
		seen[n] = e.Name()
		body, err := files.ReadFile(e.Name())
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", e.Name(), err)
		}
		up, down, _ := strings.Cut(string(body), separator)
		all = append(all, Migration{Number: n, Name: e.Name(), Up: strings.TrimSpace(up), Down: strings.TrimSpace(down)})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Number < all[j].Number })
	return all, nil
}

// Apply brings the database on conn up to the newest schema. It is safe to
// run from several processes at once: tern holds an advisory lock while it
// migrates.
func Apply(ctx context.Context, conn *pgx.Conn) error {
	all, err := All()
	if err != nil {
		return err
	}
	m, err := migrate.NewMigrator(ctx, conn, VersionTable)
	if err != nil {
		return fmt.Errorf("prepare migrations: %w", err)
	}
	for _, mig := range all {
		m.AppendMigration(mig.Name, mig.Up, mig.Down)
	}
	if err := m.Migrate(ctx); err != nil {
		return fmt.Errorf("apply migrations: %w", err)
	}
	return nil
}
