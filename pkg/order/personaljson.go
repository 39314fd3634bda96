package order

import (
	"bytes"
	"encoding/json"
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
	*p = Personal{}
	return json.Unmarshal(b, p)
}

// personalKeys are Personal's JSON keys in the order json.Marshal writes
// them, each with its opening and the following separator.
var personalKeys = [...]string{`{"name":"`, `","address_line_1":"`, `","address_line_2":"`, `","town":"`, `","postcode":"`}

func fastPersonal(b []byte, p *Personal) bool {
	fields := [...]*string{&p.Name, &p.AddressLine1, &p.AddressLine2, &p.Town, &p.Postcode}
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
		for _, c := range v {
			if c < 0x20 || c == '\\' {
				return false // an escape or a control character: the slow path
			}
		}
		if !utf8.Valid(v) {
			return false // json.Unmarshal would replace invalid bytes
		}
		*fields[i] = string(v)
		b = b[end:]
	}
	return string(b) == `"}`
}
