// Package batcher is the batcher's application: the consumer that stores
// orders from the stream, and SendBatch, the end-of-day job that sends a
// day's orders to the print partner and then deletes their personal data.
// It ties the adapters (store, partner, stream) and the domain (batchfile,
// businessday, workdays) together; services/batcher/main.go only wires it.
package batcher

import (
	"context"
	"encoding/json"
	"fmt"

	"booklets/pkg/businessday"
	"booklets/pkg/order"
)

// PersonalCodec turns the personal part of an order into the opaque value
// stored in order_personal and back. Today it is plain JSON (JSONCodec);
// the privacy work plugs in one that seals it with the business day's key,
// which is why the order id and business date are passed.
type PersonalCodec interface {
	Encode(ctx context.Context, orderID string, date businessday.Date, p order.Personal) ([]byte, error)
	Decode(ctx context.Context, orderID string, date businessday.Date, data []byte) (order.Personal, error)
}

// JSONCodec stores the personal part as the JSON of order.Personal.
type JSONCodec struct{}

// Encode implements PersonalCodec.
func (JSONCodec) Encode(_ context.Context, orderID string, _ businessday.Date, p order.Personal) ([]byte, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encode personal part of order %s: %w", orderID, err)
	}
	return b, nil
}

// Decode implements PersonalCodec.
func (JSONCodec) Decode(_ context.Context, orderID string, _ businessday.Date, data []byte) (order.Personal, error) {
	var p order.Personal
	if err := json.Unmarshal(data, &p); err != nil {
		// json's error may quote the content: say only what failed.
		return order.Personal{}, fmt.Errorf("decode personal part of order %s: not valid JSON", orderID)
	}
	return p, nil
}
