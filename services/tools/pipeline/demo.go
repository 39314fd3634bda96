package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Demo mode keeps its data apart from a normal run's and starts afresh each
// time: the demo clock starts at the real time on every run, so the dates
// of a previous demo (weeks ahead after a few minutes) would clash with the
// new ones (a day "already sent", batches overdue at once).
const (
	demoStream  = "ORDERS_DEMO"
	demoSubject = "booklets.demo.orders.v1"
)

// demoDatabaseURL is DATABASE_URL with "_demo" added to the database name.
func demoDatabaseURL(raw string) (string, error) {
	pc, err := pgx.ParseConfig(raw)
	u, uerr := url.Parse(raw)
	if err != nil || uerr != nil {
		return "", errors.New("DATABASE_URL is not a PostgreSQL URL") // may hold a password: not repeated
	}
	u.Path = "/" + pc.Database + "_demo"
	return u.String(), nil
}

// resetDemo drops the demo database (ensureDatabase then creates it), the
// demo stream, and the files of the demo partner.
func resetDemo(ctx context.Context, cfg config, natsURL string, out *console) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	pc, err := pgx.ParseConfig(cfg.databaseURL)
	if err != nil {
		return errors.New("DATABASE_URL is not a PostgreSQL URL")
	}
	var last error
	dropped := false
	for _, admin := range []string{"postgres", "test", "template1"} {
		ac := pc.Copy()
		ac.Database = admin
		conn, err := pgx.ConnectConfig(ctx, ac)
		if err != nil {
			last = err
			continue
		}
		_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{pc.Database}.Sanitize()+" WITH (FORCE)")
		conn.Close(ctx)
		if err != nil {
			return fmt.Errorf("demo mode: drop the demo database %q: %w", pc.Database, err)
		}
		dropped = true
		break
	}
	if !dropped {
		return fmt.Errorf("demo mode: cannot reach PostgreSQL to reset the demo database: %w", last)
	}
	nc, err := nats.Connect(natsURL, nats.Name("booklets-pipeline"), nats.Timeout(5*time.Second))
	if err != nil {
		return fmt.Errorf("demo mode: connect to NATS: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("demo mode: jetstream: %w", err)
	}
	if err := js.DeleteStream(ctx, demoStream); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("demo mode: delete the demo stream %s: %w", demoStream, err)
	}
	if err := os.RemoveAll(filepath.Join(demoPartnerDir(cfg), "home")); err != nil {
		return fmt.Errorf("demo mode: empty the demo partner's folder: %w", err)
	}
	// The last demo's checkpoints are of the log just dropped.
	if err := os.RemoveAll(checkpointDir(cfg)); err != nil {
		return fmt.Errorf("demo mode: empty the demo's audit checkpoint folder: %w", err)
	}
	out.printf("demo mode: fresh database %q, stream %s and partner folder", pc.Database, demoStream)
	return nil
}

// demoPartnerDir is where the partner simulator keeps its files in demo
// mode.
func demoPartnerDir(cfg config) string { return filepath.Join(cfg.runDir, "demo", "partner") }

// retainedDir is the batcher's RETAINED_DIR: the demo's apart, as its
// database is (the sweep removes copies of batches its database does not
// know).
func retainedDir(cfg config) string {
	if cfg.demo {
		return filepath.Join(cfg.runDir, "demo", "retained")
	}
	return filepath.Join(cfg.runDir, "retained")
}

// checkpointDir is the reconciler's AUDIT_CHECKPOINT_DIR: the folder its
// signed checkpoints are published to (an object store mount in
// production).
func checkpointDir(cfg config) string {
	if cfg.demo {
		return filepath.Join(cfg.runDir, "demo", "checkpoints")
	}
	return filepath.Join(cfg.runDir, "checkpoints")
}
