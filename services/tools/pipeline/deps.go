package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"booklets/pkg/platform/natsembed"
	"booklets/pkg/platform/pgcluster"
)

// ensureNATS checks that a NATS server with JetStream answers at the
// configured URL. When nothing answers and the URL points at this machine,
// it starts an embedded server there (data in runDir/nats) and returns it;
// the caller shuts it down last.
func ensureNATS(ctx context.Context, cfg config, out *console) (*natsembed.Server, error) {
	first := strings.TrimSpace(strings.Split(cfg.natsURL, ",")[0])
	nc, err := nats.Connect(cfg.natsURL, nats.Name("booklets-pipeline"), nats.Timeout(2*time.Second))
	if err == nil {
		defer nc.Close()
		if err := jetStreamEnabled(ctx, nc); err != nil {
			return nil, fmt.Errorf("NATS at %s answers but %w: start nats-server with -js", redact(first), err)
		}
		out.printf("NATS with JetStream answers at %s", redact(first))
		return nil, nil
	}
	u, perr := url.Parse(first)
	if perr != nil || !isLocal(u.Hostname()) {
		return nil, fmt.Errorf("NATS does not answer at %s and it is not on this machine, so no embedded server can stand in: %w", redact(first), err)
	}
	port := 4222
	if p := u.Port(); p != "" {
		if port, err = strconv.Atoi(p); err != nil {
			return nil, fmt.Errorf("NATS_URL: port %q is not a number", p)
		}
	}
	dir := filepath.Join(cfg.runDir, "nats")
	srv, err := natsembed.Start(natsembed.Config{Dir: dir, Host: u.Hostname(), Port: port})
	if err != nil {
		return nil, err
	}
	out.printf("no NATS server answered at %s: started an embedded one with JetStream (data in %s)", redact(first), dir)
	return srv, nil
}

func jetStreamEnabled(ctx context.Context, nc *nats.Conn) error {
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := js.AccountInfo(ctx); err != nil {
		return fmt.Errorf("JetStream is not available: %w", err)
	}
	return nil
}

func isLocal(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ensurePostgres makes sure a PostgreSQL server answers for the run. When
// nothing answers at DATABASE_URL and it names this machine, or when
// DATABASE_URL is not set and the server at the default address will not
// let user postgres in without a password (as a freshly installed Debian
// server does), it starts a private cluster in runDir/postgres from the
// server programs on this machine - on the URL's port when that is free,
// else on any free loopback port - and returns it with the URL the
// services are to use. The cluster is kept, so the run's data survives a
// restart; the caller stops it last.
func ensurePostgres(ctx context.Context, cfg config, getenv func(string) string, out *console) (*pgcluster.Cluster, string, error) {
	pc, err := pgx.ParseConfig(cfg.databaseURL)
	if err != nil {
		return nil, "", errors.New("DATABASE_URL is not a PostgreSQL URL") // may hold a password: not repeated
	}
	where := net.JoinHostPort(pc.Host, strconv.Itoa(int(pc.Port)))
	why, err := pgcluster.Probe(ctx, cfg.databaseURL)
	switch why {
	case pgcluster.Answered:
		return nil, cfg.databaseURL, nil
	case pgcluster.RefusedUs:
		if getenv("DATABASE_URL") != "" {
			return nil, "", fmt.Errorf("PostgreSQL at %s refused the connection (check DATABASE_URL's user and PGPASSFILE): %w", where, err)
		}
	case pgcluster.NoAnswer:
		if !isLocal(pc.Host) {
			return nil, "", fmt.Errorf("PostgreSQL does not answer at %s and it is not on this machine, so no private cluster can stand in (start it, or set DATABASE_URL): %w", where, err)
		}
	}
	port := int(pc.Port)
	if !pgcluster.PortFree(port) {
		port = 0
	}
	dir := filepath.Join(cfg.runDir, "postgres")
	// The server's log goes to a file: its start-up chatter and the
	// services' probes ("database does not exist") are noise in the console.
	logFile := filepath.Join(cfg.runDir, "postgres.log")
	cluster, err := pgcluster.Start(ctx, pgcluster.Config{Dir: dir, Port: port, User: pc.User, LogFile: logFile})
	if errors.Is(err, pgcluster.ErrNotInstalled) {
		return nil, "", fmt.Errorf("no PostgreSQL lets us in at %s and none can be started here: %w", where, err)
	}
	if err != nil {
		return nil, "", err
	}
	u, err := url.Parse(cfg.databaseURL)
	if err != nil {
		_ = cluster.Stop(cfg.stopWait)
		return nil, "", errors.New("DATABASE_URL is not a URL")
	}
	u.Host = cluster.Addr()
	reason := "nothing answered"
	if why == pgcluster.RefusedUs {
		reason = fmt.Sprintf("the server there wants a password for user %s", pc.User)
	}
	made := "data kept"
	if cluster.Created() {
		made = "created,"
	}
	out.printf("PostgreSQL: %s at %s: started a private cluster on %s (pid %d; %s in %s; log %s)",
		reason, where, cluster.Addr(), cluster.Pid(), made, dir, logFile)
	return cluster, u.String(), nil
}

// ensureDatabase checks that PostgreSQL answers at the configured URL and
// creates the database when the server answers but the database does not
// exist yet (it connects to the "postgres" database, or "test", to do so).
// The schema itself is the services' business: the batcher migrates on
// start.
func ensureDatabase(ctx context.Context, cfg config, out *console) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	pc, err := pgx.ParseConfig(cfg.databaseURL)
	if err != nil {
		return errors.New("DATABASE_URL is not a PostgreSQL URL") // may hold a password: not repeated
	}
	where := fmt.Sprintf("%s:%d", pc.Host, pc.Port)
	conn, err := pgx.ConnectConfig(ctx, pc)
	if err == nil {
		conn.Close(ctx)
		out.printf("PostgreSQL answers at %s, database %q", where, pc.Database)
		return nil
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "3D000" { // 3D000: invalid_catalog_name
		return fmt.Errorf("PostgreSQL does not answer at %s (start it, or set DATABASE_URL): %w", where, err)
	}
	var last error
	for _, admin := range []string{"postgres", "test", "template1"} {
		ac := pc.Copy()
		ac.Database = admin
		conn, err := pgx.ConnectConfig(ctx, ac)
		if err != nil {
			last = err
			continue
		}
		_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{pc.Database}.Sanitize())
		conn.Close(ctx)
		if err != nil && !(errors.As(err, &pgErr) && pgErr.Code == "42P04") { // 42P04: created meanwhile
			return fmt.Errorf("create database %q on %s: %w", pc.Database, where, err)
		}
		out.printf("PostgreSQL answers at %s: created database %q", where, pc.Database)
		return nil
	}
	return fmt.Errorf("create database %q on %s: no administrative database to connect to: %w", pc.Database, where, last)
}
