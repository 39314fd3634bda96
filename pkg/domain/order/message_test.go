package order

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"booklets/pkg/domain/businessday"
	"booklets/pkg/domain/reference"
	"booklets/pkg/domain/seal"
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

func TestPersonalOpenerAsOpenPersonal(t *testing.T) {
	t.Parallel()
	k := dayKey(t, day)
	var op PersonalOpener
	open := func(id string, ref reference.Reference, s seal.Sealed) (Personal, error) {
		t.Helper()
		b, err := s.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		v, err := seal.ParseBinary(b)
		if err != nil {
			t.Fatal(err)
		}
		return op.Open(k, id, ref, v)
	}
	// Several orders through one opener, with and without escapes in the
	// JSON (json.Marshal escapes "<" and "&").
	for _, p := range []Personal{
		sample().Personal,
		{Name: "Ann <Smith> & \"Co\"", AddressLine1: "Flat 2\\3", Town: "Leeds", Postcode: "LS1 4AP"},
		{Name: "A"},
		sample().Personal,
	} {
		o := sample()
		o.Personal = p
		so, err := Seal(o, day, k)
		if err != nil {
			t.Fatal(err)
		}
		got, err := open(o.ID, o.Reference, so.Personal)
		want, werr := OpenPersonal(k, o.ID, o.Reference, so.Personal)
		if err != nil || werr != nil || got != want || got != p {
			t.Fatalf("opened %+v, %v; OpenPersonal %+v, %v", got, err, want, werr)
		}
	}

	o := sample()
	so, _ := Seal(o, day, k)
	notJSON, _ := k.Seal([]byte("LEAKY NAME"), seal.OrderAAD(o.ID, o.Reference.String()))
	other := sample()
	for name, c := range map[string]struct {
		id   string
		ref  reference.Reference
		s    seal.Sealed
		want error
	}{
		"other reference": {o.ID, other.Reference, so.Personal, seal.ErrTampered},
		"other order id":  {"0193a7e0-0000-7000-8000-000000000002", o.Reference, so.Personal, seal.ErrTampered},
		"not JSON":        {o.ID, o.Reference, notJSON, seal.ErrMalformed},
	} {
		_, err := open(c.id, c.ref, c.s)
		_, want := OpenPersonal(k, c.id, c.ref, c.s)
		if !errors.Is(err, c.want) || err.Error() != want.Error() {
			t.Errorf("%s: %v; OpenPersonal: %v; want %v", name, err, want, c.want)
		}
		if err != nil && (strings.Contains(err.Error(), "LEAKY") || strings.Contains(err.Error(), "Nguy")) {
			t.Errorf("%s: error carries personal data: %v", name, err)
		}
	}
	tomorrow := dayKey(t, day.AddDays(1))
	b, _ := so.Personal.MarshalBinary()
	v, _ := seal.ParseBinary(b)
	if _, err := op.Open(tomorrow, o.ID, o.Reference, v); !errors.Is(err, seal.ErrWrongDayKey) {
		t.Errorf("another day's key: %v, want ErrWrongDayKey", err)
	}
}
