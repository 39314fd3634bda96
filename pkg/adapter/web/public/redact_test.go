package public

import (
	"testing"

	"booklets/pkg/domain/order"
	"booklets/pkg/stage/research"
	"booklets/pkg/testkit/redaction"
)

func TestFormDataIsNeverPrintedOrLogged(t *testing.T) {
	const marker = "marker-zq7"
	draft := order.Draft{Area: marker, Formats: []string{marker}, Name: marker, AddressLine1: marker,
		AddressLine2: marker, Town: marker, Postcode: marker}
	rd := researchData{Enabled: true, ConsentText: research.ConsentText, ConsentVersion: research.ConsentVersion,
		Draft: research.Draft{Name: marker, Email: marker + "@example.org", Consent: true}, Code: marker, Withdraw: marker + "@example.org"}
	cases := map[string]any{
		"formState":    formState{Draft: draft, Key: "k", KeyFor: "f", Expires: 1},
		"researchData": rd,
		"pageData":     pageData{Title: "Check your answers", Draft: draft, Research: rd},
	}
	for name, v := range cases {
		t.Run(name, func(t *testing.T) { redaction.NoLeak(t, v, marker) })
	}
}
