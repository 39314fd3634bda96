package jetstream_test

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	natsjs "github.com/nats-io/nats.go/jetstream"

	"booklets/pkg/adapter/jetstream"
	"booklets/pkg/domain/order"
	"booklets/pkg/testkit/testenv"
)

// BenchmarkPublish times Orders.Publish of a sealed order with 16
// publishes in flight, and BenchmarkRawPublish a bare nats.go
// jetstream.Publish of the same bytes with the same options (the bench's
// baseline). cpu-µs/op is what one publish costs this process, the floor
// under the intake's CPU per order.
func BenchmarkPublish(b *testing.B) {
	s := testenv.Orders(b)
	so := sampleOrder(b)
	var n atomic.Int64
	parallel(b, func(ctx context.Context) error {
		_, err := s.Publish(ctx, so, fmt.Sprintf("bench-%d", n.Add(1)))
		return err
	})
}

func BenchmarkRawPublish(b *testing.B) {
	s := testenv.Orders(b)
	data, err := order.MarshalSealed(sampleOrder(b))
	testenv.Must(b, err)
	js, cfg := testenv.JetStream(b), s.Config()
	var n atomic.Int64
	parallel(b, func(ctx context.Context) error {
		_, err := js.Publish(ctx, cfg.Subject, data,
			natsjs.WithMsgID(fmt.Sprintf("bench-%d", n.Add(1))), natsjs.WithExpectStream(cfg.Stream))
		return err
	})
}

func parallel(b *testing.B, op func(context.Context) error) {
	ctx := context.Background()
	b.ReportAllocs()
	b.SetParallelism(max(1, 16/runtime.GOMAXPROCS(0)))
	cpu0 := processCPU()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := op(ctx); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(processCPU()-cpu0)/float64(time.Microsecond)/float64(b.N), "cpu-µs/op")
}

// processCPU is the user and system CPU time of this process so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkRawPublishAsync(b *testing.B) {
	s := testenv.Orders(b)
	data, err := order.MarshalSealed(sampleOrder(b))
	testenv.Must(b, err)
	// The adapter's own publishing options (jetstream.New).
	js, cfg := testenv.JetStream(b, natsjs.WithPublishAsyncTimeout(jetstream.PublishTimeout)), s.Config()
	var n atomic.Int64
	parallel(b, func(ctx context.Context) error {
		f, err := js.PublishAsync(cfg.Subject, data,
			natsjs.WithMsgID(fmt.Sprintf("bench-%d", n.Add(1))), natsjs.WithExpectStream(cfg.Stream))
		if err != nil {
			return err
		}
		select {
		case <-f.Ok():
			return nil
		case err := <-f.Err():
			return err
		}
	})
}
