// Package batcher is the batcher's application: the consumer that stores
// orders from the stream, and SendBatch, the end-of-day job that sends a
// day's orders to the print partner and then deletes their personal data.
// It ties the adapters (store, partner, stream) and the domain (batchfile,
// businessday, workdays) together; services/batcher/main.go only wires it.
package batcher

import (
	"context"
	"fmt"

	"booklets/pkg/businessday"
	"booklets/pkg/order"
	"booklets/pkg/reference"
	"booklets/pkg/seal"
)

// DayKeys gives the existing key of a business date (keystore.Store). It
// never creates one: the batcher only opens what the intake sealed.
type DayKeys interface {
	Get(ctx context.Context, day businessday.Date) (*seal.DayKey, error)
}

// PersonalCodec opens the sealed personal part stored in order_personal.
// The order id and reference are bound to the ciphertext (seal.OrderAAD),
// so a value moved to another order does not open.
type PersonalCodec interface {
	Decode(ctx context.Context, orderID string, ref reference.Reference, date businessday.Date, data []byte) (order.Personal, error)
}

// SealedCodec opens personal parts with the day keys. Errors wrap
// seal.ErrTampered, seal.ErrKeyDestroyed, seal.ErrUnknownKEK or
// seal.ErrMalformed and name only the order's reference.
type SealedCodec struct{ Keys DayKeys }

// Decode implements PersonalCodec.
func (c SealedCodec) Decode(ctx context.Context, orderID string, ref reference.Reference, date businessday.Date, data []byte) (order.Personal, error) {
	var s seal.Sealed
	if err := s.UnmarshalBinary(data); err != nil {
		return order.Personal{}, fmt.Errorf("open order %s: %w", ref, err)
	}
	if s.KeyID != date.String() {
		return order.Personal{}, fmt.Errorf("open order %s: %w", ref, seal.ErrWrongDayKey)
	}
	key, err := c.Keys.Get(ctx, date)
	if err != nil {
		return order.Personal{}, fmt.Errorf("open order %s: %w", ref, err)
	}
	return order.OpenPersonal(key, orderID, ref, s)
}
