package endofday_test

import (
	"testing"

	"booklets/pkg/domain/order"
	"booklets/pkg/stage/endofday"
	"booklets/pkg/testkit/redaction"
)

func TestHeldIsRedacted(t *testing.T) {
	const marker = "MARKER-Zq7"
	redaction.NoLeak(t, endofday.Held{
		Order: endofday.HeldOrder{Reference: "K7QM-X9PA-C4T", Area: "staffordshire"},
		Personal: order.Personal{Name: "Ann " + marker, AddressLine1: "1 " + marker + " Road",
			Town: marker + "ton", Postcode: marker},
	}, marker)
}
