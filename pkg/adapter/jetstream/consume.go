package jetstream

import (
	"context"
	"errors"
	"fmt"
	"time"

	natsjs "github.com/nats-io/nats.go/jetstream"

	"booklets/pkg/stage/ingest"
)

// The orders stream as the ingest stage reads it (ingest.Stream): a durable
// consumer, and the counts that say whether it has caught up.
var _ ingest.Stream = (*Orders)(nil)

// Durable implements ingest.Stream: it creates the durable consumer on the
// orders stream, or updates it to spec. Every message is acknowledged
// explicitly, delivered from the first in the stream, and redelivered
// however often it is not acknowledged (MaxDeliver -1, "unlimited"): an
// order must never be given up on, as a database outage can last long.
func (o *Orders) Durable(ctx context.Context, spec ingest.ConsumerSpec) (ingest.Durable, error) {
	cons, err := o.js.CreateOrUpdateConsumer(ctx, o.cfg.Stream, natsjs.ConsumerConfig{
		Durable:       spec.Name,
		Description:   spec.Description,
		FilterSubject: spec.Subject,
		AckPolicy:     natsjs.AckExplicitPolicy,
		AckWait:       spec.AckWait,
		MaxDeliver:    -1,
		MaxAckPending: spec.MaxAckPending,
		DeliverPolicy: natsjs.DeliverAllPolicy,
	})
	if err != nil {
		return nil, err
	}
	return durable{cons}, nil
}

type durable struct{ cons natsjs.Consumer }

// Consume implements ingest.Durable.
func (d durable) Consume(handle func(ingest.Message), onErr func(error)) (ingest.Subscription, error) {
	cc, err := d.cons.Consume(func(m natsjs.Msg) { handle(message{m}) },
		natsjs.ConsumeErrHandler(func(_ natsjs.ConsumeContext, err error) { onErr(err) }))
	if err != nil {
		return nil, err
	}
	return cc, nil
}

// message is a delivered message as the ingest stage sees it.
type message struct{ natsjs.Msg }

// Sequence implements ingest.Message: the stream sequence, 0 if the
// message carries no metadata.
func (m message) Sequence() uint64 {
	if meta, err := m.Metadata(); err == nil {
		return meta.Sequence.Stream
	}
	return 0
}

// NakWithDelay implements ingest.Message.
func (m message) NakWithDelay(d time.Duration) error { return m.Msg.NakWithDelay(d) }

// ConsumerState implements ingest.Stream: the durable consumer's pending
// and unacknowledged counts, or ingest.ErrNoConsumer.
func (o *Orders) ConsumerState(ctx context.Context, name string) (ingest.ConsumerState, error) {
	str, err := o.js.Stream(ctx, o.cfg.Stream)
	if err != nil {
		return ingest.ConsumerState{}, fmt.Errorf("stream %s: %w", o.cfg.Stream, err)
	}
	cons, err := str.Consumer(ctx, name)
	if errors.Is(err, natsjs.ErrConsumerNotFound) {
		return ingest.ConsumerState{}, fmt.Errorf("consumer %s: %w: %w", name, ingest.ErrNoConsumer, err)
	}
	if err != nil {
		return ingest.ConsumerState{}, fmt.Errorf("consumer %s: %w", name, err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return ingest.ConsumerState{}, fmt.Errorf("consumer %s: %w", name, err)
	}
	return ingest.ConsumerState{Pending: info.NumPending, AckPending: uint64(info.NumAckPending)}, nil
}

// StreamState implements ingest.Stream.
func (o *Orders) StreamState(ctx context.Context) (ingest.StreamState, error) {
	str, err := o.js.Stream(ctx, o.cfg.Stream)
	if err != nil {
		return ingest.StreamState{}, fmt.Errorf("stream %s: %w", o.cfg.Stream, err)
	}
	info, err := str.Info(ctx)
	if err != nil {
		return ingest.StreamState{}, fmt.Errorf("stream %s: %w", o.cfg.Stream, err)
	}
	return ingest.StreamState{Msgs: info.State.Msgs, FirstSeq: info.State.FirstSeq, LastSeq: info.State.LastSeq}, nil
}

// Message implements ingest.Stream: the data of the message at seq, or
// ingest.ErrNoMessage once it is gone.
func (o *Orders) Message(ctx context.Context, seq uint64) ([]byte, error) {
	str, err := o.js.Stream(ctx, o.cfg.Stream)
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", o.cfg.Stream, err)
	}
	m, err := str.GetMsg(ctx, seq)
	if errors.Is(err, natsjs.ErrMsgNotFound) {
		return nil, fmt.Errorf("stream %s message %d: %w: %w", o.cfg.Stream, seq, ingest.ErrNoMessage, err)
	}
	if err != nil {
		return nil, fmt.Errorf("stream %s message %d: %w", o.cfg.Stream, seq, err)
	}
	return m.Data, nil
}
