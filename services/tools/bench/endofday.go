package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"booklets/pkg/adapter/postgres"
	"booklets/pkg/domain/businessday"
	"booklets/pkg/domain/catalogue"
	"booklets/pkg/domain/order"
	"booklets/pkg/domain/reference"
	"booklets/pkg/domain/seal"
)

// seedDay stores n orders of one business day straight into the batcher's
// tables with COPY, so that seeding is not part of what is timed. The
// personal part is sealed the way the batcher stores it.
func seedDay(ctx context.Context, conn *pgx.Conn, kek string, day businessday.Date, n int) error {
	areas := catalogue.Default().Areas
	formats := [][]string{{"standard-print"}, {"large-print", "audio"}, {"easy-read"}, {"braille"}}
	orderFormats := make([][]order.Format, len(formats))
	for i, fs := range formats {
		for _, f := range fs {
			orderFormats[i] = append(orderFormats[i], order.Format(f))
		}
	}
	towns := []string{"Stafford", "Canterbury", "Leeds", "Manchester", "Birmingham", "Croydon"}
	postcodes := []string{"ST18 0YY", "CT1 1AA", "LS1 4AP", "M1 1AE", "B33 8TH", "CR2 6XH"}
	start := time.Date(day.Year, day.Month, day.Day, 0, 0, 0, 0, businessday.London())
	step := 20 * time.Hour / time.Duration(n)
	ids := make([]string, n)
	refs := reference.NewDistinct(n)
	for i := range ids {
		ids[i] = uuid.Must(uuid.NewV7()).String()
	}
	i := 0
	_, err := conn.CopyFrom(ctx, pgx.Identifier{"orders"},
		[]string{"order_id", "reference", "received_at", "business_date", "area", "formats"},
		pgx.CopyFromFunc(func() ([]any, error) {
			if i == n {
				return nil, nil
			}
			row := []any{ids[i], refs[i].String(), start.Add(time.Duration(i) * step), day.UTC(),
				areas[i%len(areas)].Code, formats[i%len(formats)]}
			i++
			return row, nil
		}))
	if err != nil {
		return fmt.Errorf("seed orders: %w", err)
	}
	// The personal part is stored as the batcher stores it: sealed under
	// the day key of its business date (pkg/domain/order, pkg/adapter/postgres), with the
	// KEK ring the batcher is given.
	ring, err := seal.ParseRing(kek)
	if err != nil {
		return fmt.Errorf("KEK: %w", err)
	}
	key, err := postgres.NewDayKeys(conn, ring).GetOrCreate(ctx, day)
	if err != nil {
		return fmt.Errorf("day key: %w", err)
	}
	if _, err := conn.Exec(ctx, `SELECT order_personal_partition($1)`, day.UTC()); err != nil {
		return fmt.Errorf("partition of order_personal: %w", err)
	}
	i = 0
	_, err = conn.CopyFrom(ctx, pgx.Identifier{"order_personal"},
		[]string{"order_id", "business_date", "received_at", "reference", "area", "formats", "data"},
		pgx.CopyFromFunc(func() ([]any, error) {
			if i == n {
				return nil, nil
			}
			so, err := order.Seal(order.Order{
				ID: ids[i], Reference: refs[i], ReceivedAt: start.Add(time.Duration(i) * step),
				Area: areas[i%len(areas)].Code, Formats: orderFormats[i%len(orderFormats)],
				Personal: order.Personal{
					Name:         fmt.Sprintf("Bench Person %d", i),
					AddressLine1: fmt.Sprintf("%d High Street", i%300+1),
					AddressLine2: fmt.Sprintf("Flat %d", i%9+1),
					Town:         towns[i%len(towns)],
					Postcode:     postcodes[i%len(postcodes)],
				},
			}, day, key)
			if err != nil {
				return nil, err
			}
			data, err := so.Personal.MarshalBinary()
			if err != nil {
				return nil, err
			}
			i++
			return []any{ids[i-1], day.UTC(), start.Add(time.Duration(i-1) * step), refs[i-1].String(),
				areas[(i-1)%len(areas)].Code, strings.Join(formats[(i-1)%len(formats)], ","), data}, nil
		}))
	if err != nil {
		return fmt.Errorf("seed order_personal: %w", err)
	}
	_, err = conn.Exec(ctx, "ANALYZE orders; ANALYZE order_personal")
	return err
}

func benchEndOfDay(ctx context.Context, e *env, p plan) ([]Figure, error) {
	// Yesterday (London) is always a closed business day that send-now
	// accepts with --date.
	day := businessday.LondonDate(time.Now()).AddDays(-1)
	var figs []Figure
	for _, n := range p.BatchSizes {
		f, err := endOfDay(ctx, e, day, n)
		if err != nil {
			return nil, fmt.Errorf("%d orders: %w", n, err)
		}
		figs = append(figs, f...)
	}
	return figs, nil
}

