// Package order holds the domain of a booklet order: what is ordered, by
// whom, and the rules an order must meet. It imports no driver.
//
// An order has two clearly separated parts: the facts about the order
// (id, reference, received time, area, formats, booklet languages), which
// are not personal and
// are kept for statistics and enquiries, and the Personal part (name and
// address), which is held only until the end of the day and can be sealed
// (encrypted) or deleted without touching the rest.
package order

import (
	"time"

	"booklets/pkg/domain/reference"
)

// Format is a booklet format, as its code.
type Format string

// The formats a booklet is produced in.
const (
	StandardPrint Format = "standard-print"
	LargePrint    Format = "large-print"
	Braille       Format = "braille"
	EasyRead      Format = "easy-read"
	Audio         Format = "audio"
)

// Formats lists every format in the order they are offered.
var Formats = []Format{StandardPrint, LargePrint, Braille, EasyRead, Audio}

// Valid reports whether f is one of the known formats.
func (f Format) Valid() bool {
	for _, k := range Formats {
		if f == k {
			return true
		}
	}
	return false
}

// Language is the language a booklet is printed (or recorded) in, as its
// code: the ISO 639-1 code, as in a page's lang attribute. It is a fact of
// the order, not personal data: which language a person reads says no more
// about them than the area does, and it is kept with the formats.
type Language string

// The languages a booklet is produced in. Every area's booklet is in
// English; the areas the catalogue marks Welsh (catalogue.Area.Welsh) also
// offer it in Welsh (issue 18).
const (
	English Language = "en"
	Welsh   Language = "cy"
)

// Languages lists every language in the order they are offered, which is
// also the order of an order's languages once validated and of its rows in
// the batch file. An order that names no language is for English.
var Languages = []Language{English, Welsh}

// Valid reports whether l is one of the known languages.
func (l Language) Valid() bool {
	for _, k := range Languages {
		if l == k {
			return true
		}
	}
	return false
}

// Personal is the personal data of an order: everything that identifies
// the person. It travels and is stored apart from the rest of the order.
type Personal struct {
	Name         string `json:"name"`
	AddressLine1 string `json:"address_line_1"`
	AddressLine2 string `json:"address_line_2"`
	Town         string `json:"town"`
	Postcode     string `json:"postcode"`
}

// Order is a validated order.
type Order struct {
	ID         string
	Reference  reference.Reference
	ReceivedAt time.Time
	Area       string
	Formats    []Format
	// Languages are the booklet's languages, in Languages' order: English,
	// Welsh or both (Welsh only where the area offers it). Every format is
	// sent in each of them.
	Languages []Language
	Personal  Personal
}
