// Package placeorder is the intake's use case: place an order. A
// validated order gets its id, reference and time of receipt, its personal
// part is sealed under the key of its business date, and it is published
// to the orders stream; with an Idempotency-Key, a retry gets the same
// reference and one order is stored (idempotency.go).
//
// It owns the small interfaces it needs (Publisher, Claims, DayKeys,
// Observer), which pkg/adapter/jetstream and the PostgreSQL day keys
// satisfy, and imports no driver and nothing of HTTP: the public form and
// the API (pkg/adapter/web/public) only translate requests into Place.
//
// Personal data never leaves Place except sealed: it is not logged and not
// put in an error.
package placeorder

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/rs/zerolog"

	"booklets/pkg/domain/businessday"
	"booklets/pkg/domain/order"
	"booklets/pkg/domain/reference"
	"booklets/pkg/domain/seal"
)

// Publisher stores sealed orders durably (pkg/adapter/jetstream).
type Publisher interface {
	// Publish returns once the order is stored. msgID de-duplicates
	// retries: the same id within the stream's window is stored once. A
	// failure that a retry may mend wraps ErrUnavailable.
	Publish(ctx context.Context, o order.SealedOrder, msgID string) (Published, error)
	// Ready reports whether an order could be published now.
	Ready(ctx context.Context) error
}

// Published is the stream's acknowledgement of an order.
type Published struct {
	Sequence  uint64
	Duplicate bool // the message id was seen before: nothing new was stored
}

// Claims remembers the first request made with each idempotency key,
// shared by every replica (pkg/adapter/jetstream's idempotency bucket).
type Claims interface {
	// Claim records c under id, or, if a record for id exists, returns it
	// and created false. Of two requests racing with the same id exactly
	// one creates the record.
	Claim(ctx context.Context, id string, c Claim) (got Claim, created bool, err error)
	// MarkPublished records that the claim's order was acknowledged, if
	// the record is still at c.Revision.
	MarkPublished(ctx context.Context, id string, c Claim) error
}

// DayKeys gives the key that the orders of a business date are sealed
// under (the PostgreSQL adapter's day keys). It refuses a destroyed key
// with seal.ErrKeyDestroyed: nothing is sealed under a key that is gone;
// and a key it cannot unwrap with seal.ErrUnknownKEK (its key-encryption
// key is not configured), seal.ErrTampered or seal.ErrMalformed.
type DayKeys interface {
	GetOrCreate(ctx context.Context, day businessday.Date) (*seal.DayKey, error)
}

// Observer is told what the intake's metrics count (the Prometheus
// implementation is the web adapter's Metrics). Nil observes nothing.
type Observer interface {
	// Published is how long a publish took, and its outcome.
	Published(took time.Duration, duplicate bool, err error)
	// DayKeyUnavailable is whether the current day's key exists but
	// cannot be used (day_key_unavailable).
	DayKeyUnavailable(on bool)
}

// The failures Place returns besides the domain's and those of
// idempotency (ErrKeyReused, ErrKeyStale).
var (
	// ErrUnavailable: the orders stream could not be reached or did not
	// acknowledge in time; the order was not stored and may be retried.
	// The Publisher and Claims implementations wrap it.
	ErrUnavailable = errors.New("order stream unavailable")
	// ErrKeysUnavailable: the day key could not be had (database down, or
	// the day's key already destroyed), so the order cannot be sealed and
	// nothing is published.
	ErrKeysUnavailable = errors.New("day key unavailable")
	// ErrDayKeyFault: the order could not be sealed because the day key
	// cannot be used (daykey.go); waiting will not mend it.
	ErrDayKeyFault = errors.New("day key cannot be used")
)

// MinSecretLen is the least number of bytes the secret must have.
const MinSecretLen = 32

// Config is what the use case needs.
type Config struct {
	Publisher Publisher
	Claims    Claims
	// Keys seal the personal part of every order before it is published;
	// Cutoff decides an order's business date, hence its key.
	Keys   DayKeys
	Cutoff businessday.Cutoff
	// Secret keys the idempotency keys' hashes and the orders'
	// fingerprints. Every replica must share it.
	Secret []byte
	// Clock is when an order is received.
	Clock    func() time.Time
	Observer Observer // nil: nothing observed
	// Logger is for what has no request: the day-key watch.
	Logger zerolog.Logger
	// RequestLog, when set, gives the log of the request ctx belongs to
	// (its id), for what happens while placing its order; it is called
	// only when there is something to log, so an order costs nothing for
	// it. Nil, or a nil answer, means Logger.
	RequestLog func(ctx context.Context) *zerolog.Logger
}

