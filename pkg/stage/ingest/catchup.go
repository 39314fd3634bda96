package ingest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"booklets/pkg/domain/businessday"
	"booklets/pkg/domain/order"
)

// ErrNotCaughtUp means the stream consumer still had orders in flight when
// a day's batch was to be assembled: assembling then would leave them to
// be sealed under a key about to be destroyed. Nothing is assembled; the
// run fails and is retried (next run or `batcher send-now`).
var ErrNotCaughtUp = errors.New("the stream consumer has not caught up")

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

// caughtUp checks once. The Stream's errors name the stream or the
// consumer already.
func (c *Consumer) caughtUp(ctx context.Context, day businessday.Date) (bool, string, error) {
	info, err := c.stream.ConsumerState(ctx, c.cfg.Durable)
	if err == nil {
		if info.Pending == 0 && info.AckPending == 0 {
			return true, "", nil
		}
		if done, err := c.noneOf(ctx, day); err != nil || done {
			return done, "", err
		}
		return false, fmt.Sprintf("%d pending, %d unacknowledged", info.Pending, info.AckPending), nil
	}
	if !errors.Is(err, ErrNoConsumer) {
		return false, "", err
	}
	done, err := c.noneOf(ctx, day)
	return done, "no consumer yet", err
}

// noneOf reports whether the stream holds no message of business date day
// or earlier. Only the facts are read (a message's business date is in
// clear); a message that is not an order counts as one of that day, since
// the consumer will dead-letter (and so raise) it.
func (c *Consumer) noneOf(ctx context.Context, day businessday.Date) (bool, error) {
	state, err := c.stream.StreamState(ctx)
	if err != nil {
		return false, err
	}
	if state.Msgs == 0 {
		return true, nil
	}
	if state.Msgs > 10000 {
		return false, nil // too many to look through; wait for the consumer instead
	}
	for seq := state.FirstSeq; seq <= state.LastSeq; seq++ {
		data, err := c.stream.Message(ctx, seq)
		if errors.Is(err, ErrNoMessage) {
			continue
		}
		if err != nil {
			return false, err
		}
		o, err := order.UnmarshalSealed(data)
		if err != nil || !o.BusinessDate.After(day) {
			return false, nil
		}
	}
	return true, nil
}
