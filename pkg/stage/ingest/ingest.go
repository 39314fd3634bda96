// Package ingest is the stage that takes orders from the stream into the
// store: each message is stored (in batches of what has arrived, one
// transaction each) and acknowledged only after its commit; a message that
// can never be an order is kept as a dead letter and raised, never
// dropped. WaitCaughtUp tells the end of day when every order of a day
// that reached the stream is stored.
//
// It imports no driver: the stream (Stream) and the database (Store) are
// ports implemented by pkg/adapter/jetstream and pkg/adapter/postgres, and
// the metrics an Observer the service implements.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"booklets/pkg/domain/businessday"
	"booklets/pkg/domain/order"
)

// ConsumerConfig names the durable consumer.
type ConsumerConfig struct {
	Stream     string        // NATS_STREAM
	Subject    string        // NATS_SUBJECT
	Durable    string        // NATS_CONSUMER, default "batcher"
	AckWait    time.Duration // default 30s
	RetryDelay time.Duration // delay before a message is redelivered after a database failure; default 5s
	// DrainTimeout bounds how long stopping waits for the messages in hand
	// to be stored; default 10s.
	DrainTimeout time.Duration
	// CatchUpTimeout bounds how long a batch waits for the consumer to
	// store what the stream holds (WaitCaughtUp); default 2m.
	CatchUpTimeout time.Duration
	// BatchSize is the most orders stored in one transaction; default 256.
	BatchSize int
}

// Consumer stores orders from the stream.
type Consumer struct {
	stream  Stream
	cfg     ConsumerConfig
	store   Store
	cutoff  businessday.Cutoff
	now     func() time.Time
	log     zerolog.Logger
	metrics Observer
}

// NewConsumer returns a consumer. It stores the sealed personal part as it
// came and never opens it; cutoff only dates dead letters (an order's
// business date is the one it was sealed for).
// A nil m observes nothing.
func NewConsumer(stream Stream, cfg ConsumerConfig, st Store,
	cutoff businessday.Cutoff, now func() time.Time, log zerolog.Logger, m Observer) *Consumer {
	if cfg.Durable == "" {
		cfg.Durable = "batcher"
	}
	if cfg.AckWait == 0 {
		cfg.AckWait = 30 * time.Second
	}
	if cfg.RetryDelay == 0 {
		cfg.RetryDelay = 5 * time.Second
	}
	if cfg.DrainTimeout == 0 {
		cfg.DrainTimeout = 10 * time.Second
	}
	if cfg.CatchUpTimeout == 0 {
		cfg.CatchUpTimeout = 2 * time.Minute
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 256
	}
	if m == nil {
		m = nopObserver{}
	}
	return &Consumer{stream: stream, cfg: cfg, store: st, cutoff: cutoff, now: now, log: log, metrics: m}
}

