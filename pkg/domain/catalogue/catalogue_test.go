package catalogue

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"booklets/pkg/domain/postcode"
)

func TestDefault(t *testing.T) {
	t.Parallel()
	c := Default()
	if len(c.Areas) != 43 {
		t.Fatalf("default catalogue has %d areas, want the 43 police force areas", len(c.Areas))
	}
	if a, ok := c.Lookup("staffordshire"); !ok || a.Name != "Staffordshire" {
		t.Fatalf("Lookup(staffordshire) = %+v, %v", a, ok)
	}
	if c.Has("atlantis") {
		t.Fatal("Has(atlantis) = true")
	}
}

func TestLoadReplacement(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "areas.json")
	os.WriteFile(path, []byte(`{"areas":[{"code":"test-area","name":"Test Area"}]}`), 0o600)
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Has("test-area") || c.Has("staffordshire") {
		t.Fatalf("replacement catalogue not used: %+v", c.Areas)
	}
}

func TestParseRejects(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		`{`,
		`{"areas":[]}`,
		`{"areas":[{"code":"Bad Code","name":"x"}]}`,
		`{"areas":[{"code":"a","name":""}]}`,
		`{"areas":[{"code":"a","name":"A"},{"code":"a","name":"B"}]}`,
	} {
		if _, err := Parse([]byte(in)); err == nil {
			t.Errorf("Parse(%s) accepted", in)
		}
	}
}

func TestParseRejectsPostcodeAreas(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, areas string
	}{
		{"lower case", `["cf"]`},
		{"three letters", `["CFA"]`},
		{"a district", `["CF10"]`},
		{"a whole postcode", `["CF10 1EP"]`},
		{"empty", `[""]`},
		{"a space", `[" B"]`},
		{"not ASCII", `["ÇF"]`},
		{"twice", `["CF","SA","CF"]`},
	} {
		in := `{"areas":[{"code":"ok","name":"OK","postcode_areas":["B"]},` +
			`{"code":"gwent","name":"Gwent","postcode_areas":` + tt.areas + `}]}`
		_, err := Parse([]byte(in))
		if err == nil {
			t.Errorf("%s: Parse accepted postcode_areas %s", tt.name, tt.areas)
			continue
		}
		// The operator must be told which area of their AREAS_FILE is wrong.
		if !strings.Contains(err.Error(), `"gwent"`) {
			t.Errorf("%s: error %q does not name the area", tt.name, err)
		}
	}
}