// Service places orders.
type Service struct {
	pub    Publisher
	claims Claims
	keys   DayKeys
	cutoff businessday.Cutoff
	clock  func() time.Time
	obs    Observer
	log    zerolog.Logger
	reqLog func(context.Context) *zerolog.Logger
	// idemKeyKey keys the hash an idempotency key is stored under, fpKey
	// the fingerprint of an order (both derived from the secret).
	idemKeyKey, fpKey []byte
	dayKey            dayKeyHealth
}

// New checks the configuration.
func New(cfg Config) (*Service, error) {
	if cfg.Publisher == nil || cfg.Claims == nil || cfg.Keys == nil || cfg.Clock == nil {
		return nil, errors.New("placeorder: Publisher, Claims, Keys and Clock are required")
	}
	if len(cfg.Secret) < MinSecretLen {
		return nil, fmt.Errorf("placeorder: secret must be at least %d bytes", MinSecretLen)
	}
	obs := cfg.Observer
	if obs == nil {
		obs = noObserver{}
	}
	return &Service{
		pub:        cfg.Publisher,
		claims:     cfg.Claims,
		keys:       cfg.Keys,
		cutoff:     cfg.Cutoff,
		clock:      cfg.Clock,
		obs:        obs,
		log:        cfg.Logger,
		reqLog:     cfg.RequestLog,
		idemKeyKey: deriveKey(cfg.Secret, "booklets/idempotency-key/v1"),
		fpKey:      deriveKey(cfg.Secret, "booklets/order-fingerprint/v1"),
	}, nil
}

type noObserver struct{}

func (noObserver) Published(time.Duration, bool, error) {}
func (noObserver) DayKeyUnavailable(bool)               {}

// deriveKey gives each use of the secret its own 32-byte key. The purposes
// are those the web adapter used before this package existed: a record
// written by an older replica must still be recognised.
func deriveKey(secret []byte, purpose string) []byte {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(purpose))
	return mac.Sum(nil)
}

// Placed is an accepted order.
type Placed struct {
	Reference reference.Reference
	// Duplicate: the order was stored before (an idempotent retry);
	// nothing new was.
	Duplicate bool
}

// Ready reports whether an order could be published now.
func (s *Service) Ready(ctx context.Context) error { return s.pub.Ready(ctx) }

// Place publishes a validated order and returns its reference once the
// stream has acknowledged it. With an idempotency key, a retry gets the
// same reference and one order is stored, and the key cannot be reused for
// another order (placeKeyed, idempotency.go).
func (s *Service) Place(ctx context.Context, v order.Validated, idemKey string) (Placed, error) {
	if idemKey != "" {
		return s.placeKeyed(ctx, v, idemKey)
	}
	id, err := uuid.NewV7()
	if err != nil {
		return Placed{}, fmt.Errorf("new order id: %w", err)
	}
	o := order.Order{ID: id.String(), Reference: reference.New(), ReceivedAt: s.clock().UTC(),
		Area: v.Area, Formats: v.Formats, Languages: v.Languages, Personal: v.Personal}
	dup, err := s.publish(ctx, o)
	if err != nil {
		return Placed{}, err
	}
	return Placed{Reference: o.Reference, Duplicate: dup}, nil
}

// publish seals an order under its business day's key and publishes it,
// with its id as the message id (a republished order is stored once).
func (s *Service) publish(ctx context.Context, o order.Order) (duplicate bool, err error) {
	// Sealed here, before anything leaves the process: NATS and everything
	// after it only ever hold ciphertext.
	day := s.cutoff.DateOf(o.ReceivedAt)
	key, err := s.keys.GetOrCreate(ctx, day)
	if err != nil {
		return false, s.noDayKey(ctx, day, o.Reference, err)
	}
	so, err := order.Seal(o, day, key)
	if err != nil {
		return false, err // names the reference and the step already
	}
	start := time.Now()
	pub, err := s.pub.Publish(ctx, so, o.ID)
	s.obs.Published(time.Since(start), pub.Duplicate, err)
	if err != nil {
		return false, err // names the reference and the step already
	}
	return pub.Duplicate, nil
}

// logger is the log of the request ctx belongs to, if known, or the
// service's own.
func (s *Service) logger(ctx context.Context) *zerolog.Logger {
	if s.reqLog != nil {
		if l := s.reqLog(ctx); l != nil {
			return l
		}
	}
	return &s.log
}
