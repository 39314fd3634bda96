package jetstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	natsjs "github.com/nats-io/nats.go/jetstream"

	"booklets/pkg/domain/reference"
	"booklets/pkg/stage/placeorder"
)

// Idempotency keys are remembered in a JetStream key-value bucket beside
// the orders stream, so that every intake replica sees the first request
// made with a key: the stream's own de-duplication only drops a repeated
// message id, it cannot tell a retry from another order under the same key,
// and it forgets after its window. The bucket holds, per key, a Claim: no
// personal data, only a keyed hash of the order (its fingerprint), the
// order's id and reference, and when it was received. A record lives for
// the stream's DupeWindow (NATS_DUPE_WINDOW) after it was last written:
// that is how long a key is honoured.

// errClaimVanished: a record that made a Create fail was gone (expired)
// by the time it was read, so the key is free again: Claim tries again.
var errClaimVanished = errors.New("idempotency record vanished while read")

// IdempotencyBucket is the name of the key-value bucket of a stream's
// idempotency keys (JetStream keeps it in the stream "KV_" + the name).
func IdempotencyBucket(cfg Config) string { return cfg.Stream + "_IDEMPOTENCY" }

// claimRecord is a placeorder.Claim as the bucket stores it. It carries no
// personal data. The field names are the stored format: a record written
// by an older replica must still be read.
type claimRecord struct {
	Fingerprint string              `json:"fp"`
	OrderID     string              `json:"id"`
	Reference   reference.Reference `json:"ref"`
	ReceivedAt  time.Time           `json:"at"`
	Published   bool                `json:"pub,omitempty"`
}

func recordOf(c placeorder.Claim) claimRecord {
	return claimRecord{Fingerprint: c.Fingerprint, OrderID: c.OrderID, Reference: c.Reference,
		ReceivedAt: c.ReceivedAt, Published: c.Published}
}

func (r claimRecord) claim(revision uint64) placeorder.Claim {
	return placeorder.Claim{Fingerprint: r.Fingerprint, OrderID: r.OrderID, Reference: r.Reference,
		ReceivedAt: r.ReceivedAt, Published: r.Published, Revision: revision}
}

// idempotencyConfig is the bucket's configuration. History 1: only the
// latest state of a record matters. TTL: a record expires DupeWindow after
// it was last written.
func (o *Orders) idempotencyConfig() natsjs.KeyValueConfig {
	return natsjs.KeyValueConfig{
		Bucket:      IdempotencyBucket(o.cfg),
		Description: "Idempotency-Key records of the booklets intake (keyed hashes, no personal data)",
		History:     1,
		TTL:         o.cfg.DupeWindow,
		Storage:     natsjs.FileStorage,
		Replicas:    o.cfg.Replicas,
	}
}

// EnsureIdempotency creates the idempotency bucket, or updates it to the
// configuration (replicas, TTL). The intake calls it at start-up; Claim
// makes the bucket itself if it is missing.
func (o *Orders) EnsureIdempotency(ctx context.Context) error {
	_, err := o.idempotency(ctx)
	return err
}

// idempotency returns the bucket, creating it the first time.
func (o *Orders) idempotency(ctx context.Context) (natsjs.KeyValue, error) {
	if kv := o.kv.Load(); kv != nil {
		return *kv, nil
	}
	kv, err := o.js.CreateOrUpdateKeyValue(ctx, o.idempotencyConfig())
	if err != nil {
		return nil, fmt.Errorf("%w: idempotency bucket %s: %v", ErrUnavailable, IdempotencyBucket(o.cfg), err)
	}
	o.kv.Store(&kv)
	return kv, nil
}

// idempotencyReady reports whether the bucket exists.
func (o *Orders) idempotencyReady(ctx context.Context) error {
	if _, err := o.js.KeyValue(ctx, IdempotencyBucket(o.cfg)); err != nil {
		return fmt.Errorf("%w: idempotency bucket %s: %v", ErrUnavailable, IdempotencyBucket(o.cfg), err)
	}
	return nil
}

// Claim records c as the first request made with an idempotency key, or,
// if a record for the key exists, returns that record and created false
// (placeorder.Claims).
// Creating is atomic across every replica (a key-value Create), so of two
// requests racing with the same key exactly one creates the record. id is
// the caller's keyed hash of the idempotency key (the raw key is never
// stored); it must be a valid key-value key (letters, digits, '-', '_').
func (o *Orders) Claim(ctx context.Context, id string, c placeorder.Claim) (placeorder.Claim, bool, error) {
	kv, err := o.idempotency(ctx)
	if err != nil {
		return placeorder.Claim{}, false, err
	}
	data, err := json.Marshal(recordOf(c))
	if err != nil {
		return placeorder.Claim{}, false, fmt.Errorf("idempotency record of order %s: %w", c.Reference, err)
	}
	// A record can expire between a failed Create and the Get: then the
	// key is free again and the Create is tried once more.
	for attempt := 0; attempt < 3; attempt++ {
		rev, err := kv.Create(ctx, id, data)
		if err == nil {
			c.Revision = rev
			return c, true, nil
		}
		if !errors.Is(err, natsjs.ErrKeyExists) {
			return placeorder.Claim{}, false, fmt.Errorf("%w: idempotency record: %v", ErrUnavailable, err)
		}
		got, err := o.readClaim(ctx, kv, id)
		if errors.Is(err, errClaimVanished) {
			continue
		}
		return got, false, err
	}
	return placeorder.Claim{}, false, fmt.Errorf("%w: idempotency record: %v", ErrUnavailable, errClaimVanished)
}

func (o *Orders) readClaim(ctx context.Context, kv natsjs.KeyValue, id string) (placeorder.Claim, error) {
	e, err := kv.Get(ctx, id)
	if errors.Is(err, natsjs.ErrKeyNotFound) || errors.Is(err, natsjs.ErrKeyDeleted) {
		return placeorder.Claim{}, errClaimVanished
	}
	if err != nil {
		return placeorder.Claim{}, fmt.Errorf("%w: idempotency record: %v", ErrUnavailable, err)
	}
	var r claimRecord
	if err := json.Unmarshal(e.Value(), &r); err != nil || r.OrderID == "" || r.Fingerprint == "" {
		// Only this code writes the bucket; an unreadable record is a fault,
		// not something a retry can mend.
		return placeorder.Claim{}, fmt.Errorf("idempotency record at revision %d is not readable", e.Revision())
	}
	return r.claim(e.Revision()), nil
}

// MarkPublished records that the claim's order was acknowledged by
// JetStream, so that a later retry only returns its reference. It changes
// the record only if it is still at c.Revision: if another replica marked
// it first, there is nothing to do.
func (o *Orders) MarkPublished(ctx context.Context, id string, c placeorder.Claim) error {
	if c.Published {
		return nil
	}
	kv, err := o.idempotency(ctx)
	if err != nil {
		return err
	}
	c.Published = true
	data, err := json.Marshal(recordOf(c))
	if err != nil {
		return fmt.Errorf("idempotency record of order %s: %w", c.Reference, err)
	}
	if _, err := kv.Update(ctx, id, data, c.Revision); err != nil && !errors.Is(err, natsjs.ErrKeyRevisionMismatch) {
		return fmt.Errorf("mark order %s published: %w: %v", c.Reference, ErrUnavailable, err)
	}
	return nil
}
