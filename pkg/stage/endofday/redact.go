package endofday

import "github.com/rs/zerolog"

// MarshalZerologObject logs an opened order's facts and, of its personal
// part, only which fields are filled in: zerolog would otherwise log Held
// as JSON, name and address included. fmt is already safe: order.Personal
// prints as redacted.
func (h Held) MarshalZerologObject(e *zerolog.Event) {
	e.Str("reference", h.Order.Reference).Str("business_date", h.Order.BusinessDate.String()).
		Str("batch_id", h.Order.BatchID).Bool("erased", h.Order.Erased).Object("personal", h.Personal)
}
