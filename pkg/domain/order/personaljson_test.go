package order

import (
	"encoding/json"
	"reflect"
	"testing"
)

// The fast path decodes what json.Marshal writes, and every input decodes
// exactly as json.Unmarshal decodes it.
func TestUnmarshalPersonalAsEncodingJSON(t *testing.T) {
	people := []Personal{
		{Name: "Ann Example", AddressLine1: "1 High Street", Town: "Canterbury", Postcode: "CT1 1AA"},
		{Name: "Zoë Ŵyn-Jones", AddressLine1: `Flat "2", 3 Road`, AddressLine2: "Line\r\nTwo", Town: "Llan\\", Postcode: "LL1 1AA"},
		{Name: "<script>&amp;", AddressLine1: "=SUM(A1)", AddressLine2: "\u2028", Town: "\t", Postcode: ""},
		{},
	}
	var inputs []string
	for _, p := range people {
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		inputs = append(inputs, string(b))
		var got Personal
		if err := unmarshalPersonal(b, &got); err != nil || got != p {
			t.Errorf("%s: %+v, %v", b, got, err)
		}
	}
	inputs = append(inputs,
		`{"name":"A","address_line_1":"B","address_line_2":"C","town":"D","postcode":"E"}`,
		`{"name":"A","address_line_1":"B","address_line_2":"C","town":"D","postcode":"E","extra":1}`,
		`{"postcode":"E","name":"A"}`,
		`{"NAME":"A","address_line_1":"B","address_line_2":"C","town":"D","postcode":"E"}`,
		`{"name":"A","address_line_1":"B","address_line_2":"C","town":"D","postcode":"E"} `,
		`{"name":"A","address_line_1":"B","address_line_2":"C","town":"D","postcode":"E"`,
		`{"name":"A\u00e9","address_line_1":"B","address_line_2":"C","town":"D","postcode":"E"}`,
		"{\"name\":\"\xff\xfe\",\"address_line_1\":\"B\",\"address_line_2\":\"C\",\"town\":\"D\",\"postcode\":\"E\"}",
		"{\"name\":\"a\x01\",\"address_line_1\":\"B\",\"address_line_2\":\"C\",\"town\":\"D\",\"postcode\":\"E\"}",
		`{"name":"A","name":"B","address_line_1":"B","address_line_2":"C","town":"D","postcode":"E"}`,
		`{"name":1}`, `null`, ``, `{`, `{"name":"A","address_line_1":"B","address_line_2":"C","town":"D","postcode":"E"}x`,
	)
	for _, in := range inputs {
		var want, got Personal
		werr := json.Unmarshal([]byte(in), &want)
		gerr := unmarshalPersonal([]byte(in), &got)
		if (werr == nil) != (gerr == nil) || (werr == nil && !reflect.DeepEqual(got, want)) {
			t.Errorf("%q: got %+v, %v; encoding/json %+v, %v", in, got, gerr, want, werr)
		}
	}
}

// The fast path allocates one string for the five fields, and the result
// does not escape: the batcher opens a million of them.
func TestUnmarshalPersonalAllocatesOnce(t *testing.T) {
	want := Personal{Name: "Ann Example", AddressLine1: "1 High Street", AddressLine2: "Flat 2", Town: "Canterbury", Postcode: "CT1 1AA"}
	in, _ := json.Marshal(want)
	var got Personal
	n := testing.AllocsPerRun(100, func() {
		var p Personal
		if err := unmarshalPersonal(in, &p); err != nil {
			t.Fatal(err)
		}
		got = p
	})
	if n != 1 || got != want {
		t.Errorf("%v allocations, %+v; want 1, %+v", n, got, want)
	}
	clear(in) // the fields do not refer to the input
	if got != want {
		t.Errorf("changed with the input: %+v", got)
	}
}

func BenchmarkUnmarshalPersonal(b *testing.B) {
	in, _ := json.Marshal(Personal{Name: "Bench Person 123456", AddressLine1: "12 High Street", AddressLine2: "Flat 3", Town: "Manchester", Postcode: "M1 1AE"})
	b.Run("fast", func(b *testing.B) {
		for b.Loop() {
			var p Personal
			_ = unmarshalPersonal(in, &p)
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		for b.Loop() {
			var p Personal
			_ = json.Unmarshal(in, &p)
		}
	})
}