func TestParseAcceptsPostcodeAreas(t *testing.T) {
	t.Parallel()
	c, err := Parse([]byte(`{"areas":[{"code":"a","name":"A","postcode_areas":["B","BS"],"welsh":true},{"code":"b","name":"B"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	a, _ := c.Lookup("a")
	if !slices.Equal(a.PostcodeAreas, []string{"B", "BS"}) || !a.Welsh {
		t.Fatalf("Lookup(a) = %+v", a)
	}
	if b, _ := c.Lookup("b"); b.PostcodeAreas != nil || b.Welsh {
		t.Fatalf("Lookup(b) = %+v, want no postcode areas and no Welsh", b)
	}
}

// englandAndWales lists every postcode area with addresses in England or
// Wales (Royal Mail's 121 areas less the 15 wholly Scottish ones and BT;
// TD, mostly Scottish, is here for Berwick-upon-Tweed and the
// Northumberland side of the Tweed). Written out here, not derived from
// areas.json, so that a postcode area dropped from the catalogue is caught.
var englandAndWales = []string{
	"AL", "B", "BA", "BB", "BD", "BH", "BL", "BN", "BR", "BS",
	"CA", "CB", "CF", "CH", "CM", "CO", "CR", "CT", "CV", "CW",
	"DA", "DE", "DH", "DL", "DN", "DT", "DY",
	"E", "EC", "EN", "EX", "FY",
	"GL", "GU", "HA", "HD", "HG", "HP", "HR", "HU", "HX",
	"IG", "IP", "KT",
	"L", "LA", "LD", "LE", "LL", "LN", "LS", "LU",
	"M", "ME", "MK", "N", "NE", "NG", "NN", "NP", "NR", "NW",
	"OL", "OX", "PE", "PL", "PO", "PR",
	"RG", "RH", "RM",
	"S", "SA", "SE", "SG", "SK", "SL", "SM", "SN", "SO", "SP", "SR", "SS", "ST", "SW", "SY",
	"TA", "TD", "TF", "TN", "TQ", "TR", "TS", "TW",
	"UB", "W", "WA", "WC", "WD", "WF", "WN", "WR", "WS", "WV", "YO",
}

// elsewhere are the postcode areas with no address in England or Wales:
// Scotland, Northern Ireland, the Crown Dependencies, British Forces (BF)
// and the non-geographic BX.
var elsewhere = []string{
	"AB", "DD", "DG", "EH", "FK", "G", "HS", "IV", "KA", "KW", "KY", "ML", "PA", "PH", "ZE",
	"BT", "GY", "IM", "JE", "BF", "BX",
}

// samplePostcode makes a valid postcode in the postcode area pa: every
// area's letters followed by "1 1AA" is a well-formed postcode.
func samplePostcode(t *testing.T, pa string) string {
	t.Helper()
	pc := pa + "1 1AA"
	if got := postcode.Area(pc); got != pa {
		t.Fatalf("postcode.Area(%q) = %q, want %q", pc, got, pa)
	}
	return pc
}

func TestDefaultPostcodeAreasCoverEnglandAndWales(t *testing.T) {
	t.Parallel()
	// 126 postcode areas in all: 121 in the United Kingdom, GY, JE and IM,
	// BF and BX. Both lists together must name each once.
	all := append(slices.Clone(englandAndWales), elsewhere...)
	slices.Sort(all)
	if distinct := slices.Compact(all); len(englandAndWales) != 105 || len(distinct) != 126 {
		t.Fatalf("englandAndWales lists %d postcode areas, want 105; with elsewhere, %d distinct, want 126", len(englandAndWales), len(distinct))
	}
	c := Default()
	for _, pa := range englandAndWales {
		if got := c.ForPostcode(samplePostcode(t, pa)); len(got) == 0 {
			t.Errorf("postcode area %s is in no police force area", pa)
		}
	}
	for _, pa := range elsewhere {
		if got := c.ForPostcode(samplePostcode(t, pa)); got != nil {
			t.Errorf("postcode area %s (not England or Wales) offers %v", pa, names(got))
		}
	}
	// Every postcode area the catalogue names is a real English or Welsh
	// one: a typo ("SZ") would otherwise only show as a wrong prompt.
	for _, a := range c.Areas {
		if len(a.PostcodeAreas) == 0 {
			t.Errorf("%s lists no postcode areas", a.Code)
		}
		for _, pa := range a.PostcodeAreas {
			if !slices.Contains(englandAndWales, pa) {
				t.Errorf("%s lists %q, not a postcode area of England or Wales", a.Code, pa)
			}
		}
	}
}

func names(as []Area) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.Name)
	}
	return out
}

func TestForPostcode(t *testing.T) {
	t.Parallel()
	c := Default()
	tests := []struct {
		pc   string
		want []string // names, in display order
	}{
		{"CF10 1EP", []string{"Gwent", "South Wales"}}, // Caerphilly is policed by Gwent
		{"cf10 1aa", []string{"Gwent", "South Wales"}},
		{"SA1 1AA", []string{"Dyfed-Powys", "South Wales"}},
		{"LL57 2DG", []string{"North Wales"}},
		{"NP20 1AA", []string{"Dyfed-Powys", "Gloucestershire", "Gwent", "West Mercia"}},
		{"SY23 1AA", []string{"Cheshire", "Dyfed-Powys", "North Wales", "West Mercia"}},
		{"CH5 1AA", []string{"Cheshire", "Merseyside", "North Wales"}},
		{"W1A 0AX", []string{"Metropolitan Police (London)"}},
		{"SW1A 2AA", []string{"Metropolitan Police (London)"}},
		{"EC1A 1BB", []string{"City of London", "Metropolitan Police (London)"}},
		{"B1 1AA", []string{"Staffordshire", "Warwickshire", "West Mercia", "West Midlands"}},
		{"b33 8th", []string{"Staffordshire", "Warwickshire", "West Mercia", "West Midlands"}},
		{"BS1 4DJ", []string{"Avon and Somerset"}}, // BS is not B
		{"ST18 0YY", []string{"Cheshire", "Staffordshire"}},
		{"TD15 1AA", []string{"Northumbria"}}, // Berwick-upon-Tweed
		{"PL1 1AA", []string{"Devon and Cornwall"}},
		{"BT1 5GS", nil},  // Northern Ireland
		{"EH1 1YZ", nil},  // Scotland
		{"GIR 0AA", nil},  // valid, but no delivery address
		{"B1", nil},       // not a whole postcode
		{"BFPO 801", nil}, // refused by postcode
		{"", nil},
		{"Flat 2, 10 High Street", nil},
	}
	for _, tt := range tests {
		got := c.ForPostcode(tt.pc)
		if tt.want == nil {
			if got != nil {
				t.Errorf("ForPostcode(%q) = %v, want nil", tt.pc, names(got))
			}
			continue
		}
		if !slices.Equal(names(got), tt.want) {
			t.Errorf("ForPostcode(%q) = %v, want %v", tt.pc, names(got), tt.want)
		}
	}
}

func TestForPostcodeWithoutHints(t *testing.T) {
	t.Parallel()
	// An operator's AREAS_FILE without postcode areas: nothing is offered
	// first, so the form shows the whole list.
	c, err := Parse([]byte(`{"areas":[{"code":"a","name":"A"},{"code":"b","name":"B"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.ForPostcode("CF10 1EP"); got != nil {
		t.Fatalf("ForPostcode = %v, want nil", names(got))
	}
}

func TestUsual(t *testing.T) {
	t.Parallel()
	c := Default()
	noHint := Area{Code: "x", Name: "X"}
	tests := []struct {
		area string
		pc   string
		want bool
	}{
		{"south-wales", "CF10 1EP", true},
		{"south-wales", "sa11aa", true},
		{"south-wales", "LL57 2DG", false}, // Bangor is North Wales
		{"north-wales", "LL57 2DG", true},
		{"gwent", "CF83 1AA", true},
		{"metropolitan-police", "W1A 0AX", true},
		{"metropolitan-police", "EC1A 1BB", true},
		{"metropolitan-police", "SW1A 2AA", true},
		{"metropolitan-police", "CF10 1EP", false},
		{"city-of-london", "EC1A 1BB", true},
		{"city-of-london", "SW1A 2AA", false},
		{"west-midlands", "B1 1AA", true},
		{"west-midlands", "BS1 4DJ", false}, // BS is not B
		{"avon-and-somerset", "BS1 4DJ", true},
		{"avon-and-somerset", "B1 1AA", false},
		{"staffordshire", "ST18 0YY", true},
		{"cumbria", "BT1 5GS", false}, // Belfast is in no area: check it
		{"cumbria", "EH1 1YZ", false},
		{"cumbria", "GIR 0AA", false},
		// Not a postcode: the address question reports it, no prompt.
		{"cumbria", "", true},
		{"cumbria", "B1", true},
		{"cumbria", "not a postcode", true},
		{"cumbria", "BFPO 801", true},
	}
	for _, tt := range tests {
		a, ok := c.Lookup(tt.area)
		if !ok {
			t.Fatalf("no area %q", tt.area)
		}
		if got := a.Usual(tt.pc); got != tt.want {
			t.Errorf("%s.Usual(%q) = %v, want %v", tt.area, tt.pc, got, tt.want)
		}
	}
	for _, pc := range []string{"CF10 1EP", "BT1 5GS", "GIR 0AA", "", "junk"} {
		if !noHint.Usual(pc) {
			t.Errorf("an area without postcode areas: Usual(%q) = false, want true (no hint, no prompt)", pc)
		}
	}
}

func TestOffersWelsh(t *testing.T) {
	t.Parallel()
	c := Default()
	welsh := []string{"dyfed-powys", "gwent", "north-wales", "south-wales"}
	for _, a := range c.Areas {
		if got, want := c.OffersWelsh(a.Code), slices.Contains(welsh, a.Code); got != want {
			t.Errorf("OffersWelsh(%q) = %v, want %v", a.Code, got, want)
		}
	}
	for _, code := range welsh {
		if !c.Has(code) {
			t.Errorf("the catalogue has no area %q", code)
		}
	}
	if c.OffersWelsh("atlantis") || c.OffersWelsh("") {
		t.Error("OffersWelsh is true for an area not in the catalogue")
	}
}
