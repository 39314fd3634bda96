package batcher

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"booklets/pkg/adapter/postgres"
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
	js      jetstream.JetStream
	cfg     ConsumerConfig
	store   *postgres.Orders
	cutoff  businessday.Cutoff
	now     func() time.Time
	log     zerolog.Logger
	metrics *Metrics
}

// NewConsumer returns a consumer. It stores the sealed personal part as it
// came and never opens it; cutoff only dates dead letters (an order's
// business date is the one it was sealed for).
func NewConsumer(js jetstream.JetStream, cfg ConsumerConfig, st *postgres.Orders,
	cutoff businessday.Cutoff, now func() time.Time, log zerolog.Logger, m *Metrics) *Consumer {
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
		m = NewMetrics(nil)
	}
	return &Consumer{js: js, cfg: cfg, store: st, cutoff: cutoff, now: now, log: log, metrics: m}
}

// Run consumes until ctx ends. Orders are stored in batches of what has
// arrived (one transaction per batch, BatchSize at most). Each message is
// acknowledged only after its order (or its dead letter) is committed; a
// database failure hands the message back for redelivery after a delay, so
// nothing is dropped.
func (c *Consumer) Run(ctx context.Context) error {
	cons, err := c.js.CreateOrUpdateConsumer(ctx, c.cfg.Stream, jetstream.ConsumerConfig{
		Durable:       c.cfg.Durable,
		Description:   "The batcher stores orders in PostgreSQL",
		FilterSubject: c.cfg.Subject,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       c.cfg.AckWait,
		// An order must never be given up on: a database outage can last
		// long. MaxDeliver -1 is "unlimited".
		MaxDeliver:    -1,
		MaxAckPending: 1000,
		DeliverPolicy: jetstream.DeliverAllPolicy,
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
	in := make(chan jetstream.Msg, c.cfg.BatchSize)
	worked := make(chan struct{})
	go func() {
		defer close(worked)
		c.work(hctx, in)
	}()
	cc, err := cons.Consume(func(msg jetstream.Msg) { in <- msg },
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			c.log.Warn().Err(err).Msg("stream consumer")
		}))
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
func (c *Consumer) work(ctx context.Context, in <-chan jetstream.Msg) {
	batch := make([]jetstream.Msg, 0, c.cfg.BatchSize)
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
	msg jetstream.Msg
	seq uint64
	o   order.SealedOrder
}

// handleBatch stores the orders of a batch of messages in one transaction
// and acknowledges each only after the commit. A message that is not an
// order is dead-lettered on its own first. If the batch fails as a whole
// (a reference used by another order, the database), its orders are stored
// one by one, so that one bad order neither blocks nor drops the others.
func (c *Consumer) handleBatch(ctx context.Context, msgs []jetstream.Msg) {
	if len(msgs) == 1 {
		c.handle(ctx, msgs[0])
		return
	}
	good := make([]pending, 0, len(msgs))
	for _, msg := range msgs {
		seq := sequence(msg)
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
		case postgres.Late:
			c.late(ctx, p)
		case postgres.Inserted:
			c.ack(p, true)
		default:
			c.ack(p, false)
		}
	}
}

func sequence(msg jetstream.Msg) uint64 {
	if meta, err := msg.Metadata(); err == nil {
		return meta.Sequence.Stream
	}
	return 0
}

func (c *Consumer) handle(ctx context.Context, msg jetstream.Msg) {
	seq := sequence(msg)
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
	case errors.Is(err, postgres.ErrLate):
		c.late(ctx, p)
	case errors.Is(err, postgres.ErrConflict):
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
	c.metrics.LateOrders.Inc()
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
		c.metrics.OrdersStored.Inc()
		c.log.Debug().Str("reference", p.o.Reference.String()).Str("business_date", p.o.BusinessDate.String()).Msg("order stored")
	} else {
		c.metrics.Duplicates.Inc()
	}
}

func (c *Consumer) retry(msg jetstream.Msg, seq uint64, ref string, err error) {
	c.metrics.StoreRetries.Inc()
	c.log.Error().Err(err).Uint64("stream_sequence", seq).Str("reference", ref).
		Dur("retry_in", c.cfg.RetryDelay).Msg("could not store order; it will be redelivered")
	if err := msg.NakWithDelay(c.cfg.RetryDelay); err != nil {
		c.log.Warn().Err(err).Uint64("stream_sequence", seq).Msg("nak order")
	}
}

