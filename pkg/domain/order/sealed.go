package order

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"booklets/pkg/domain/businessday"
	"booklets/pkg/domain/reference"
	"booklets/pkg/domain/seal"
)

// SealedOrder is an order as NATS and PostgreSQL hold it: the facts in
// clear, the personal part sealed under the day key of its business date.
// Only the batcher, while writing the batch file, ever opens it.
type SealedOrder struct {
	ID           string
	Reference    reference.Reference
	ReceivedAt   time.Time
	BusinessDate businessday.Date
	Area         string
	Formats      []Format
	Languages    []Language // never empty once sealed or read: English if none was given
	Personal     seal.Sealed
}

// Seal seals the personal part of o under key, the day key of the order's
// business date. The order id and reference are bound to the ciphertext,
// so it cannot be moved to another order.
func Seal(o Order, day businessday.Date, key *seal.DayKey) (SealedOrder, error) {
	if key.Date() != day.String() {
		return SealedOrder{}, fmt.Errorf("seal order %s: key of %s used for business date %s", o.Reference, key.Date(), day)
	}
	plain, err := json.Marshal(o.Personal)
	if err != nil {
		return SealedOrder{}, fmt.Errorf("seal order %s: encode personal part: %w", o.Reference, err)
	}
	s, err := key.Seal(plain, seal.OrderAAD(o.ID, o.Reference.String()))
	clear(plain)
	if err != nil {
		return SealedOrder{}, fmt.Errorf("seal order %s: %w", o.Reference, err)
	}
	return SealedOrder{
		ID:           o.ID,
		Reference:    o.Reference,
		ReceivedAt:   o.ReceivedAt,
		BusinessDate: day,
		Area:         o.Area,
		Formats:      o.Formats,
		Languages:    languagesOrDefault(o.Languages),
		Personal:     s,
	}, nil
}

// OpenPersonal opens a sealed personal part of the order with the id and
// reference given. Errors wrap seal.ErrTampered, seal.ErrWrongDayKey or
// seal.ErrMalformed and never include the content.
func OpenPersonal(key *seal.DayKey, orderID string, ref reference.Reference, s seal.Sealed) (Personal, error) {
	plain, err := key.Open(s, seal.OrderAAD(orderID, ref.String()))
	if err != nil {
		return Personal{}, fmt.Errorf("open order %s: %w", ref, err)
	}
	defer clear(plain)
	var p Personal
	if err := unmarshalPersonal(plain, &p); err != nil {
		return Personal{}, fmt.Errorf("open order %s: %w: personal part is not JSON", ref, seal.ErrMalformed)
	}
	return p, nil
}

// PersonalOpener opens the personal parts of many orders one after the
// other, stored in the binary encoding (seal.ParseBinary): what OpenPersonal
// does, with the same errors, but reusing its buffers for the associated
// data and the plaintext, which it clears after each order as OpenPersonal
// does. The zero value is ready; it must not be used by two goroutines at
// once. It is the batcher's end-of-day loop (a million orders).
type PersonalOpener struct {
	aad []byte
	buf seal.OpenBuffer
}

// Open opens one order's personal part, as OpenPersonal.
func (o *PersonalOpener) Open(key *seal.DayKey, orderID string, ref reference.Reference, s seal.SealedBytes) (Personal, error) {
	o.aad = seal.AppendOrderAAD(o.aad[:0], orderID, ref.String())
	plain, err := key.OpenBytes(&o.buf, s, o.aad)
	if err != nil {
		return Personal{}, fmt.Errorf("open order %s: %w", ref, err)
	}
	defer clear(plain)
	var p Personal
	if err := unmarshalPersonal(plain, &p); err != nil {
		return Personal{}, fmt.Errorf("open order %s: %w: personal part is not JSON", ref, seal.ErrMalformed)
	}
	return p, nil
}

// Open opens the personal part of a sealed order.
func (s SealedOrder) Open(key *seal.DayKey) (Personal, error) {
	return OpenPersonal(key, s.ID, s.Reference, s.Personal)
}

// SealedMessageVersion is the version of the sealed order message.
const SealedMessageVersion = 2

// languagesOrDefault is ls, or English when ls is empty: an order made
// without languages (by code written before issue 18, or a test) is for an
// English booklet, as every order was before.
func languagesOrDefault(ls []Language) []Language {
	if len(ls) == 0 {
		return []Language{English}
	}
	return ls
}

// sealedMessage is the JSON encoding of a sealed order on the stream
// (docs/architecture.md).
//
// Languages was added within version 2 (issue 18), not as version 3: a
// message written before it has no "languages" and is read as English,
// which every booklet then was, so the messages on the stream at an
// upgrade are read as they were meant. Every message written since names
// its languages. A batcher older than the field would read a Welsh order
// as English: deploy the batcher before the intake.
type sealedMessage struct {
	Version      int          `json:"version"`
	OrderID      string       `json:"order_id"`
	Reference    string       `json:"reference"`
	ReceivedAt   time.Time    `json:"received_at"`
	BusinessDate string       `json:"business_date"`
	Area         string       `json:"area"`
	Formats      []Format     `json:"formats"`
	Languages    []Language   `json:"languages"`
	Personal     *seal.Sealed `json:"personal"`
}

// MarshalSealed encodes a sealed order as a stream message.
func MarshalSealed(o SealedOrder) ([]byte, error) {
	b, err := json.Marshal(sealedMessage{
		Version:      SealedMessageVersion,
		OrderID:      o.ID,
		Reference:    o.Reference.String(),
		ReceivedAt:   o.ReceivedAt.UTC(),
		BusinessDate: o.BusinessDate.String(),
		Area:         o.Area,
		Formats:      o.Formats,
		Languages:    languagesOrDefault(o.Languages),
		Personal:     &o.Personal,
	})
	if err != nil {
		return nil, fmt.Errorf("encode order %s: %w", o.Reference, err)
	}
	return b, nil
}

// UnmarshalSealed decodes and checks a sealed stream message. It does not
// open the personal part (that needs the day key), but checks that it is
// a well-formed sealed value under the message's business date.
func UnmarshalSealed(b []byte) (SealedOrder, error) {
	var m sealedMessage
	if err := json.Unmarshal(b, &m); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return SealedOrder{}, fmt.Errorf("%w: not JSON (offset %d)", ErrBadMessage, syn.Offset)
		}
		return SealedOrder{}, fmt.Errorf("%w: wrong JSON shape", ErrBadMessage)
	}
	bad := func(reason string) (SealedOrder, error) {
		return SealedOrder{}, fmt.Errorf("%w: %s", ErrBadMessage, reason)
	}
	if m.Version != SealedMessageVersion {
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
	day, err := businessday.ParseDate(m.BusinessDate)
	if err != nil {
		return bad("invalid business_date")
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
	switch {
	case m.Languages == nil:
		// Written before issue 18 (see sealedMessage): English.
		m.Languages = []Language{English}
	case len(m.Languages) == 0:
		return bad("no languages") // "languages": [] is written by no version
	}
	for _, l := range m.Languages {
		if !l.Valid() {
			return bad("unknown language")
		}
	}
	if m.Personal == nil || len(m.Personal.Ciphertext) == 0 {
		return bad("no sealed personal part")
	}
	if m.Personal.KeyID != day.String() {
		return bad("personal part sealed under another day's key")
	}
	return SealedOrder{
		ID:           m.OrderID,
		Reference:    ref,
		ReceivedAt:   m.ReceivedAt,
		BusinessDate: day,
		Area:         m.Area,
		Formats:      m.Formats,
		Languages:    m.Languages,
		Personal:     *m.Personal,
	}, nil
}
