package order

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// unmarshalPersonal decodes the JSON of a personal part, as json.Unmarshal
// into a Personal would. Opening a batch's personal parts is the batcher's
// hottest loop (a million orders at the end of a busy day), and
// encoding/json's reflection was a third of its CPU: the exact layout
// json.Marshal writes for Personal (its fields in order, strings without
// escapes) is read directly, and anything else (escapes, other spacing or
// order, unknown or missing fields) goes to json.Unmarshal, so the result
// is always the same.
func unmarshalPersonal(b []byte, p *Personal) error {
	if fastPersonal(b, p) {
		return nil
	}
	// Decoded into a variable of its own, which escapes to the heap, so
	// that the caller's p need not: p stays on the caller's stack on the
	// fast path (one allocation less per order).
	var v Personal
	if err := json.Unmarshal(b, &v); err != nil {
		*p = Personal{}
		return err
	}
	*p = v
	return nil
}

// personalKeys are Personal's JSON keys in the order json.Marshal writes
// them, each with its opening and the following separator.
var personalKeys = [...]string{`{"name":"`, `","address_line_1":"`, `","address_line_2":"`, `","town":"`, `","postcode":"`}

func fastPersonal(b []byte, p *Personal) bool {
	var values [len(personalKeys)][]byte
	n := 0
	for i, key := range personalKeys {
		if !bytes.HasPrefix(b, []byte(key)) {
			return false
		}
		b = b[len(key):]
		end := bytes.IndexByte(b, '"')
		if end < 0 {
			return false
		}
		v := b[:end]
		var all byte // every byte ORed: below 0x80 means ASCII, valid UTF-8
		for _, c := range v {
			if c < 0x20 || c == '\\' {
				return false // an escape or a control character: the slow path
			}
			all |= c
		}
		if all >= utf8.RuneSelf && !utf8.Valid(v) {
			return false // json.Unmarshal would replace invalid bytes
		}
		values[i], n = v, n+len(v)
		b = b[end:]
	}
	if string(b) != `"}` {
		return false
	}
	// One string holds the five values, and the fields are parts of it:
	// one allocation per order instead of five.
	var all strings.Builder
	all.Grow(n)
	for _, v := range values {
		all.Write(v)
	}
	s := all.String()
	for i, f := range [...]*string{&p.Name, &p.AddressLine1, &p.AddressLine2, &p.Town, &p.Postcode} {
		*f, s = s[:len(values[i])], s[len(values[i]):]
	}
	return true
}
