package batchfile_test

import (
	"testing"

	"booklets/pkg/domain/batchfile"
	"booklets/pkg/domain/order"
	"booklets/pkg/testkit/redaction"
)

func TestEntryIsNeverPrintedOrLoggedWithItsPersonalData(t *testing.T) {
	const marker = "MARKER-Zq7"
	e := batchfile.Entry{
		Reference: "K7QM-X9PA-C4T", AreaCode: "kent", AreaName: "Kent", Formats: []order.Format{order.Braille},
		Personal: order.Personal{Name: "Ann " + marker, AddressLine1: marker, AddressLine2: marker, Town: marker, Postcode: marker},
	}
	redaction.NoLeak(t, e, marker)
}
