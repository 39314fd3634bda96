package endofday_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"booklets/pkg/adapter/disk"
	"booklets/pkg/adapter/openpgp"
	"booklets/pkg/adapter/postgres"
	"booklets/pkg/adapter/sftp"
	"booklets/pkg/adapter/xlsx"
	"booklets/pkg/domain/batchfile"
	"booklets/pkg/domain/businessday"
	"booklets/pkg/domain/catalogue"
	"booklets/pkg/domain/order"
	"booklets/pkg/domain/reference"
	"booklets/pkg/stage/endofday"
	"booklets/pkg/testkit/sftptest"
	"booklets/pkg/testkit/testenv"
)

// BenchmarkBuildAndUpload100k streams a 100,000-order batch from
// PostgreSQL through the CSV writer to the real OpenSSH sftp server and
// verifies it (one operation = build + upload + read back). Memory per
// order shows that the batch is streamed, not held.
func BenchmarkBuildAndUpload100k(b *testing.B) {
	const orders = 100_000
	ctx := context.Background()
	st, err := postgres.OpenOrders(ctx, testenv.Database(b), nil)
	testenv.Must(b, err)
	defer st.Close()
	testenv.Must(b, st.Migrate(ctx))
	// References are made in Go: the sender parses them (an invalid one
	// stops the batch).
	refs := make([]string, orders)
	for i, r := range reference.NewDistinct(orders) {
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
		SELECT order_personal_partition(date '2026-11-25');
		INSERT INTO order_personal (order_id, business_date, received_at, reference, area, formats, data)
		SELECT order_id, business_date, received_at, reference, area, array_to_string(formats, ','), convert_to(json_build_object(
			'name', 'Person ' || reference, 'address_line_1', '1 High Street, Flat "2"',
			'address_line_2', '', 'town', 'Canterbury', 'postcode', 'CT1 1AA')::text, 'UTF8')
		FROM orders`)
	testenv.Must(b, err)
	srv := sftptest.Start(b)
	s := endofday.NewSender(st,
		sftp.Outbox{Config: sftp.Config{Addr: srv.Addr, User: srv.User, KeyFile: srv.KeyFile, KnownHosts: srv.KnownHosts, Dir: "outbox"}},
		endofday.WithCodec(endofday.BenchCodec{}), endofday.WithPlaintext())
	date := businessday.Date{Year: 2026, Month: 11, Day: 25}
	id := batchfile.NewBatchID(date)
	batch, _, err := st.Assemble(ctx, postgres.Batch{ID: id, Date: date, CreatedAt: time.Now(),
		DataFile: batchfile.DataFileName(date, id), ManifestFile: batchfile.ManifestFileName(date, id)})
	testenv.Must(b, err)

	var before, after runtime.MemStats
	var bytes int64
	b.ReportAllocs()
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for b.Loop() {
		m, err := s.Upload(ctx, endofday.Batch(batch))
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

// BenchmarkWriteSealed measures the batcher's CPU per order on the
// end-of-day path as it runs in production, which BenchmarkBuildAndUpload100k
// does not (its fake codec reads plain JSON): 100,000 orders really sealed
// under a day key (pkg/domain/order, pkg/adapter/postgres) and stored by the consumer's
// SaveOrders, opened with the day keys (WithKeys), written as CSV and
// encrypted to an OpenPGP recipient (WithRecipient).
//
//   - produce: what the upload's producer goroutine does (CSV, OpenPGP, the
//     SHA-256 of the bytes sent) into memory, without the network.
//   - upload: one whole attempt to the real OpenSSH sftp server, read back
//     and verified (sshd's own CPU is not counted).
//
// cpu-µs/order is this process's user+system CPU (getrusage) over the
// orders written: it counts every goroutine (pgx, openers, writer, GC),
// which ns/op on two shared cores would not.
func BenchmarkWriteSealed(b *testing.B) {
	const orders = 100_000
	ctx := context.Background()
	date := businessday.Date{Year: 2026, Month: 11, Day: 25}
	st, keys, key := sealingStore(b, ctx, date)

	// Orders like services/tools/bench's seedDay: every area, one or two formats.
	areas := catalogue.Default().Areas
	formats := [][]order.Format{{order.StandardPrint}, {order.LargePrint, order.Audio}, {order.EasyRead}, {order.Braille}}
	towns := []string{"Stafford", "Canterbury", "Leeds", "Manchester", "Birmingham", "Croydon"}
	postcodes := []string{"ST18 0YY", "CT1 1AA", "LS1 4AP", "M1 1AE", "B33 8TH", "CR2 6XH"}
	start := time.Date(2026, 11, 25, 0, 0, 0, 0, businessday.London())
	sealed := make([]order.SealedOrder, 0, 1000)
	for i, ref := range reference.NewDistinct(orders) {
		so, err := order.Seal(order.Order{
			ID: uuid.NewString(), Reference: ref, ReceivedAt: start.Add(time.Duration(i) * 500 * time.Millisecond),
			Area: areas[i%len(areas)].Code, Formats: formats[i%len(formats)],
			Personal: order.Personal{
				Name:         fmt.Sprintf("Bench Person %d", i),
				AddressLine1: fmt.Sprintf("%d High Street", i%300+1),
				AddressLine2: fmt.Sprintf("Flat %d", i%9+1),
				Town:         towns[i%len(towns)],
				Postcode:     postcodes[i%len(postcodes)],
			},
		}, date, key)
		testenv.Must(b, err)
		sealed = append(sealed, so)
		if len(sealed) == cap(sealed) || i == orders-1 {
			_, err := st.SaveOrders(ctx, sealed)
			testenv.Must(b, err)
			sealed = sealed[:0]
		}
	}

	partnerKey, err := openpgp.NewKeyPair("Print Partner", "", "pgp@partner.example")
	testenv.Must(b, err)
	rec, err := partnerKey.Recipient()
	testenv.Must(b, err)

	srv := sftptest.Start(b)
	s := endofday.NewSender(postgres.EndOfDayStore{Orders: st, Keys: keys},
		sftp.Outbox{Config: sftp.Config{Addr: srv.Addr, User: srv.User, KeyFile: srv.KeyFile, KnownHosts: srv.KnownHosts, Dir: "outbox"}},
		endofday.WithKeys(keys), endofday.WithRecipient(rec))
	id := batchfile.NewBatchID(date)
	batch, _, err := st.Assemble(ctx, postgres.Batch{ID: id, Date: date, CreatedAt: time.Now(),
		DataFile: batchfile.DataFileName(date, id) + openpgp.Ext, ManifestFile: batchfile.ManifestFileName(date, id)})
	testenv.Must(b, err)
	if n, _, err := st.CountBatch(ctx, batch.ID); err != nil || n != orders {
		b.Fatalf("batch holds %d orders, want %d (%v)", n, orders, err)
	}

	measure := func(b *testing.B, run func() (int, int64)) {
		var before, after runtime.MemStats
		var bytes int64
		runtime.GC()
		runtime.ReadMemStats(&before)
		cpu := cpuTime(b)
		b.ResetTimer()
		for b.Loop() {
			n, size := run()
			if n != orders {
				b.Fatalf("%d orders", n)
			}
			bytes = size
		}
		b.StopTimer()
		cpu = cpuTime(b) - cpu
		runtime.ReadMemStats(&after)
		n := float64(b.N) * orders
		b.SetBytes(bytes)
		b.ReportMetric(float64(cpu.Microseconds())/n, "cpu-µs/order")
		b.ReportMetric(float64(after.Mallocs-before.Mallocs)/n, "allocs/order")
		b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/n, "B/order")
	}
	b.Run("produce", func(b *testing.B) {
		measure(b, func() (int, int64) {
			// As partner.Upload's producer: a 256 KiB buffer, then the
			// SHA-256 and size of what would be sent.
			h := &hashCounter{h: sha256.New()}
			w := bufio.NewWriterSize(h, 256<<10)
			enc, err := rec.Encrypt(w, strings.TrimSuffix(batch.DataFile, openpgp.Ext))
			testenv.Must(b, err)
			sum, err := s.Write(ctx, endofday.Batch(batch), enc, false) // as upload does when encrypting
			testenv.Must(b, err)
			testenv.Must(b, enc.Close())
			testenv.Must(b, w.Flush())
			_ = hex.EncodeToString(h.h.Sum(nil))
			return sum.Orders, h.n
		})
	})
	b.Run("upload", func(b *testing.B) {
		measure(b, func() (int, int64) {
			m, err := s.Upload(ctx, endofday.Batch(batch))
			testenv.Must(b, err)
			// The next attempt must upload again, not find the batch there.
			testenv.Must(b, os.Remove(srv.Path("outbox", batch.ManifestFile)))
			return m.OrderCount, m.Bytes
		})
	})
	// The same upload keeping the encrypted copy for a resend
	// (RETAINED_DIR): the tee to a local file is the only extra work.
	retained := endofday.NewSender(postgres.EndOfDayStore{Orders: st, Keys: keys},
		sftp.Outbox{Config: sftp.Config{Addr: srv.Addr, User: srv.User, KeyFile: srv.KeyFile, KnownHosts: srv.KnownHosts, Dir: "outbox"}},
		endofday.WithKeys(keys), endofday.WithRecipient(rec),
		endofday.WithRetention(disk.Retained{Dir: b.TempDir()}, time.Hour))
	b.Run("upload-retained", func(b *testing.B) {
		measure(b, func() (int, int64) {
			m, err := retained.Upload(ctx, endofday.Batch(batch))
			testenv.Must(b, err)
			testenv.Must(b, os.Remove(srv.Path("outbox", batch.ManifestFile)))
			return m.OrderCount, m.Bytes
		})
	})
	// The same upload with the XLSX copy beside the CSV (PARTNER_XLSX): a
	// second pass over the orders into an in-memory workbook, encrypted
	// and uploaded. Bytes are the CSV's only, so MB/s compares the sends.
	withXLSX := endofday.NewSender(postgres.EndOfDayStore{Orders: st, Keys: keys},
		sftp.Outbox{Config: sftp.Config{Addr: srv.Addr, User: srv.User, KeyFile: srv.KeyFile, KnownHosts: srv.KnownHosts, Dir: "outbox"}},
		endofday.WithKeys(keys), endofday.WithRecipient(rec), endofday.WithSpreadsheet(xlsx.Spreadsheet{}))
	b.Run("upload-xlsx", func(b *testing.B) {
		measure(b, func() (int, int64) {
			m, err := withXLSX.Upload(ctx, endofday.Batch(batch))
			testenv.Must(b, err)
			testenv.Must(b, os.Remove(srv.Path("outbox", batch.ManifestFile)))
			b.ReportMetric(float64(m.XLSXBytes), "xlsx-bytes")
			return m.OrderCount, m.Bytes
		})
	})
}

// cpuTime is the user+system CPU time of this process so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	testenv.Must(b, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// hashCounter hashes and counts what is written to it.
type hashCounter struct {
	h hash.Hash
	n int64
}

func (c *hashCounter) Write(p []byte) (int, error) {
	c.h.Write(p)
	c.n += int64(len(p))
	return len(p), nil
}
