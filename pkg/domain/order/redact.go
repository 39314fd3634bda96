package order

import (
	"fmt"
	"io"

	"github.com/rs/zerolog"
)

// Personal data never reaches a log, an error or a metric by accident:
// every type here that holds a name or an address prints as "redacted"
// through fmt (String for %v and %s, GoString for %#v, and Format for every
// other verb, so %x or %q cannot print the bytes either), and logs through
// zerolog as an object that says which fields are filled in, never what is
// in them. zerolog would otherwise log a value with encoding/json, fields
// and all (Personal's JSON is what is sealed, so it stays as it is).
//
// Types that hold Personal (Order, Validated) need no Format of their own:
// fmt prints their Personal field through Personal's. They still need a
// zerolog marshaler, which also keeps what is safe to log (id, reference,
// area, formats, languages).

const redacted = "redacted"

func (p Personal) String() string             { return "order.Personal{" + redacted + "}" }
func (p Personal) GoString() string           { return p.String() }
func (p Personal) Format(f fmt.State, _ rune) { io.WriteString(f, p.String()) }
func (p Personal) MarshalZerologObject(e *zerolog.Event) {
	e.Bool("has_name", p.Name != "").
		Bool("has_address_line_1", p.AddressLine1 != "").
		Bool("has_address_line_2", p.AddressLine2 != "").
		Bool("has_town", p.Town != "").
		Bool("has_postcode", p.Postcode != "")
}

// Draft is what a person typed, before validation: every field may hold
// personal data (a name typed in the area field, say), so none is logged.
func (d Draft) String() string             { return "order.Draft{" + redacted + "}" }
func (d Draft) GoString() string           { return d.String() }
func (d Draft) Format(f fmt.State, _ rune) { io.WriteString(f, d.String()) }
func (d Draft) MarshalZerologObject(e *zerolog.Event) {
	e.Bool("has_area", d.Area != "").
		Int("formats", len(d.Formats)).
		Int("languages", len(d.Languages)).
		Bool("has_name", d.Name != "").
		Bool("has_address_line_1", d.AddressLine1 != "").
		Bool("has_address_line_2", d.AddressLine2 != "").
		Bool("has_town", d.Town != "").
		Bool("has_postcode", d.Postcode != "")
}

// MarshalZerologObject logs the validated order's area, formats and
// languages (from the catalogue, so not personal) and only the shape of
// its Personal part.
func (v Validated) MarshalZerologObject(e *zerolog.Event) {
	e.Str("area", v.Area).Strs("formats", formatStrings(v.Formats)).Strs("languages", languageStrings(v.Languages)).
		Object("personal", v.Personal)
}

// MarshalZerologObject logs the order's facts, which are not personal, and
// only the shape of its Personal part.
func (o Order) MarshalZerologObject(e *zerolog.Event) {
	e.Str("id", o.ID).
		Str("reference", o.Reference.String()).
		Time("received_at", o.ReceivedAt).
		Str("area", o.Area).
		Strs("formats", formatStrings(o.Formats)).
		Strs("languages", languageStrings(o.Languages)).
		Object("personal", o.Personal)
}

func formatStrings(fs []Format) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = string(f)
	}
	return out
}

func languageStrings(ls []Language) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = string(l)
	}
	return out
}