// deadLetter keeps a message that can never be an order. Only the reason
// and the stream sequence are logged: the content may be personal data.
func (c *Consumer) deadLetter(ctx context.Context, msg jetstream.Msg, seq uint64, reason string) {
	now := c.now()
	_, err := c.store.SaveDeadLetter(ctx, postgres.DeadLetter{
		Stream: c.cfg.Stream, Sequence: seq, Subject: msg.Subject(), Reason: reason,
		Data: msg.Data(), ReceivedAt: now, BusinessDate: c.cutoff.DateOf(now),
	})
	if err != nil {
		c.retry(msg, seq, "", err)
		return
	}
	c.metrics.DeadLetters.Inc()
	c.log.Error().Str("alert", "dead_letter").Uint64("stream_sequence", seq).Str("reason", reason).
		Msg("stream message is not a valid order; kept in dead_letters")
	if err := msg.Ack(); err != nil {
		c.log.Warn().Err(err).Uint64("stream_sequence", seq).Msg("ack dead letter")
	}
}

// WaitCaughtUp returns once every order of business date day (or earlier)
// that reached the stream is stored or dead-lettered, so that the day's
// batch can be assembled and its key destroyed without losing an order in
// flight (docs/privacy.md, "The race to close"). It holds when the durable
// consumer has nothing pending and nothing unacknowledged, or when the
// stream holds no message of that day or earlier (work-queue retention
// removes a message once it is stored). It waits at most CatchUpTimeout
// and then fails with ErrNotCaughtUp. It works without Run in this
// process (`batcher send-now`): it reads the shared durable consumer.
func (c *Consumer) WaitCaughtUp(ctx context.Context, day businessday.Date) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.CatchUpTimeout)
	defer cancel()
	var last string
	for {
		ok, state, err := c.caughtUp(ctx, day)
		if err == nil && ok {
			return nil
		}
		if err != nil {
			last = err.Error()
		} else {
			last = state
		}
		t := time.NewTimer(200 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w within %s (%s): business date %s not assembled", ErrNotCaughtUp, c.cfg.CatchUpTimeout, last, day)
		case <-t.C:
		}
	}
}

func (c *Consumer) caughtUp(ctx context.Context, day businessday.Date) (bool, string, error) {
	str, err := c.js.Stream(ctx, c.cfg.Stream)
	if err != nil {
		return false, "", fmt.Errorf("stream %s: %w", c.cfg.Stream, err)
	}
	cons, err := str.Consumer(ctx, c.cfg.Durable)
	if err == nil {
		info, err := cons.Info(ctx)
		if err != nil {
			return false, "", fmt.Errorf("consumer %s: %w", c.cfg.Durable, err)
		}
		if info.NumPending == 0 && info.NumAckPending == 0 {
			return true, "", nil
		}
		if done, err := c.noneOf(ctx, str, day); err != nil || done {
			return done, "", err
		}
		return false, fmt.Sprintf("%d pending, %d unacknowledged", info.NumPending, info.NumAckPending), nil
	}
	if !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return false, "", fmt.Errorf("consumer %s: %w", c.cfg.Durable, err)
	}
	done, err := c.noneOf(ctx, str, day)
	return done, "no consumer yet", err
}

// noneOf reports whether the stream holds no message of business date day
// or earlier. Only the facts are read (a message's business date is in
// clear); a message that is not an order counts as one of that day, since
// the consumer will dead-letter (and so raise) it.
func (c *Consumer) noneOf(ctx context.Context, str jetstream.Stream, day businessday.Date) (bool, error) {
	info, err := str.Info(ctx)
	if err != nil {
		return false, fmt.Errorf("stream %s: %w", c.cfg.Stream, err)
	}
	if info.State.Msgs == 0 {
		return true, nil
	}
	if info.State.Msgs > 10000 {
		return false, nil // too many to look through; wait for the consumer instead
	}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		m, err := str.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("stream %s message %d: %w", c.cfg.Stream, seq, err)
		}
		o, err := order.UnmarshalSealed(m.Data)
		if err != nil || !o.BusinessDate.After(day) {
			return false, nil
		}
	}
	return true, nil
}