func endOfDay(ctx context.Context, e *env, day businessday.Date, n int) ([]Figure, error) {
	dbURL, drop, err := e.database(ctx)
	if err != nil {
		return nil, err
	}
	defer drop()
	outbox := filepath.Join(e.sshd.root, "outbox")
	defer cleanDir(outbox)
	sc, removeStream, err := e.ownStream(ctx, "endofday")
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
	e.progress("end of day: seeding %d orders", n)
	if err := seedDay(ctx, conn, e.kek, day, n); err != nil {
		return nil, err
	}
	// A checkpoint now keeps PostgreSQL's background writing of the seed
	// out of the timed send.
	if _, err := conn.Exec(ctx, "CHECKPOINT"); err != nil {
		return nil, err
	}

	// A second, stricter baseline: the raw cost of reading the batch's
	// rows out of PostgreSQL (psql, to /dev/null) plus the sftp upload.
	read, err := e.runOnce(ctx, e.baseEnv(nil), nil, "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dbURL, "-o", os.DevNull, "-c",
		fmt.Sprintf(`COPY (SELECT order_id, reference, area, formats, business_date, data FROM order_personal
			WHERE business_date = '%s' ORDER BY business_date, received_at, reference) TO STDOUT`, day))
	if err != nil {
		return nil, err
	}

	e.progress("end of day: batcher send-now --date %s (%d orders)", day, n)
	ours, err := e.runOnce(ctx, benv, nil, e.bin+"/batcher", "send-now", "--date", day.String())
	if err != nil {
		return nil, err
	}
	var state string
	var records int
	if err := conn.QueryRow(ctx, "SELECT state, order_count FROM batches WHERE business_date = $1", day.UTC()).Scan(&state, &records); err != nil {
		return nil, fmt.Errorf("read the batch: %w", err)
	}
	if state != "sent" || records != n {
		return nil, fmt.Errorf("batch is %s with %d orders, want sent with %d", state, records, n)
	}

	// The baseline uploads the very bytes the batcher uploaded (the data
	// file, the bulk of the work) with OpenSSH's sftp client.
	data, size, err := largestFile(outbox)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(e.sshd.root, "baseline"), 0o755); err != nil {
		return nil, err
	}
	defer cleanDir(filepath.Join(e.sshd.root, "baseline"))
	script := fmt.Sprintf("put %s baseline/%s\n", data, filepath.Base(data))
	raw, err := e.runOnce(ctx, e.baseEnv(nil), strings.NewReader(script), "sftp", "-b", "-",
		"-i", e.sshd.keyFile, "-o", "UserKnownHostsFile="+e.sshd.knownHosts, "-o", "StrictHostKeyChecking=yes",
		"-o", "BatchMode=yes", "-P", e.sshd.port, e.sshd.user+"@127.0.0.1")
	if err != nil {
		return nil, err
	}
	e.progress("end of day %d orders: %.2f s (batcher CPU %.2f s), peak RSS %.1f MiB; sftp put of %.1f MB: %.2f s (sftp CPU %.2f s); psql read of the rows: %.2f s",
		n, ours.wall.Seconds(), ours.cpu.Seconds(), mib(ours.maxRSS), float64(size)/1e6, raw.wall.Seconds(), raw.cpu.Seconds(), read.wall.Seconds())

	group := fmt.Sprintf("end of day %s", count(n))
	wall := newFigure(group, "send-now wall time", "s", ours.wall.Seconds(), raw.wall.Seconds(),
		fmt.Sprintf("sftp put, same %.1f MB", float64(size)/1e6))
	if n == 1_000_000 {
		wall = wall.withTarget("<= 3 x raw", wall.Ratio <= 3)
	}
	rss := newFigure(group, "send-now peak RSS", "MiB", mib(ours.maxRSS), mib(raw.maxRSS), "sftp client peak RSS").
		withTarget("< 256 MiB", mib(ours.maxRSS) < 256)
	both := newFigure(group, "send-now wall time", "s", ours.wall.Seconds(), read.wall.Seconds()+raw.wall.Seconds(),
		"psql COPY of the rows + sftp put")
	return []Figure{wall, both, rss}, nil
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func count(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return fmt.Sprintf("%dM", n/1_000_000)
	case n >= 1000 && n%1000 == 0:
		return fmt.Sprintf("%dk", n/1000)
	}
	return itoa(n)
}

func largestFile(dir string) (string, int64, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", 0, err
	}
	var best string
	var size int64 = -1
	for _, de := range entries {
		info, err := de.Info()
		if err != nil || !info.Mode().IsRegular() {
			continue
		}
		if info.Size() > size {
			best, size = filepath.Join(dir, de.Name()), info.Size()
		}
	}
	if best == "" {
		return "", 0, fmt.Errorf("no batch file in %s", dir)
	}
	return best, size, nil
}

func cleanDir(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, de := range entries {
		_ = os.RemoveAll(filepath.Join(dir, de.Name()))
	}
}
