// Package jetstream is the JetStream adapter: it creates the orders stream,
// publishes orders to it with an acknowledgement, keeps the intake's
// idempotency keys (idempotency.go), delivers the orders to the batcher
// (consume.go), and tells whether it is ready. Orders satisfies the stages'
// ports (placeorder.Publisher and placeorder.Claims, ingest.Stream) and
// hands out no raw client. It speaks in domain types (order.SealedOrder: the
// personal part is sealed before it reaches this package, so NATS only
// ever holds ciphertext) and knows nothing of HTTP or PostgreSQL.
//
// The subject carries no personal data: it is fixed by configuration
// (default "booklets.orders.v1"), never built from an order.
package jetstream

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"booklets/pkg/domain/order"
	"booklets/pkg/stage/placeorder"
)

// Orders is what the place-order stage publishes to and claims keys in.
var (
	_ placeorder.Publisher = (*Orders)(nil)
	_ placeorder.Claims    = (*Orders)(nil)
)

// ErrUnavailable means JetStream could not be reached or did not
// acknowledge in time: the order was not stored and may be retried. It is
// the place-order stage's own sentinel, so that the stage and the web
// adapter tell it apart without importing this package.
var ErrUnavailable = placeorder.ErrUnavailable

// Config names the stream and sets its durability.
type Config struct {
	Stream     string        // stream name, e.g. "ORDERS"
	Subject    string        // subject orders are published on
	Replicas   int           // 1 on one server; 3 in a cluster
	DupeWindow time.Duration // how long a message id is remembered for de-duplication
}

// DefaultConfig is the configuration used when nothing is set.
func DefaultConfig() Config {
	return Config{Stream: "ORDERS", Subject: "booklets.orders.v1", Replicas: 1, DupeWindow: 24 * time.Hour}
}

// Connect opens a NATS connection that fails fast while disconnected
// (no reconnect buffer), so that a publish during an outage is answered
// with ErrUnavailable at once instead of hanging, and that keeps trying to
// reconnect for as long as the process runs.
func Connect(url, name string, opts ...nats.Option) (*nats.Conn, error) {
	base := []nats.Option{
		nats.Name(name),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.ReconnectBufSize(-1),
		nats.Timeout(2 * time.Second),
	}
	nc, err := nats.Connect(url, append(base, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s: %w", url, err)
	}
	return nc, nil
}

// Orders is the orders stream.
type Orders struct {
	nc  *nats.Conn
	js  natsjs.JetStream
	cfg Config
	// kv is the idempotency bucket once made or found (idempotency.go).
	kv atomic.Pointer[natsjs.KeyValue]
}

// PublishTimeout bounds the wait for JetStream's acknowledgement of an
// order when the caller's context has no earlier deadline.
const PublishTimeout = 5 * time.Second

// New returns the orders stream over a connection.
func New(nc *nats.Conn, cfg Config) (*Orders, error) {
	// Orders are published asynchronously and each waited for (Publish):
	// acknowledgements then arrive on one subscription instead of one
	// request each, which costs ~20 % less CPU per order (pkg/adapter/jetstream
	// benchmarks, docs/performance.md). The timeout frees an
	// acknowledgement that never comes.
	js, err := natsjs.New(nc, natsjs.WithPublishAsyncTimeout(PublishTimeout))
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	return &Orders{nc: nc, js: js, cfg: cfg}, nil
}

// Config returns the stream's configuration.
func (o *Orders) Config() Config { return o.cfg }

// Ensure creates the stream, or updates it to the configuration. Orders
// are kept on disk, removed once a consumer acknowledges them (work queue),
// and de-duplicated by message id over DupeWindow.
func (o *Orders) Ensure(ctx context.Context) error {
	_, err := o.js.CreateOrUpdateStream(ctx, natsjs.StreamConfig{
		Name:        o.cfg.Stream,
		Description: "Booklet orders from the intake, consumed by the batcher",
		Subjects:    []string{o.cfg.Subject},
		Storage:     natsjs.FileStorage,
		Retention:   natsjs.WorkQueuePolicy,
		Replicas:    o.cfg.Replicas,
		Duplicates:  o.cfg.DupeWindow,
		Discard:     natsjs.DiscardOld,
	})
	if err != nil {
		return fmt.Errorf("ensure stream %s: %w", o.cfg.Stream, err)
	}
	return nil
}

// Ready reports whether NATS is connected and the stream and its
// idempotency bucket exist.
func (o *Orders) Ready(ctx context.Context) error {
	if !o.nc.IsConnected() {
		return fmt.Errorf("%w: not connected", ErrUnavailable)
	}
	if _, err := o.js.Stream(ctx, o.cfg.Stream); err != nil {
		return fmt.Errorf("%w: stream %s: %v", ErrUnavailable, o.cfg.Stream, err)
	}
	return o.idempotencyReady(ctx)
}

// Publish stores an order durably and returns once JetStream has
// acknowledged it, with its sequence in the stream. msgID de-duplicates
// retries: the same id within the window is stored once (Duplicate).
func (o *Orders) Publish(ctx context.Context, ord order.SealedOrder, msgID string) (placeorder.Published, error) {
	data, err := order.MarshalSealed(ord)
	if err != nil {
		return placeorder.Published{}, err
	}
	if !o.nc.IsConnected() {
		return placeorder.Published{}, fmt.Errorf("publish order %s: %w: not connected", ord.Reference, ErrUnavailable)
	}
	// Every failure here (no responders, timeout, closed connection, missing
	// stream) leaves nothing for the caller to undo: either nothing was
	// stored, or a retry with the same msgID is de-duplicated.
	fail := func(err error) (placeorder.Published, error) {
		return placeorder.Published{}, fmt.Errorf("publish order %s: %w: %v", ord.Reference, ErrUnavailable, err)
	}
	f, err := o.js.PublishAsync(o.cfg.Subject, data, natsjs.WithMsgID(msgID), natsjs.WithExpectStream(o.cfg.Stream))
	if err != nil {
		return fail(err)
	}
	select {
	case ack := <-f.Ok():
		return placeorder.Published{Sequence: ack.Sequence, Duplicate: ack.Duplicate}, nil
	case err := <-f.Err():
		return fail(err)
	case <-ctx.Done():
		return fail(ctx.Err())
	}
}
