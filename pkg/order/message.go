package order

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"booklets/pkg/postcode"
	"booklets/pkg/reference"
)

// MessageVersion is the version of the order message this code writes.
const MessageVersion = 1

// ErrBadMessage wraps every reason a message cannot be turned into an order.
// Its text never includes the message's personal content.
var ErrBadMessage = errors.New("bad order message")

// message is the JSON encoding of an order on the stream (version 1; see
// docs/architecture.md). The personal part is one separate object so that it
// can be sealed without changing anything else.
type message struct {
	Version    int       `json:"version"`
	OrderID    string    `json:"order_id"`
	Reference  string    `json:"reference"`
	ReceivedAt time.Time `json:"received_at"`
	Area       string    `json:"area"`
	Formats    []Format  `json:"formats"`
	Personal   *Personal `json:"personal"`
}

// Marshal encodes an order as a stream message.
func Marshal(o Order) ([]byte, error) {
	p := o.Personal
	b, err := json.Marshal(message{
		Version:    MessageVersion,
		OrderID:    o.ID,
		Reference:  o.Reference.String(),
		ReceivedAt: o.ReceivedAt.UTC(),
		Area:       o.Area,
		Formats:    o.Formats,
		Personal:   &p,
	})
	if err != nil {
		return nil, fmt.Errorf("encode order %s: %w", o.Reference, err)
	}
	return b, nil
}

// Unmarshal decodes and checks a stream message. Any problem is reported
// as ErrBadMessage with the reason, never with the content.
func Unmarshal(b []byte) (Order, error) {
	var m message
	if err := json.Unmarshal(b, &m); err != nil {
		// json's errors can quote the offending value: report only the kind.
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return Order{}, fmt.Errorf("%w: not JSON (offset %d)", ErrBadMessage, syn.Offset)
		}
		return Order{}, fmt.Errorf("%w: wrong JSON shape", ErrBadMessage)
	}
	bad := func(reason string) (Order, error) {
		return Order{}, fmt.Errorf("%w: %s", ErrBadMessage, reason)
	}
	if m.Version != MessageVersion {
		return bad(fmt.Sprintf("unsupported version %d", m.Version))
	}
	if m.OrderID == "" {
		return bad("no order_id")
	}
	ref, err := reference.Parse(m.Reference)
	if err != nil {
		return bad("invalid reference")
	}
	if m.ReceivedAt.IsZero() {
		return bad("no received_at")
	}
	if m.Area == "" {
		return bad("no area")
	}
	if len(m.Formats) == 0 {
		return bad("no formats")
	}
	for _, f := range m.Formats {
		if !f.Valid() {
			return bad("unknown format")
		}
	}
	if m.Personal == nil {
		return bad("no personal part")
	}
	p := *m.Personal
	if p.Name == "" || p.AddressLine1 == "" || p.Town == "" {
		return bad("personal part incomplete")
	}
	if _, err := postcode.Normalise(p.Postcode); err != nil {
		return bad("invalid postcode")
	}
	return Order{
		ID:         m.OrderID,
		Reference:  ref,
		ReceivedAt: m.ReceivedAt,
		Area:       m.Area,
		Formats:    m.Formats,
		Personal:   p,
	}, nil
}
