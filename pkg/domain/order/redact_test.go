package order_test

import (
	"testing"
	"time"

	"booklets/pkg/domain/order"
	"booklets/pkg/domain/reference"
	"booklets/pkg/testkit/redaction"
)

// marker is in every personal field: any of them printed is found.
const marker = "MARKER-Zq7"

func personal() order.Personal {
	return order.Personal{
		Name: "Ann " + marker, AddressLine1: "1 " + marker + " Road", AddressLine2: "Flat " + marker,
		Town: marker + "ton", Postcode: marker,
	}
}

func TestPersonalDataIsNeverPrintedOrLogged(t *testing.T) {
	p := personal()
	cases := map[string]any{
		"Personal": p,
		"Draft": order.Draft{Area: marker, Formats: []string{marker}, Name: p.Name, AddressLine1: p.AddressLine1,
			AddressLine2: p.AddressLine2, Town: p.Town, Postcode: p.Postcode},
		"Validated": order.Validated{Area: "kent", Formats: []order.Format{order.Braille}, Personal: p},
		"Order": order.Order{ID: "id-1", Reference: reference.Reference("K7QM-X9PA-C4T"), ReceivedAt: time.Now(),
			Area: "kent", Formats: []order.Format{order.Audio}, Personal: p},
	}
	for name, v := range cases {
		t.Run(name, func(t *testing.T) { redaction.NoLeak(t, v, marker) })
	}
}
