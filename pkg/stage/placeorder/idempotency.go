package placeorder

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"booklets/pkg/domain/order"
	"booklets/pkg/domain/reference"
)

// An Idempotency-Key (the API's header, or the form's own key) names one
// order. The first request made with a key claims it (Claims, shared by
// every replica) with the fingerprint of its order; a later request with
// the key is then:
//   - the same order (same fingerprint), already acknowledged: answered
//     with the first order's reference, and nothing is published;
//   - the same order, not yet acknowledged (the first attempt failed or is
//     in flight): the very same order (id, reference, received time) is
//     published again, which JetStream and the store each keep once;
//     unless the order's business day has ended since, as its batch may
//     be assembled without it: then the key is refused (ErrKeyStale);
//   - another order: refused (ErrKeyReused), never accepted.
//
// The record expires NATS_DUPE_WINDOW after it was last written; a key
// used after that names a new order with a new id and reference, so that
// nothing a client reuses late can collide with an order already stored.

var (
	// ErrKeyReused: the key was first used for an order with other
	// content.
	ErrKeyReused = errors.New("idempotency key used for another order")
	// ErrKeyStale: the key's first request was never acknowledged, and its
	// business day has ended since.
	ErrKeyStale = errors.New("idempotency key of an unconfirmed order of an earlier day")
)

// Claim is what is remembered of the first request made with an
// idempotency key. It carries no personal data.
type Claim struct {
	// Fingerprint is a keyed hash (HMAC) of the normalised order
	// (Service.Fingerprint); a request with the same key and another
	// fingerprint is another order.
	Fingerprint string
	// OrderID, Reference and ReceivedAt are those of the order made for
	// the key: a retry publishes the very same order (same id, so the
	// stream and the store both keep it once) or only returns its
	// reference.
	OrderID    string
	Reference  reference.Reference
	ReceivedAt time.Time
	// Published is set once the stream has acknowledged the order. Until
	// then the first attempt's outcome is unknown: it failed, or it is
	// still in flight.
	Published bool
	// Revision is the record's version in the Claims store, for
	// MarkPublished; the store sets it.
	Revision uint64
}

// Fingerprint is a keyed hash of the normalised order: the same order,
// however its JSON or form was spelt, has the same fingerprint, and without
// the secret nobody can test a guess of a name or address against it. The
// form uses it to bind its idempotency key to the answers it was made for.
func (s *Service) Fingerprint(v order.Validated) string {
	mac := hmac.New(sha256.New, s.fpKey)
	var n [4]byte
	field := func(s string) {
		binary.BigEndian.PutUint32(n[:], uint32(len(s)))
		mac.Write(n[:])
		mac.Write([]byte(s))
	}
	field(v.Area)
	binary.BigEndian.PutUint32(n[:], uint32(len(v.Formats)))
	mac.Write(n[:])
	for _, f := range v.Formats { // in catalogue order (Validate)
		field(string(f))
	}
	// The languages only when they are not English alone, what every order
	// was before issue 18: an English order's fingerprint is the one it had
	// then, so a retry across the upgrade is still the same order, and an
	// order in Welsh is not the same order as one in English.
	if len(v.Languages) != 1 || v.Languages[0] != order.English {
		binary.BigEndian.PutUint32(n[:], uint32(len(v.Languages)))
		mac.Write(n[:])
		for _, l := range v.Languages { // in catalogue order (Validate)
			field(string(l))
		}
	}
	p := v.Personal
	for _, s := range []string{p.Name, p.AddressLine1, p.AddressLine2, p.Town, p.Postcode} {
		field(s)
	}
	return hex.EncodeToString(mac.Sum(nil))
}

// KeyID is the Claims id of an idempotency key: a keyed hash, so that the
// raw key (which a client may consider private) is never stored. It is a
// valid JetStream key-value key.
func (s *Service) KeyID(idemKey string) string {
	mac := hmac.New(sha256.New, s.idemKeyKey)
	mac.Write([]byte(idemKey))
	return "k" + hex.EncodeToString(mac.Sum(nil))
}

// placeKeyed places an order under an idempotency key (see above).
func (s *Service) placeKeyed(ctx context.Context, v order.Validated, idemKey string) (Placed, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return Placed{}, fmt.Errorf("new order id: %w", err)
	}
	now := s.clock().UTC()
	kid, fp := s.KeyID(idemKey), s.Fingerprint(v)
	c, created, err := s.claims.Claim(ctx, kid, Claim{
		Fingerprint: fp, OrderID: id.String(), Reference: reference.New(), ReceivedAt: now,
	})
	if err != nil {
		return Placed{}, err
	}
	if !created {
		switch {
		case !hmac.Equal([]byte(c.Fingerprint), []byte(fp)):
			return Placed{}, fmt.Errorf("order %s: %w", c.Reference, ErrKeyReused)
		case c.Published:
			return Placed{Reference: c.Reference, Duplicate: true}, nil
		case s.cutoff.DateOf(c.ReceivedAt) != s.cutoff.DateOf(now):
			return Placed{}, fmt.Errorf("order %s of %s: %w", c.Reference, s.cutoff.DateOf(c.ReceivedAt), ErrKeyStale)
		}
	}
	o := order.Order{ID: c.OrderID, Reference: c.Reference, ReceivedAt: c.ReceivedAt,
		Area: v.Area, Formats: v.Formats, Languages: v.Languages, Personal: v.Personal}
	dup, err := s.publish(ctx, o)
	if err != nil {
		return Placed{}, err
	}
	if err := s.claims.MarkPublished(ctx, kid, c); err != nil {
		// The order is stored: it is still accepted. A retry on the same
		// day republishes it (kept once); on a later day it is refused as
		// stale, never stored twice.
		s.logger(ctx).Warn().Err(err).Str("reference", c.Reference.String()).Msg("could not record the order's idempotency key as published")
	}
	return Placed{Reference: c.Reference, Duplicate: dup}, nil
}
