package batchfile

import "github.com/rs/zerolog"

// MarshalZerologObject logs the entry's facts, which are not personal, and
// only the shape of its personal part (see order.Personal): without it
// zerolog would log an Entry with encoding/json, name and address included.
// fmt needs nothing here: it prints the Personal field through
// order.Personal's own redacting methods.
func (e Entry) MarshalZerologObject(ev *zerolog.Event) {
	formats := make([]string, len(e.Formats))
	for i, f := range e.Formats {
		formats[i] = string(f)
	}
	langs := make([]string, len(e.Languages))
	for i, l := range e.Languages {
		langs[i] = string(l)
	}
	ev.Str("reference", e.Reference).
		Str("area_code", e.AreaCode).
		Str("area_name", e.AreaName).
		Strs("formats", formats).
		Strs("languages", langs).
		Object("personal", e.Personal)
}
