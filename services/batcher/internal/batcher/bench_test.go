package batcher

import (
	"context"
	"encoding/json"
	"runtime"
	"testing"
	"time"

	"booklets/pkg/batchfile"
	"booklets/pkg/businessday"
	"booklets/pkg/order"
	"booklets/pkg/partner"
	"booklets/pkg/reference"
	"booklets/pkg/sftptest"
	"booklets/pkg/store"
	"booklets/pkg/testenv"
)

// BenchmarkBuildAndUpload100k streams a 100,000-order batch from
// PostgreSQL through the CSV writer to the real OpenSSH sftp server and
// verifies it (one operation = build + upload + read back). Memory per
// order shows that the batch is streamed, not held.
func BenchmarkBuildAndUpload100k(b *testing.B) {
	const orders = 100_000
	ctx := context.Background()
	st, err := store.Open(ctx, testenv.Database(b), nil)
	testenv.Must(b, err)
	defer st.Close()
	testenv.Must(b, st.Migrate(ctx))
	// References are made in Go: the sender parses them (an invalid one
	// stops the batch).
	refs := make([]string, orders)
	seen := make(map[reference.Reference]bool, orders)
	for i := range refs {
		r := reference.New()
		for seen[r] {
			r = reference.New()
		}
		seen[r] = true
		refs[i] = r.String()
	}
	_, err = st.Pool().Exec(ctx, `
		INSERT INTO orders (order_id, reference, received_at, business_date, area, formats)
		SELECT gen_random_uuid(), ($2::text[])[i],
			timestamptz '2026-11-25 00:00:00+00' + i * interval '1 ms', date '2026-11-25', 'kent',
			CASE WHEN i % 10 = 0 THEN ARRAY['standard-print', 'audio'] ELSE ARRAY['large-print'] END
		FROM generate_series(1, $1) AS i`, orders, refs)
	testenv.Must(b, err)
	_, err = st.Pool().Exec(ctx, `
		INSERT INTO order_personal (order_id, data)
		SELECT order_id, convert_to(json_build_object(
			'name', 'Person ' || reference, 'address_line_1', '1 High Street, Flat "2"',
			'address_line_2', '', 'town', 'Canterbury', 'postcode', 'CT1 1AA')::text, 'UTF8')
		FROM orders`)
	testenv.Must(b, err)
	srv := sftptest.Start(b)
	s := NewSender(st, partner.Config{Addr: srv.Addr, User: srv.User, KeyFile: srv.KeyFile, KnownHosts: srv.KnownHosts, Dir: "outbox"},
		WithCodec(benchCodec{}))
	date := businessday.Date{Year: 2026, Month: 11, Day: 25}
	id := batchfile.NewBatchID(date)
	batch, _, err := st.Assemble(ctx, store.Batch{ID: id, Date: date, CreatedAt: time.Now(),
		DataFile: batchfile.DataFileName(date, id), ManifestFile: batchfile.ManifestFileName(date, id)})
	testenv.Must(b, err)

	var before, after runtime.MemStats
	var bytes int64
	b.ReportAllocs()
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for b.Loop() {
		m, err := s.upload(ctx, batch)
		if err != nil {
			b.Fatal(err)
		}
		if m.OrderCount != orders {
			b.Fatalf("%d orders", m.OrderCount)
		}
		bytes = m.Bytes
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	n := float64(b.N) * orders
	b.SetBytes(bytes)
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/n, "allocs/order")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/n, "B/order")
	b.ReportMetric(float64(bytes), "file-bytes")
}

// benchCodec reads the JSON personal parts the benchmark writes with SQL
// (sealing 100,000 orders in Go would dominate the set-up); opening a
// sealed value costs about 1 µs (pkg/seal's benchmarks).
type benchCodec struct{}

func (benchCodec) Decode(_ context.Context, _ string, _ reference.Reference, _ businessday.Date, data []byte) (order.Personal, error) {
	var p order.Personal
	err := json.Unmarshal(data, &p)
	return p, err
}
