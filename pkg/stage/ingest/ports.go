package ingest

import (
	"context"
	"errors"
	"time"

	"booklets/pkg/domain/businessday"
	"booklets/pkg/domain/order"
)

// Stream is the orders stream as the ingest stage reads it
// (pkg/adapter/jetstream implements it): a durable consumer that delivers
// every message until it is acknowledged, and what WaitCaughtUp needs to
// see how far that consumer has got.
type Stream interface {
	// Durable creates the durable consumer, or updates it to spec.
	Durable(ctx context.Context, spec ConsumerSpec) (Durable, error)
	// ConsumerState reads the durable consumer's counts; ErrNoConsumer if
	// it does not exist yet. Errors name the stream or the consumer.
	ConsumerState(ctx context.Context, durable string) (ConsumerState, error)
	// StreamState reads what the stream holds. Errors name the stream.
	StreamState(ctx context.Context) (StreamState, error)
	// Message returns the data of the message at a stream sequence, or
	// ErrNoMessage if it is gone (acknowledged). Errors name the stream
	// and the sequence.
	Message(ctx context.Context, seq uint64) ([]byte, error)
}

// ConsumerSpec is the durable consumer the stage reads with. Every message
// is delivered until it is acknowledged, however often (an order must
// never be given up on: a database outage can last long), from the first
// in the stream.
type ConsumerSpec struct {
	Name          string
	Description   string
	Subject       string        // only messages on this subject
	AckWait       time.Duration // redelivered when not acknowledged within this
	MaxAckPending int           // at most this many delivered and not acknowledged
}

// Durable is the created consumer.
type Durable interface {
	// Consume calls handle with each message delivered, one at a time,
	// until the Subscription is drained; onErr hears of trouble that does
	// not stop it (a missed heartbeat, say).
	Consume(handle func(Message), onErr func(error)) (Subscription, error)
}

// Subscription is a running Consume.
type Subscription interface {
	// Drain stops fetching; the messages already fetched are still
	// handed to handle.
	Drain()
	// Closed is closed once every fetched message has been handed over.
	Closed() <-chan struct{}
}

// Message is one delivered stream message.
type Message interface {
	Data() []byte
	Subject() string
	// Sequence is the message's stream sequence, 0 if unknown.
	Sequence() uint64
	Ack() error
	// NakWithDelay hands the message back to be delivered again after d.
	NakWithDelay(d time.Duration) error
}

// ConsumerState is how far the durable consumer has got.
type ConsumerState struct {
	Pending    uint64 // in the stream, not delivered yet
	AckPending uint64 // delivered, not acknowledged yet
}

// StreamState is what the stream holds (a work queue: a message is gone
// once acknowledged).
type StreamState struct {
	Msgs     uint64
	FirstSeq uint64
	LastSeq  uint64
}

// Errors a Stream returns that the stage tells apart.
var (
	ErrNoConsumer = errors.New("consumer not found")
	ErrNoMessage  = errors.New("message not found")
)

// Store is where orders go (pkg/adapter/postgres implements it). Storing
// is idempotent on the order id: a redelivered order is a duplicate.
type Store interface {
	// SaveOrders stores many orders in one transaction and says what
	// became of each, in order. An error means none was stored.
	SaveOrders(ctx context.Context, orders []order.SealedOrder) ([]Saved, error)
	// SaveOrder stores one order in a transaction of its own and reports
	// whether it was new; ErrLate and ErrConflict say why it never will be.
	SaveOrder(ctx context.Context, o order.SealedOrder) (inserted bool, err error)
	// SaveDeadLetter keeps a message that cannot be stored as an order,
	// once per stream sequence, and reports whether it was new.
	SaveDeadLetter(ctx context.Context, d DeadLetter) (bool, error)
}

// Saved is what SaveOrders did with one order.
type Saved int

// The outcomes of SaveOrders for one order.
const (
	// Inserted: the order is new and now stored.
	Inserted Saved = iota
	// Duplicate: the order id was stored already: nothing changed.
	Duplicate
	// Late: refused as SaveOrder's ErrLate. Nothing stored.
	Late
)

// Errors a Store returns that the stage tells apart.
var (
	// ErrLate means the order's business date already has its batch
	// assembled (or its day key destroyed): it can never be sent.
	ErrLate = errors.New("order arrived after its business day's batch was assembled")
	// ErrConflict means the order contradicts a stored one (its reference
	// used by another order id, say): storing it again will never work.
	ErrConflict = errors.New("conflict with stored data")
)

// DeadLetter is a stream message that could not be taken as an order.
type DeadLetter struct {
	Stream       string
	Sequence     uint64 // stream sequence
	Subject      string
	Reason       string // why; never the content
	Data         []byte // the raw message, which may hold personal data
	ReceivedAt   time.Time
	BusinessDate businessday.Date // the day whose batch deletes Data
}

// Observer hears what the stage did, for the service's metrics. It must
// not block.
type Observer interface {
	OrderStored()
	OrderDuplicate()
	DeadLettered()
	StoreRetried()
	LateOrder()
}

// nopObserver is the Observer of a consumer given none.
type nopObserver struct{}

func (nopObserver) OrderStored()    {}
func (nopObserver) OrderDuplicate() {}
func (nopObserver) DeadLettered()   {}
func (nopObserver) StoreRetried()   {}
func (nopObserver) LateOrder()      {}
