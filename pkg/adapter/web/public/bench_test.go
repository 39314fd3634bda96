package public

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// benchBodies are valid orders of typical length.
func benchBodies(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = fmt.Appendf(nil, `{"area":"staffordshire","formats":["standard-print","audio"],"name":"Bench Person %d",`+
			`"address_line_1":"%d High Street","address_line_2":"Flat %d","town":"Stafford","postcode":"ST18 0YY"}`, i, i+1, i%7+1)
	}
	return out
}

// BenchmarkCreateOrder times POST /api/v1/orders through the whole web
// adapter (middleware, decoding, validation, sealing, the JetStream publish
// with its acknowledgement, the request log to io.Discard) without the
// network: the intake's own CPU per order. Profile it with
//
//	go test -run XXX -bench CreateOrder -cpuprofile cpu.out ./pkg/adapter/web/public
func BenchmarkCreateOrder(b *testing.B) {
	f := newFixture(b, func(c *testConfig) {
		c.Logger = zerolog.New(io.Discard)
		c.RatePerMinute, c.Burst = 1<<30, 1<<30
		c.Metrics = NewMetrics(nil)
	})
	bodies := benchBodies(64)
	var n atomic.Int64
	b.ReportAllocs()
	// 16 requests in flight, as the bench's 16 clients. ns/op is then the
	// inverse of throughput on this machine; cpu-µs/op is what each order
	// costs the process (this test binary: the handler, nats.go's
	// goroutines, the GC), whatever else the machine is doing.
	b.SetParallelism(max(1, 16/runtime.GOMAXPROCS(0)))
	cpu0 := processCPU()
	b.ResetTimer()
	defer func() {
		b.ReportMetric(float64(processCPU()-cpu0)/float64(time.Microsecond)/float64(b.N), "cpu-µs/op")
	}()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			r := httptest.NewRequest("POST", "/api/v1/orders", bytes.NewReader(bodies[i%int64(len(bodies))]))
			r.Header.Set("Content-Type", "application/json")
			w := httptest.NewRecorder()
			f.srv.ServeHTTP(w, r)
			if w.Code != http.StatusCreated {
				b.Fatalf("status %d: %s", w.Code, w.Body)
			}
		}
	})
}

// processCPU is the user and system CPU time of this process so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
