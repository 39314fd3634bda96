package order

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"booklets/pkg/domain/postcode"
	"booklets/pkg/domain/validation"
)

// Field names, as used in the API and as the ids of the form's inputs.
const (
	FieldArea    = "area"
	FieldFormats = "formats"
	// FieldLanguages is the booklet languages' field in the API, and the
	// field a validation error about them names.
	FieldLanguages    = "languages"
	FieldName         = "name"
	FieldAddressLine1 = "address_line_1"
	FieldAddressLine2 = "address_line_2"
	FieldTown         = "town"
	FieldPostcode     = "postcode"
)

// FormLanguage is the name of the form's booklet language inputs (one
// checkbox each for English and Welsh, values "en" and "cy", posted as
// Draft.Languages as the formats' checkboxes are posted as Draft.Formats).
const FormLanguage = "language"

// Length limits, in characters. They are generous (real names and
// addresses are long) but bounded so that a batch row stays printable on an
// envelope.
const (
	MaxNameLen    = 100
	MaxAddressLen = 100
	MaxTownLen    = 60
)

// FieldError and ValidationError are validation's types under the names
// the order's callers have always used: the same types (aliases), so a
// front end renders an order's and a volunteer's errors alike.
type (
	FieldError      = validation.FieldError
	ValidationError = validation.Errors
)

// Draft is an order as submitted, before validation.
type Draft struct {
	Area    string   `json:"area"`
	Formats []string `json:"formats"`
	// Languages are the booklet languages asked for: "en", "cy" or both.
	// Optional: none means English. (The Welsh form always asks where the
	// area offers Welsh, and offers Welsh first.)
	Languages    []string `json:"languages"`
	Name         string   `json:"name"`
	AddressLine1 string   `json:"address_line_1"`
	AddressLine2 string   `json:"address_line_2"`
	Town         string   `json:"town"`
	Postcode     string   `json:"postcode"`
}

// Areas tells whether an area code is in the catalogue, and whether its
// booklet is offered in Welsh (catalogue.Catalogue implements it).
type Areas interface {
	Has(code string) bool
	OffersWelsh(code string) bool
}

// Validated is the cleaned content of a valid draft: trimmed, normalised
// (Unicode NFC, canonical postcode), with the formats in catalogue order
// and the booklet languages, never none, in the order of Languages.
type Validated struct {
	Area      string
	Formats   []Format
	Languages []Language
	Personal  Personal
}

// Validate checks every field of d and returns either the cleaned order
// content or a ValidationError naming every invalid field.
func (d Draft) Validate(areas Areas) (Validated, error) {
	var errs ValidationError
	add := errs.Add
	var v Validated

	v.Area = strings.TrimSpace(d.Area)
	switch {
	case v.Area == "":
		add(FieldArea, "Select the area you want a booklet for")
	case !areas.Has(v.Area):
		add(FieldArea, "Select an area from the list")
	}

	var msg string
	if v.Formats, msg = parseFormats(d.Formats); msg != "" {
		add(FieldFormats, msg)
	}
	// The languages are checked against the area only when the area is
	// one of ours: an unknown area has its own message already.
	areaKnown := v.Area != "" && areas.Has(v.Area)
	welsh := areaKnown && areas.OffersWelsh(v.Area)
	if v.Languages, msg = parseLanguages(d.Languages, welsh, areaKnown); msg != "" {
		add(FieldLanguages, msg)
	}

	// ifEmpty is the message for a required field left empty; "" means optional.
	check := func(field, label, value, ifEmpty string, max int) string {
		clean, err := cleanText(value, label, max)
		switch {
		case err != nil:
			add(field, err.Error())
		case clean == "" && ifEmpty != "":
			add(field, ifEmpty)
		}
		return clean
	}
	v.Personal.Name = check(FieldName, "Full name", d.Name, "Enter your full name", MaxNameLen)
	if v.Personal.Name != "" && !strings.ContainsFunc(v.Personal.Name, unicode.IsLetter) {
		add(FieldName, "Full name must include letters")
	}
	v.Personal.AddressLine1 = check(FieldAddressLine1, "Address line 1", d.AddressLine1, "Enter address line 1, typically the building and street", MaxAddressLen)
	v.Personal.AddressLine2 = check(FieldAddressLine2, "Address line 2", d.AddressLine2, "", MaxAddressLen)
	v.Personal.Town = check(FieldTown, "Town or city", d.Town, "Enter town or city", MaxTownLen)

	pc, err := postcode.Normalise(d.Postcode)
	switch {
	case errors.Is(err, postcode.ErrEmpty):
		add(FieldPostcode, "Enter a postcode")
	case errors.Is(err, postcode.ErrBFPO):
		add(FieldPostcode, "We cannot post booklets to BFPO addresses. Contact us to order by another route")
	case err != nil:
		add(FieldPostcode, "Enter a full UK postcode, like AA1 1AA")
	}
	v.Personal.Postcode = pc

	if len(errs) > 0 {
		return Validated{}, errs
	}
	return v, nil
}