// Run consumes until ctx ends. Orders are stored in batches of what has
// arrived (one transaction per batch, BatchSize at most). Each message is
// acknowledged only after its order (or its dead letter) is committed; a
// database failure hands the message back for redelivery after a delay, so
// nothing is dropped.
func (c *Consumer) Run(ctx context.Context) error {
	// Explicit acknowledgement, delivered from the first message in the
	// stream, and never given up on (ConsumerSpec): an order must not be
	// dropped, and a database outage can last long.
	cons, err := c.stream.Durable(ctx, ConsumerSpec{
		Name:          c.cfg.Durable,
		Description:   "The batcher stores orders in PostgreSQL",
		Subject:       c.cfg.Subject,
		AckWait:       c.cfg.AckWait,
		MaxAckPending: 1000,
	})
	if err != nil {
		return fmt.Errorf("create consumer %s on stream %s: %w", c.cfg.Durable, c.cfg.Stream, err)
	}
	// Messages in hand are stored with a context that outlives ctx (the
	// SIGTERM), so that shutting down finishes them instead of failing
	// them; it ends when draining runs out of time.
	hctx, hcancel := context.WithCancel(context.WithoutCancel(ctx))
	defer hcancel()
	// The stream's callback only hands messages over; one worker takes
	// what has arrived (up to BatchSize) and stores it in one transaction.
	in := make(chan Message, c.cfg.BatchSize)
	worked := make(chan struct{})
	go func() {
		defer close(worked)
		c.work(hctx, in)
	}()
	cc, err := cons.Consume(func(msg Message) { in <- msg },
		func(err error) {
			c.log.Warn().Err(err).Msg("stream consumer")
		})
	if err != nil {
		close(in)
		<-worked
		return fmt.Errorf("consume stream %s: %w", c.cfg.Stream, err)
	}
	c.log.Info().Str("stream", c.cfg.Stream).Str("consumer", c.cfg.Durable).Int("batch_size", c.cfg.BatchSize).Msg("consuming orders")
	<-ctx.Done()
	// Stop fetching, store what has been delivered already and acknowledge
	// it. Whatever is not acknowledged in time is redelivered to the next
	// consumer: storing is idempotent.
	cc.Drain()
	timer := time.NewTimer(c.cfg.DrainTimeout)
	defer timer.Stop()
	timedOut := func() {
		c.log.Warn().Dur("timeout", c.cfg.DrainTimeout).Msg("stopped before every order in hand was stored; they will be redelivered")
		hcancel()
	}
	// Closed: every delivered message is handed to the worker (the
	// callback may wait for it), so the hand-over can end.
	select {
	case <-cc.Closed():
		close(in)
		select {
		case <-worked:
		case <-timer.C:
			timedOut()
			<-worked
		}
	case <-timer.C:
		timedOut()
		<-cc.Closed()
		close(in)
		<-worked
	}
	c.log.Info().Str("consumer", c.cfg.Durable).Msg("stopped consuming orders")
	return nil
}

// work stores the messages handed over on in, in batches: whatever has
// arrived when the previous batch is done, up to BatchSize. Under load the
// batches fill up; a lone order is stored at once.
func (c *Consumer) work(ctx context.Context, in <-chan Message) {
	batch := make([]Message, 0, c.cfg.BatchSize)
	for msg := range in {
		batch = append(batch[:0], msg)
	more:
		for len(batch) < c.cfg.BatchSize {
			select {
			case m, ok := <-in:
				if !ok {
					break more
				}
				batch = append(batch, m)
			default:
				break more
			}
		}
		c.handleBatch(ctx, batch)
		clear(batch) // do not keep the messages' bytes until the next batch
	}
}

// pending is a decoded order waiting in a batch.
type pending struct {
	msg Message
	seq uint64
	o   order.SealedOrder
}

// handleBatch stores the orders of a batch of messages in one transaction
// and acknowledges each only after the commit. A message that is not an
// order is dead-lettered on its own first. If the batch fails as a whole
// (a reference used by another order, the database), its orders are stored
// one by one, so that one bad order neither blocks nor drops the others.
func (c *Consumer) handleBatch(ctx context.Context, msgs []Message) {
	if len(msgs) == 1 {
		c.handle(ctx, msgs[0])
		return
	}
	good := make([]pending, 0, len(msgs))
	for _, msg := range msgs {
		seq := msg.Sequence()
		o, err := order.UnmarshalSealed(msg.Data())
		if err != nil {
			c.deadLetter(ctx, msg, seq, err.Error())
			continue
		}
		good = append(good, pending{msg: msg, seq: seq, o: o})
	}
	if len(good) == 0 {
		return
	}
	orders := make([]order.SealedOrder, len(good))
	for i, p := range good {
		orders[i] = p.o
	}
	saved, err := c.store.SaveOrders(ctx, orders)
	if err != nil {
		c.log.Warn().Err(err).Int("orders", len(good)).Msg("could not store a batch of orders; storing them one by one")
		for _, p := range good {
			c.store1(ctx, p)
		}
		return
	}
	for i, p := range good {
		switch saved[i] {
		case Late:
			c.late(ctx, p)
		case Inserted:
			c.ack(p, true)
		default:
			c.ack(p, false)
		}
	}
}

