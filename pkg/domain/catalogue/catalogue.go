// Package catalogue lists the booklets that can be ordered: one per police
// force area. A catalogue ships with the project (areas.json, embedded) and
// can be replaced by a file of the same shape given by configuration.
package catalogue

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"sort"

	"booklets/pkg/domain/postcode"
)

//go:embed areas.json
var defaultJSON []byte

// Area is one booklet: a police force area.
type Area struct {
	Code string `json:"code"`
	Name string `json:"name"`
	// WelshName is the area's name on the Welsh pages, where it has one of
	// its own ("Gogledd Cymru"); empty: Name.
	WelshName string `json:"name_cy,omitempty"`
	// PostcodeAreas are the postcode areas (the letters a postcode starts
	// with: "CF", "SA", "B") usually found in the area: the form uses them
	// to offer the likely areas first and to ask a person to check an area
	// that does not usually cover their postcode, never to refuse one
	// (docs/form.md says where the list comes from). Empty: no hint.
	PostcodeAreas []string `json:"postcode_areas,omitempty"`
	// Welsh tells whether the area's booklet is offered in Welsh as well as
	// English (the Welsh police force areas by default; issue 18).
	Welsh bool `json:"welsh,omitempty"`
}

// Catalogue is the list of areas, in display order (by name).
type Catalogue struct {
	Title string `json:"title"`
	Areas []Area `json:"areas"`
	index map[string]Area
}

var (
	codePattern = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)
	// postcodeAreaPattern is a postcode area as postcode.Area returns it:
	// one or two capital letters ("B", "CF").
	postcodeAreaPattern = regexp.MustCompile(`^[A-Z]{1,2}$`)
)

// Default returns the catalogue that ships with the project.
func Default() *Catalogue {
	c, err := Parse(defaultJSON)
	if err != nil {
		panic(fmt.Sprintf("embedded catalogue is invalid: %v", err))
	}
	return c
}

// Load reads a catalogue file, or returns the default one when path is "".
func Load(path string) (*Catalogue, error) {
	if path == "" {
		return Default(), nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read catalogue: %w", err)
	}
	c, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("catalogue %s: %w", path, err)
	}
	return c, nil
}

// Parse decodes and checks a catalogue: at least one area, codes in
// lower-case-with-dashes form, no duplicates, every area named, and each
// area's postcode areas one or two capital letters, none listed twice.
func Parse(b []byte) (*Catalogue, error) {
	var c Catalogue
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if len(c.Areas) == 0 {
		return nil, errors.New("no areas")
	}
	c.index = make(map[string]Area, len(c.Areas))
	for _, a := range c.Areas {
		if !codePattern.MatchString(a.Code) {
			return nil, fmt.Errorf("area code %q: use lower-case letters, digits and dashes", a.Code)
		}
		if a.Name == "" {
			return nil, fmt.Errorf("area %q has no name", a.Code)
		}
		if _, dup := c.index[a.Code]; dup {
			return nil, fmt.Errorf("area code %q appears twice", a.Code)
		}
		if err := checkPostcodeAreas(a); err != nil {
			return nil, err
		}
		c.index[a.Code] = a
	}
	sort.SliceStable(c.Areas, func(i, j int) bool { return c.Areas[i].Name < c.Areas[j].Name })
	return &c, nil
}

// Has reports whether code is an area in the catalogue.
func (c *Catalogue) Has(code string) bool {
	_, ok := c.index[code]
	return ok
}

// Lookup returns the area with the code.
func (c *Catalogue) Lookup(code string) (Area, bool) {
	a, ok := c.index[code]
	return a, ok
}

// checkPostcodeAreas refuses a postcode area that could never match what
// postcode.Area returns (lower case, digits, a whole postcode), so that a
// mistake in an operator's AREAS_FILE stops start-up instead of silently
// prompting everyone in that area to check it.
func checkPostcodeAreas(a Area) error {
	seen := make(map[string]bool, len(a.PostcodeAreas))
	for _, pa := range a.PostcodeAreas {
		if !postcodeAreaPattern.MatchString(pa) {
			return fmt.Errorf("area %q: postcode area %q: use the one or two capital letters a postcode starts with, like \"CF\" or \"B\"", a.Code, pa)
		}
		if seen[pa] {
			return fmt.Errorf("area %q: postcode area %q appears twice", a.Code, pa)
		}
		seen[pa] = true
	}
	return nil
}

// ForPostcode returns the areas whose usual postcode areas include pc's, in
// display order (by name): the likely areas for a person with that postcode.
// It is nil when pc is not a valid postcode or no area lists its postcode
// area (a Scottish or Northern Irish postcode, or a catalogue without
// postcode areas); the form then offers the whole list as it is.
func (c *Catalogue) ForPostcode(pc string) []Area {
	pa := postcode.Area(pc)
	if pa == "" {
		return nil
	}
	var out []Area
	for _, a := range c.Areas {
		if slices.Contains(a.PostcodeAreas, pa) {
			out = append(out, a)
		}
	}
	return out
}

// Usual reports whether pc's postcode area is one usually found in the area.
// It is true when the area lists no postcode areas (no hint to give) and for
// a postcode that is not valid (the address question reports that; a "check
// your area" prompt on top would only confuse). False means "ask the person
// to check their area", never "refuse": postcode areas cross force
// boundaries and the lists are approximate at the edges.
func (a Area) Usual(pc string) bool {
	if len(a.PostcodeAreas) == 0 {
		return true
	}
	pa := postcode.Area(pc)
	if pa == "" {
		return true
	}
	return slices.Contains(a.PostcodeAreas, pa)
}

// OffersWelsh reports whether the area with the code offers its booklet in
// Welsh as well as English; false for a code not in the catalogue.
func (c *Catalogue) OffersWelsh(code string) bool {
	a, ok := c.index[code]
	return ok && a.Welsh
}
