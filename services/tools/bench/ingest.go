package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"booklets/pkg/adapter/jetstream"
)

// batcherEnv is the batcher's environment for a database and stream.
func (e *env) batcherEnv(dbURL string, sc jetstream.Config, extra map[string]string) []string {
	vars := map[string]string{
		"DATABASE_URL":     dbURL,
		"NATS_STREAM":      sc.Stream,
		"NATS_SUBJECT":     sc.Subject,
		"NATS_CONSUMER":    "bench",
		"SFTP_ADDR":        e.sshd.addr,
		"SFTP_USER":        e.sshd.user,
		"SFTP_KEY_FILE":    e.sshd.keyFile,
		"SFTP_KNOWN_HOSTS": e.sshd.knownHosts,
		"SFTP_DIR":         "outbox",
		"SFTP_RETRIES":     "0",
		// Production encrypts the batch file to the partner's key.
		"PARTNER_PGP_KEY_FILE": e.pgpKey,
		// and keeps it for a resend: in the scratch folder.
		"RETAINED_DIR": filepath.Join(e.work, "retained"),
	}
	for k, v := range extra {
		vars[k] = v
	}
	return e.baseEnv(vars)
}

// publishN sends n orders through the intake, conc at a time.
func publishN(ctx context.Context, in *intake, n, conc int) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, conc)
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := in.post(ctx, i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func benchIngest(ctx context.Context, e *env, p plan) ([]Figure, error) {
	n := p.IngestOrders
	sc := e.streamConfig("ingest")
	// The intake and the batcher share a database, as in production: the
	// day keys are there.
	dbURL, drop, err := e.database(ctx)
	if err != nil {
		return nil, err
	}
	defer drop()
	in, err := e.startIntake(ctx, sc, dbURL)
	if err != nil {
		return nil, err
	}
	nc, err := jetstream.Connect(e.natsURL, "bench")
	if err != nil {
		in.stop()
		return nil, err
	}
	defer nc.Close()
	js, err := natsjs.New(nc)
	if err != nil {
		in.stop()
		return nil, err
	}
	defer func() { _ = js.DeleteStream(context.Background(), sc.Stream) }()
	err = publishN(ctx, in, n, 16)
	in.stop()
	if err != nil {
		return nil, fmt.Errorf("publish %d orders through the intake: %w", n, err)
	}

	benv := e.batcherEnv(dbURL, sc, nil)
	if _, err := e.runOnce(ctx, benv, nil, e.bin+"/batcher", "migrate"); err != nil {
		return nil, err
	}
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)

	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	benv = e.batcherEnv(dbURL, sc, map[string]string{"HTTP_ADDR": addr})
	started := time.Now()
	b, err := e.start("batcher", benv)
	if err != nil {
		return nil, err
	}
	defer b.stop()
	// The clock starts at the first stored order, so the batcher's
	// start-up (connecting, creating the consumer) is not counted.
	var first time.Time
	var firstCount int
	deadline := started.Add(10 * time.Minute)
	for {
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("batcher did not store %d orders within 10 minutes\n%s", n, e.logTail(b))
		}
		select {
		case <-b.done:
			return nil, fmt.Errorf("batcher exited: %v\n%s", b.err, e.logTail(b))
		default:
		}
		var count int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM orders").Scan(&count); err != nil {
			return nil, err
		}
		now := time.Now()
		if count > 0 && first.IsZero() {
			first, firstCount = now, count
		}
		if count >= n {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	elapsed := time.Since(first)
	ours := float64(n-firstCount) / elapsed.Seconds()
	b.stop()
	var dead int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM dead_letters").Scan(&dead); err != nil {
		return nil, err
	}
	if dead > 0 {
		return nil, fmt.Errorf("%d orders went to dead_letters: the bench's orders are not what the batcher expects", dead)
	}

	rawRate, err := copyBaseline(ctx, conn, n)
	if err != nil {
		return nil, err
	}
	e.progress("batcher ingest: %.0f orders/s (raw COPY %.0f rows/s)", ours, rawRate)
	return []Figure{newFigure("batcher ingest", fmt.Sprintf("%d orders stream -> PostgreSQL", n), "orders/s",
		ours, rawRate, "pgx CopyFrom, same rows")}, nil
}

// copyBaseline reads back every row the batcher stored for the orders, in
// whatever tables and columns the schema has by now, and times a bare pgx
// CopyFrom of those rows into empty copies of the tables (same columns,
// indexes and constraints but foreign keys).
func copyBaseline(ctx context.Context, conn *pgx.Conn, n int) (float64, error) {
	tables := []string{"orders", "order_personal"}
	type rowsOf struct {
		table string
		cols  []string
		rows  [][]any
	}
	var data []rowsOf
	for _, t := range tables {
		var exists bool
		if err := conn.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", t).Scan(&exists); err != nil {
			return 0, err
		}
		if !exists {
			continue
		}
		rows, err := conn.Query(ctx, "SELECT * FROM "+t)
		if err != nil {
			return 0, err
		}
		r := rowsOf{table: t}
		for _, fd := range rows.FieldDescriptions() {
			r.cols = append(r.cols, fd.Name)
		}
		for rows.Next() {
			v, err := rows.Values()
			if err != nil {
				rows.Close()
				return 0, err
			}
			r.rows = append(r.rows, v)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return 0, err
		}
		if _, err := conn.Exec(ctx, fmt.Sprintf("CREATE TABLE raw_%s (LIKE %s INCLUDING ALL)", t, t)); err != nil {
			return 0, err
		}
		data = append(data, r)
	}
	start := time.Now()
	for _, d := range data {
		if _, err := conn.CopyFrom(ctx, pgx.Identifier{"raw_" + d.table}, d.cols, pgx.CopyFromRows(d.rows)); err != nil {
			return 0, fmt.Errorf("copy into raw_%s (%s): %w", d.table, strings.Join(d.cols, ", "), err)
		}
	}
	return float64(n) / time.Since(start).Seconds(), nil
}
