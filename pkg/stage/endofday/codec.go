package endofday

import (
	"context"
	"fmt"

	"booklets/pkg/domain/businessday"
	"booklets/pkg/domain/order"
	"booklets/pkg/domain/reference"
	"booklets/pkg/domain/seal"
)

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
	d := sealedDecoder{keys: c.Keys}
	return d.Decode(ctx, orderID, ref, date, data)
}

// decoderFor returns the codec one of write's openers uses for its orders,
// one after the other in that goroutine. For SealedCodec it is a
// sealedDecoder, which keeps what does not change from one order to the
// next; another codec is used as it is.
func decoderFor(c PersonalCodec) PersonalCodec {
	if sc, ok := c.(SealedCodec); ok {
		return &sealedDecoder{keys: sc.Keys}
	}
	return c
}

// sealedDecoder is SealedCodec for a run of orders in one goroutine, with
// the same results and errors: it keeps the last business date's key id
// and day key, and decodes and opens into buffers it reuses (the plaintext
// is cleared after each order). Per order, formatting the date, looking
// the key up (a mutex and a map shared by the openers), copying the sealed
// value and allocating the associated data and plaintext cost more than a
// third of opening it, at a million orders a batch.
type sealedDecoder struct {
	keys  DayKeys
	date  businessday.Date
	keyID string       // date.String(); "" before the first order
	key   *seal.DayKey // date's key; nil until it is needed
	open  order.PersonalOpener
}

// Decode implements PersonalCodec.
func (d *sealedDecoder) Decode(ctx context.Context, orderID string, ref reference.Reference, date businessday.Date, data []byte) (order.Personal, error) {
	s, err := seal.ParseBinary(data)
	if err != nil {
		return order.Personal{}, fmt.Errorf("open order %s: %w", ref, err)
	}
	if d.keyID == "" || date != d.date {
		d.date, d.keyID, d.key = date, date.String(), nil
	}
	if !s.HasKeyID(d.keyID) {
		return order.Personal{}, fmt.Errorf("open order %s: %w", ref, seal.ErrWrongDayKey)
	}
	if d.key == nil {
		// Errors are not kept: the first one stops the batch.
		key, err := d.keys.Get(ctx, date)
		if err != nil {
			return order.Personal{}, fmt.Errorf("open order %s: %w", ref, err)
		}
		d.key = key
	}
	return d.open.Open(d.key, orderID, ref, s)
}
