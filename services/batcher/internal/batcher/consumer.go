package batcher

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"booklets/pkg/businessday"
	"booklets/pkg/order"
	"booklets/pkg/store"
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
}

// Consumer stores orders from the stream.
type Consumer struct {
	js      jetstream.JetStream
	cfg     ConsumerConfig
	store   *store.Store
	codec   PersonalCodec
	cutoff  businessday.Cutoff
	now     func() time.Time
	log     zerolog.Logger
	metrics *Metrics
}

// NewConsumer returns a consumer.
func NewConsumer(js jetstream.JetStream, cfg ConsumerConfig, st *store.Store, codec PersonalCodec,
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
	if m == nil {
		m = NewMetrics(nil)
	}
	return &Consumer{js: js, cfg: cfg, store: st, codec: codec, cutoff: cutoff, now: now, log: log, metrics: m}
}

// Run consumes until ctx ends. Each message is acknowledged only after the
// order (or its dead letter) is committed; a database failure hands the
// message back for redelivery after a delay, so nothing is dropped.
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
	cc, err := cons.Consume(func(msg jetstream.Msg) { c.handle(hctx, msg) },
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			c.log.Warn().Err(err).Msg("stream consumer")
		}))
	if err != nil {
		return fmt.Errorf("consume stream %s: %w", c.cfg.Stream, err)
	}
	c.log.Info().Str("stream", c.cfg.Stream).Str("consumer", c.cfg.Durable).Msg("consuming orders")
	<-ctx.Done()
	// Stop fetching, store what has been delivered already and acknowledge
	// it. Whatever is not acknowledged in time is redelivered to the next
	// consumer: storing is idempotent.
	cc.Drain()
	timer := time.NewTimer(c.cfg.DrainTimeout)
	defer timer.Stop()
	select {
	case <-cc.Closed():
	case <-timer.C:
		c.log.Warn().Dur("timeout", c.cfg.DrainTimeout).Msg("stopped before every order in hand was stored; they will be redelivered")
		hcancel()
		<-cc.Closed()
	}
	c.log.Info().Str("consumer", c.cfg.Durable).Msg("stopped consuming orders")
	return nil
}

func (c *Consumer) handle(ctx context.Context, msg jetstream.Msg) {
	var seq uint64
	if meta, err := msg.Metadata(); err == nil {
		seq = meta.Sequence.Stream
	}
	o, err := order.Unmarshal(msg.Data())
	if err != nil {
		c.deadLetter(ctx, msg, seq, err.Error())
		return
	}
	date := c.cutoff.DateOf(o.ReceivedAt)
	personal, err := c.codec.Encode(ctx, o.ID, date, o.Personal)
	if err != nil {
		c.retry(msg, seq, o.Reference.String(), err)
		return
	}
	inserted, err := c.store.SaveOrder(ctx, o, date, personal)
	switch {
	case errors.Is(err, store.ErrConflict):
		// The same reference under another order id, say: storing it again
		// will never work, and it must not block the stream.
		c.deadLetter(ctx, msg, seq, fmt.Sprintf("order %s conflicts with a stored order", o.Reference))
		return
	case err != nil:
		c.retry(msg, seq, o.Reference.String(), err)
		return
	}
	if err := msg.Ack(); err != nil {
		// Redelivery is harmless: storing is idempotent.
		c.log.Warn().Err(err).Uint64("stream_sequence", seq).Str("reference", o.Reference.String()).Msg("ack order")
	}
	if inserted {
		c.metrics.OrdersStored.Inc()
		c.log.Debug().Str("reference", o.Reference.String()).Str("business_date", date.String()).Msg("order stored")
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
	_, err := c.store.SaveDeadLetter(ctx, store.DeadLetter{
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
