package public

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"booklets/pkg/adapter/jetstream"
	"booklets/pkg/domain/order"
	"booklets/pkg/domain/reference"
)

// An Idempotency-Key (the API's header, or the form's own key) names one
// order. The first request made with a key claims it in the stream's
// idempotency bucket (stream.Claim), shared by every replica, with the
// fingerprint of its order; a later request with the key is then:
//   - the same order (same fingerprint), already acknowledged: answered
//     with the first order's reference, and nothing is published;
//   - the same order, not yet acknowledged (the first attempt failed or is
//     in flight): the very same order (id, reference, received time) is
//     published again, which JetStream and the store each keep once;
//     unless the order's business day has ended since, as its batch may
//     be assembled without it: then the key is refused (errKeyStale);
//   - another order: refused (errKeyReused), never answered 201.
//
// The record expires NATS_DUPE_WINDOW after it was last written; a key
// used after that names a new order with a new id and reference, so that
// nothing a client reuses late can collide with an order already stored.

var (
	// errKeyReused: the key was first used for an order with other
	// content.
	errKeyReused = errors.New("idempotency key used for another order")
	// errKeyStale: the key's first request was never acknowledged, and its
	// business day has ended since.
	errKeyStale = errors.New("idempotency key of an unconfirmed order of an earlier day")
)

// fingerprint is a keyed hash of the normalised order: the same order,
// however its JSON or form was spelt, has the same fingerprint, and without
// the secret nobody can test a guess of a name or address against it.
func fingerprint(key []byte, v order.Validated) string {
	mac := hmac.New(sha256.New, key)
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
	p := v.Personal
	for _, s := range []string{p.Name, p.AddressLine1, p.AddressLine2, p.Town, p.Postcode} {
		field(s)
	}
	return hex.EncodeToString(mac.Sum(nil))
}

// keyID is the bucket key of an idempotency key: a keyed hash, so that
// the raw key (which a client may consider private) is never stored.
func (s *Server) keyID(idemKey string) string {
	mac := hmac.New(sha256.New, s.idemKeyKey)
	mac.Write([]byte(idemKey))
	return "k" + hex.EncodeToString(mac.Sum(nil))
}

// placeKeyed places an order under an idempotency key (see above).
func (s *Server) placeKeyed(ctx context.Context, v order.Validated, idemKey string) (reference.Reference, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return "", fmt.Errorf("new order id: %w", err)
	}
	now := s.clock().UTC()
	kid, fp := s.keyID(idemKey), fingerprint(s.fpKey, v)
	c, created, err := s.orders.Claim(ctx, kid, jetstream.Claim{
		Fingerprint: fp, OrderID: id.String(), Reference: reference.New(), ReceivedAt: now,
	})
	if err != nil {
		return "", err
	}
	info := infoFrom(ctx)
	if !created {
		switch {
		case !hmac.Equal([]byte(c.Fingerprint), []byte(fp)):
			return "", fmt.Errorf("order %s: %w", c.Reference, errKeyReused)
		case c.Published:
			info.reference, info.duplicate = c.Reference.String(), true
			return c.Reference, nil
		case s.cutoff.DateOf(c.ReceivedAt) != s.cutoff.DateOf(now):
			return "", fmt.Errorf("order %s of %s: %w", c.Reference, s.cutoff.DateOf(c.ReceivedAt), errKeyStale)
		}
	}
	o := order.Order{ID: c.OrderID, Reference: c.Reference, ReceivedAt: c.ReceivedAt,
		Area: v.Area, Formats: v.Formats, Personal: v.Personal}
	if err := s.publish(ctx, o); err != nil {
		return "", err
	}
	if err := s.orders.MarkPublished(ctx, kid, c); err != nil {
		// The order is stored: the answer is still 201. A retry on the same
		// day republishes it (kept once); on a later day it is refused as
		// stale, never stored twice.
		info.logger(s.log).Warn().Err(err).Str("reference", c.Reference.String()).Msg("could not record the order's idempotency key as published")
	}
	return c.Reference, nil
}
