package main

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"booklets/pkg/domain/businessday"
)

// seedBatches stores days sent batches ending yesterday, each confirmed
// by the partner except the last 45 days' (still within their 30 working
// days), as ten years of operation would leave them.
func seedBatches(ctx context.Context, conn *pgx.Conn, last businessday.Date, days int) error {
	_, err := conn.Exec(ctx, `
		INSERT INTO batches (batch_id, business_date, state, record_count, order_count, sha256, data_file, manifest_file,
			encryption, created_at, uploaded_at, sent_at, delivery_date, due_date, attempts)
		SELECT 'B' || to_char(d, 'YYYYMMDD') || '-' || upper(substr(md5(d::text), 1, 6)), d, 'sent', 250 + i % 500, 250 + i % 500,
			encode(sha256(d::text::bytea), 'hex'),
			'booklets_' || to_char(d, 'YYYYMMDD') || '.csv', 'booklets_' || to_char(d, 'YYYYMMDD') || '.manifest.json',
			'none', d + time '23:00', d + time '23:01', d + time '23:02', d, d + 42, 1
		FROM generate_series(0, $2 - 1) AS i, LATERAL (SELECT ($1::date - i)::date AS d) AS x`, last.UTC(), days)
	if err != nil {
		return fmt.Errorf("seed batches: %w", err)
	}
	_, err = conn.Exec(ctx, `
		INSERT INTO confirmations (file_name, file_sha256, batch_id, accepted, record_count, sha256, deleted_at, deleted_by, received_at)
		SELECT 'deleted_' || batch_id || '.json', encode(sha256(batch_id::bytea), 'hex'), batch_id, true, record_count, sha256,
			business_date + 30 + time '10:00', 'Print partner operator', business_date + 31 + time '07:00'
		FROM batches WHERE business_date < $1::date - 45`, last.UTC())
	if err != nil {
		return fmt.Errorf("seed confirmations: %w", err)
	}
	_, err = conn.Exec(ctx, "ANALYZE batches; ANALYZE confirmations")
	return err
}

func benchReport(ctx context.Context, e *env, p plan) ([]Figure, error) {
	dbURL, drop, err := e.database(ctx)
	if err != nil {
		return nil, err
	}
	defer drop()
	sc, removeStream, err := e.ownStream(ctx, "report")
	if err != nil {
		return nil, err
	}
	defer removeStream()
	benv := e.batcherEnv(dbURL, sc, nil)
	if _, err := e.runOnce(ctx, benv, nil, e.bin+"/batcher", "migrate"); err != nil {
		return nil, err
	}
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	last := businessday.LondonDate(time.Now()).AddDays(-1)
	first := last.AddDays(-(p.ReportDays - 1))
	if err := seedBatches(ctx, conn, last, p.ReportDays); err != nil {
		return nil, err
	}

	renv := e.baseEnv(map[string]string{"DATABASE_URL": dbURL})
	ours, err := median(p.ReportRuns, func() (measured, error) {
		m, err := e.runOnce(ctx, renv, nil, e.bin+"/reconciler", "report",
			"--from", first.String(), "--to", last.String(), "--format", "csv")
		if err == nil {
			if rows := bytes.Count(m.stdout, []byte("\n")); rows < p.ReportDays {
				err = fmt.Errorf("report has %d lines for %d batches", rows, p.ReportDays)
			}
		}
		return m, err
	})
	if err != nil {
		return nil, err
	}
	// The baseline is psql, also a process of its own, reading the same
	// rows (each sent batch and its accepted confirmation) out as CSV.
	query := fmt.Sprintf(`COPY (SELECT b.*, c.* FROM batches b LEFT JOIN confirmations c ON c.batch_id = b.batch_id AND c.accepted
		WHERE b.state = 'sent' AND b.business_date BETWEEN '%s' AND '%s' ORDER BY b.business_date, b.batch_id) TO STDOUT WITH CSV HEADER`,
		first, last)
	raw, err := median(p.ReportRuns, func() (measured, error) {
		return e.runOnce(ctx, e.baseEnv(nil), nil, "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dbURL, "-c", query)
	})
	if err != nil {
		return nil, err
	}
	e.progress("reconciler report over %d batches: %.3f s (psql %.3f s)", p.ReportDays, ours.wall.Seconds(), raw.wall.Seconds())
	return []Figure{newFigure("reconciler report", fmt.Sprintf("%d daily batches, CSV", p.ReportDays), "s",
		ours.wall.Seconds(), raw.wall.Seconds(), "psql COPY of the same rows")}, nil
}

// median runs fn n times and returns the run of median wall time.
func median(n int, fn func() (measured, error)) (measured, error) {
	var runs []measured
	for range n {
		m, err := fn()
		if err != nil {
			return measured{}, err
		}
		runs = append(runs, m)
	}
	slices.SortFunc(runs, func(a, b measured) int { return int(a.wall - b.wall) })
	return runs[len(runs)/2], nil
}
