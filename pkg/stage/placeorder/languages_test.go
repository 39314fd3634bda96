package placeorder_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"booklets/pkg/domain/catalogue"
	"booklets/pkg/domain/order"
	"booklets/pkg/stage/placeorder"
)

// welshOrder is an order in a Welsh area for its booklet in the languages
// given ("" for none: the default).
func welshOrder(t *testing.T, langs ...string) order.Validated {
	t.Helper()
	v, err := order.Draft{Area: "gwent", Formats: []string{"audio"}, Languages: langs, Name: "Siân O'Brien",
		AddressLine1: "1 High Street", Town: "Newport", Postcode: "NP20 1AA"}.Validate(catalogue.Default())
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// The booklet languages (issue 18) go with the order to the stream, with
// and without an idempotency key.
func TestPlacePublishesTheLanguages(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for i, key := range []string{"", "key-cy"} {
		if _, err := f.svc.Place(ctx, welshOrder(t, "cy", "en"), key); err != nil {
			t.Fatal(err)
		}
		if got := f.st.msgs[i].Languages; !slices.Equal(got, []order.Language{order.English, order.Welsh}) {
			t.Errorf("key %q: published languages %v", key, got)
		}
	}
}

// The languages are part of what an idempotency key is bound to: the same
// answers in another language are another order. An English order keeps
// the fingerprint it had before languages existed
// (TestFingerprintAndKeyIDAreStable), so a retry across the upgrade is
// still the same order.
func TestFingerprintCoversLanguages(t *testing.T) {
	f := newFixture(t)
	en, cy, both, none := f.svc.Fingerprint(welshOrder(t, "en")), f.svc.Fingerprint(welshOrder(t, "cy")),
		f.svc.Fingerprint(welshOrder(t, "en", "cy")), f.svc.Fingerprint(welshOrder(t))
	if en == cy || en == both || cy == both {
		t.Errorf("orders in other languages share a fingerprint: en %s, cy %s, both %s", en, cy, both)
	}
	if none != en {
		t.Error("an order naming no language is not the same as one asking for English")
	}
	ctx := context.Background()
	if _, err := f.svc.Place(ctx, welshOrder(t, "en"), "key-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Place(ctx, welshOrder(t, "cy"), "key-1"); !errors.Is(err, placeorder.ErrKeyReused) {
		t.Errorf("the key of an English order reused for the Welsh one: %v, want ErrKeyReused", err)
	}
}