func (c *Consumer) handle(ctx context.Context, msg Message) {
	seq := msg.Sequence()
	o, err := order.UnmarshalSealed(msg.Data())
	if err != nil {
		c.deadLetter(ctx, msg, seq, err.Error())
		return
	}
	c.store1(ctx, pending{msg: msg, seq: seq, o: o})
}

// store1 stores one order in a transaction of its own.
func (c *Consumer) store1(ctx context.Context, p pending) {
	inserted, err := c.store.SaveOrder(ctx, p.o)
	switch {
	case errors.Is(err, ErrLate):
		c.late(ctx, p)
	case errors.Is(err, ErrConflict):
		// The same reference under another order id, say: storing it again
		// will never work, and it must not block the stream.
		c.deadLetter(ctx, p.msg, p.seq, fmt.Sprintf("order %s conflicts with a stored order", p.o.Reference))
	case err != nil:
		c.retry(p.msg, p.seq, p.o.Reference.String(), err)
	default:
		c.ack(p, inserted)
	}
}

// late dead-letters an order whose day's batch is assembled (its key
// destroyed or about to be): it can never be sent. Kept and raised, never
// dropped silently.
func (c *Consumer) late(ctx context.Context, p pending) {
	o, date := p.o, p.o.BusinessDate
	c.metrics.LateOrder()
	c.deadLetter(ctx, p.msg, p.seq, fmt.Sprintf("order %s of business date %s arrived after that day's batch was assembled; it was not sent (alert late_order)", o.Reference, date))
	c.log.Error().Str("alert", "late_order").Str("reference", o.Reference.String()).Str("business_date", date.String()).
		Msg("order arrived after its day's batch was assembled; kept in dead_letters, NOT sent: contact the person by reference")
}

// ack acknowledges a stored order (called only after its commit).
func (c *Consumer) ack(p pending, inserted bool) {
	if err := p.msg.Ack(); err != nil {
		// Redelivery is harmless: storing is idempotent.
		c.log.Warn().Err(err).Uint64("stream_sequence", p.seq).Str("reference", p.o.Reference.String()).Msg("ack order")
	}
	if inserted {
		c.metrics.OrderStored()
		c.log.Debug().Str("reference", p.o.Reference.String()).Str("business_date", p.o.BusinessDate.String()).Msg("order stored")
	} else {
		c.metrics.OrderDuplicate()
	}
}

func (c *Consumer) retry(msg Message, seq uint64, ref string, err error) {
	c.metrics.StoreRetried()
	c.log.Error().Err(err).Uint64("stream_sequence", seq).Str("reference", ref).
		Dur("retry_in", c.cfg.RetryDelay).Msg("could not store order; it will be redelivered")
	if err := msg.NakWithDelay(c.cfg.RetryDelay); err != nil {
		c.log.Warn().Err(err).Uint64("stream_sequence", seq).Msg("nak order")
	}
}

// deadLetter keeps a message that can never be an order. Only the reason
// and the stream sequence are logged: the content may be personal data.
func (c *Consumer) deadLetter(ctx context.Context, msg Message, seq uint64, reason string) {
	now := c.now()
	_, err := c.store.SaveDeadLetter(ctx, DeadLetter{
		Stream: c.cfg.Stream, Sequence: seq, Subject: msg.Subject(), Reason: reason,
		Data: msg.Data(), ReceivedAt: now, BusinessDate: c.cutoff.DateOf(now),
	})
	if err != nil {
		c.retry(msg, seq, "", err)
		return
	}
	c.metrics.DeadLettered()
	c.log.Error().Str("alert", "dead_letter").Uint64("stream_sequence", seq).Str("reason", reason).
		Msg("stream message is not a valid order; kept in dead_letters")
	if err := msg.Ack(); err != nil {
		c.log.Warn().Err(err).Uint64("stream_sequence", seq).Msg("ack dead letter")
	}
}