// parseFormats returns the chosen formats in catalogue order, or the
// message for the public saying what is wrong (a message, not an error: it
// is shown as written, capital letter and all).
func parseFormats(codes []string) ([]Format, string) {
	if len(codes) == 0 {
		return nil, "Select at least one format"
	}
	chosen := map[Format]bool{}
	for _, c := range codes {
		f := Format(strings.TrimSpace(c))
		if !f.Valid() {
			return nil, "Select formats from the list: standard print, large print, braille, easy read or audio"
		}
		chosen[f] = true
	}
	out := make([]Format, 0, len(chosen))
	for _, f := range Formats {
		if chosen[f] {
			out = append(out, f)
		}
	}
	return out, ""
}

// parseLanguages returns the booklet languages asked for, in the order of
// Languages, or the message for the public saying what is wrong. None asked
// for is English.
// welsh says whether the area offers Welsh; areaKnown whether the area is
// in the catalogue (if not, Welsh is not refused here: the area is wrong).
func parseLanguages(codes []string, welsh, areaKnown bool) ([]Language, string) {
	if len(codes) == 0 {
		return []Language{English}, ""
	}
	var english, cymraeg bool
	for _, c := range codes {
		switch Language(strings.TrimSpace(c)) {
		case English:
			english = true
		case Welsh:
			cymraeg = true
		default:
			return nil, "Select the booklet's language from the list: English or Cymraeg (Welsh)"
		}
	}
	if cymraeg && areaKnown && !welsh {
		return nil, "The booklet for this area is not available in Welsh. Select English"
	}
	switch {
	case english && cymraeg:
		return []Language{English, Welsh}, ""
	case cymraeg:
		return []Language{Welsh}, ""
	}
	return []Language{English}, ""
}

// cleanText trims, collapses inner runs of white space, normalises to NFC
// (so "Siân" typed with a combining accent is the same as with a
// precomposed one) and rejects what could hide or reorder text on an
// envelope or in a spreadsheet, or that no printer can print (refused).
func cleanText(s, label string, max int) (string, error) {
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("%s must only include letters, numbers and punctuation", label)
	}
	for _, r := range s {
		if r == '\t' || r == '\n' || r == '\r' {
			continue // folded to a space below: pasted addresses often have them
		}
		if r == '\u200d' || r == '\u200c' {
			continue // zero-width (non-)joiner: needed to spell some names correctly
		}
		if refused(r) {
			return "", fmt.Errorf("%s must only include letters, numbers and punctuation", label)
		}
	}
	clean := norm.NFC.String(strings.Join(strings.Fields(s), " "))
	if n := utf8.RuneCountInString(clean); n > max {
		return "", fmt.Errorf("%s must be %d characters or fewer", label, max)
	}
	return clean, nil
}

// refused reports whether a character may not be part of a name or an
// address:
//   - control characters, invisible formatting characters and
//     bidirectional overrides (Cc, Cf), private-use characters (Co),
//     surrogates (Cs) and U+FFFD (what undecodable input becomes);
//   - code points that are not characters: noncharacters (U+FDD0-U+FDEF,
//     U+FFFE and U+FFFF in every plane), and code points not yet assigned
//     in the Unicode version Go knows (unicode.Version), which no font or
//     printer can be relied on to show;
//   - characters Unicode says to ignore when displaying
//     (Other_Default_Ignorable_Code_Point): the Hangul fillers U+3164,
//     U+115F, U+1160 and U+FFA0 (classed as letters, so a name of three of
//     them looked like a name of three letters), the combining grapheme
//     joiner, tag characters;
//   - a few visible-as-nothing symbols that Unicode does not class as
//     ignorable but which print as blank and so are used to fake an
//     answer: U+2800 BRAILLE PATTERN BLANK, U+FFFC OBJECT REPLACEMENT
//     CHARACTER and U+1D159 MUSICAL SYMBOL NULL NOTEHEAD. Other braille
//     patterns are accepted: they are visible.
func refused(r rune) bool {
	switch r {
	case utf8.RuneError, '\u2800', '\ufffc', '\U0001d159':
		return true
	}
	return unicode.In(r, unicode.Cc, unicode.Cf, unicode.Co, unicode.Cs,
		unicode.Noncharacter_Code_Point, unicode.Other_Default_Ignorable_Code_Point) ||
		!unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S, unicode.Z)
}
