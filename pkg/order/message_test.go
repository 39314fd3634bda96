package order

import (
	"errors"
	"strings"
	"testing"
	"time"

	"booklets/pkg/reference"
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

func TestMessageRoundTrip(t *testing.T) {
	t.Parallel()
	o := sample()
	b, err := Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != o.ID || got.Reference != o.Reference || !got.ReceivedAt.Equal(o.ReceivedAt) ||
		got.Area != o.Area || len(got.Formats) != 2 || got.Personal != o.Personal {
		t.Fatalf("round trip changed the order: %+v", got)
	}
	if !strings.Contains(string(b), `"personal":{`) {
		t.Fatalf("personal data is not one separate object: %s", b)
	}
}

func TestUnmarshalRejectsWithoutLeaking(t *testing.T) {
	t.Parallel()
	o := sample()
	o.Personal.Name = "LEAKY NAME"
	good, _ := Marshal(o)
	cases := map[string]string{
		"not json":     `{"name": "LEAKY NAME"`,
		"wrong shape":  `{"version": "LEAKY NAME"}`,
		"version":      strings.Replace(string(good), `"version":1`, `"version":9`, 1),
		"reference":    strings.Replace(string(good), string(o.Reference), "NOT-A-REFERENCE", 1),
		"format":       strings.Replace(string(good), `"audio"`, `"vinyl"`, 1),
		"no personal":  strings.Replace(string(good), `"personal":{`, `"other":{`, 1),
		"bad postcode": strings.Replace(string(good), `ST18 0YY`, `LEAKY`, 1),
	}
	for name, in := range cases {
		_, err := Unmarshal([]byte(in))
		if !errors.Is(err, ErrBadMessage) {
			t.Errorf("%s: error = %v, want ErrBadMessage", name, err)
			continue
		}
		if strings.Contains(err.Error(), "LEAKY") {
			t.Errorf("%s: error leaks content: %v", name, err)
		}
	}
}
