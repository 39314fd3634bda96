package order

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"booklets/pkg/businessday"
	"booklets/pkg/reference"
	"booklets/pkg/seal"
)

func sample() Order {
	return Order{
		ID:         "0193a7e0-0000-7000-8000-000000000001",
		Reference:  reference.New(),
		ReceivedAt: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC),
		Area:       "staffordshire",
		Formats:    []Format{StandardPrint, Audio},
		Personal:   Personal{Name: "Zoë-Jane Nguyễn", AddressLine1: "1 High St", Town: "Stafford", Postcode: "ST18 0YY"},
	}
}

var day = businessday.Date{Year: 2026, Month: 11, Day: 25}

func dayKey(t *testing.T, d businessday.Date) *seal.DayKey {
	t.Helper()
	k, err := seal.NewDayKey(d.String())
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSealedMessageRoundTrip(t *testing.T) {
	t.Parallel()
	o := sample()
	k := dayKey(t, day)
	so, err := Seal(o, day, k)
	if err != nil {
		t.Fatal(err)
	}
	b, err := MarshalSealed(so)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"Nguy", "High St", "Stafford", "ST18"} {
		if bytes.Contains(b, []byte(s)) {
			t.Fatalf("message holds personal data in clear (%s): %s", s, b)
		}
	}
	if !bytes.Contains(b, []byte(`"version":2`)) || !bytes.Contains(b, []byte(`"business_date":"2026-11-25"`)) {
		t.Fatalf("message lacks version or business date: %s", b)
	}
	got, err := UnmarshalSealed(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != o.ID || got.Reference != o.Reference || !got.ReceivedAt.Equal(o.ReceivedAt) ||
		got.Area != o.Area || len(got.Formats) != 2 || got.BusinessDate != day {
		t.Fatalf("round trip changed the order: %+v", got)
	}
	p, err := got.Open(k)
	if err != nil {
		t.Fatal(err)
	}
	if p != o.Personal {
		t.Fatalf("opened %+v", p)
	}
}

func TestSealRefusesAnotherDaysKey(t *testing.T) {
	t.Parallel()
	if _, err := Seal(sample(), day, dayKey(t, day.AddDays(1))); err == nil {
		t.Fatal("sealed under another day's key")
	}
}

func TestSealedMovedToAnotherOrderDoesNotOpen(t *testing.T) {
	t.Parallel()
	k := dayKey(t, day)
	so, _ := Seal(sample(), day, k)
	other := sample()
	if _, err := OpenPersonal(k, other.ID, other.Reference, so.Personal); !errors.Is(err, seal.ErrTampered) {
		t.Fatalf("opened under another reference: %v", err)
	}
}

func TestUnmarshalSealedRejectsWithoutLeaking(t *testing.T) {
	t.Parallel()
	o := sample()
	so, _ := Seal(o, day, dayKey(t, day))
	good, _ := MarshalSealed(so)
	cases := map[string]string{
		"not json":    `{"name": "LEAKY NAME"`,
		"wrong shape": `{"version": "LEAKY NAME"}`,
		"version 1 plaintext": `{"version":1,"order_id":"x","reference":"` + o.Reference.String() +
			`","received_at":"2026-11-25T10:00:00Z","area":"a","formats":["audio"],"personal":{"name":"LEAKY NAME"}}`,
		"version":      strings.Replace(string(good), `"version":2`, `"version":9`, 1),
		"reference":    strings.Replace(string(good), o.Reference.String(), "NOT-A-REFERENCE", 1),
		"format":       strings.Replace(string(good), `"audio"`, `"vinyl"`, 1),
		"no personal":  strings.Replace(string(good), `"personal":{`, `"other":{`, 1),
		"date":         strings.Replace(string(good), `"business_date":"2026-11-25"`, `"business_date":"LEAKY"`, 1),
		"other day":    strings.Replace(string(good), `"business_date":"2026-11-25"`, `"business_date":"2026-11-26"`, 1),
		"no ciphertxt": strings.Replace(string(good), `"ciphertext":"`, `"ciphertext":"","x":"`, 1),
	}
	for name, in := range cases {
		_, err := UnmarshalSealed([]byte(in))
		if !errors.Is(err, ErrBadMessage) {
			t.Errorf("%s: error = %v, want ErrBadMessage", name, err)
			continue
		}
		if strings.Contains(err.Error(), "LEAKY") {
			t.Errorf("%s: error leaks content: %v", name, err)
		}
	}
}
