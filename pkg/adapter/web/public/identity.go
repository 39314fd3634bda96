package public

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"strings"
)

// Identity is who runs the service and how to reach them: the
// organisation that controls the personal data, its data protection
// officer, the contact details, the other way to order, the feedback link
// and the phase. Every page shows parts of it (the phase banner, the
// footer's contact link, the contact page, the privacy notice, the
// accessibility statement). The intake reads it from the JSON file named
// by SERVICE_IDENTITY_FILE (LoadIdentity); docs/operations.md describes
// each field and deploy/service-identity.json is an example.
//
// The words a person reads (the organisation's name, the data protection
// officer's, the opening hours, the postal address) may also be given in
// Welsh, in the same field's "_cy" twin: the Welsh pages show them through
// In (issue 18). Each is optional, because not every organisation has a
// Welsh name; where one is missing a Welsh page shows the English marked
// lang="en", so that a screen reader pronounces it as English.
type Identity struct {
	// DataController is the organisation that controls the personal data
	// (UK GDPR), named in the privacy notice.
	DataController string `json:"data_controller"`
	// DataControllerCY is its Welsh name, if it has one.
	DataControllerCY string `json:"data_controller_cy"`
	// DPO is its data protection officer.
	DPO DPO `json:"data_protection_officer"`
	// Contact is where people ask questions and complain.
	Contact Contact `json:"contact"`
	// AlternativeOrder is how to order without this website, by phone or
	// by post (people who need braille or audio may prefer it).
	AlternativeOrder AlternativeOrder `json:"alternative_order"`
	// FeedbackURL is the phase banner's and the contact page's feedback
	// link: an absolute http(s) address.
	FeedbackURL string `json:"feedback_url"`
	// Phase is "alpha", "beta" or "" (live, no phase banner).
	Phase string `json:"phase"`
	// ServiceURL is the address people use to reach the service, named by
	// the accessibility statement: an absolute http(s) address.
	ServiceURL string `json:"service_url"`
	// Example marks the built-in example (DefaultIdentity): the contact
	// and privacy pages say that the details are not real. A file cannot
	// set it.
	Example bool `json:"-"`
}

// DPO is the data protection officer: a name or a role, and an e-mail
// address.
type DPO struct {
	Name string `json:"name"`
	// NameCY is the name or role in Welsh ("Swyddog Diogelu Data").
	NameCY string `json:"name_cy"`
	Email  string `json:"email"`
}

// Contact is how to reach the team that runs the service.
type Contact struct {
	Email        string `json:"email"`
	Phone        string `json:"phone"`
	OpeningHours string `json:"opening_hours"`
	// OpeningHoursCY is OpeningHours in Welsh.
	OpeningHoursCY string `json:"opening_hours_cy"`
	// PostalAddress is the lines of the address, the postcode last.
	PostalAddress []string `json:"postal_address"`
	// PostalAddressCY is the address as it is written in Welsh, where it
	// has a Welsh form (a bilingual organisation's): the postcode last, the
	// same as the English one's.
	PostalAddressCY []string `json:"postal_address_cy"`
}

// AlternativeOrder is the other way to order. At least one of Phone and
// Post is offered.
type AlternativeOrder struct {
	// Phone is the number to order by phone ("" when not offered);
	// OpeningHours, when its lines are open.
	Phone        string `json:"phone"`
	OpeningHours string `json:"opening_hours"`
	// OpeningHoursCY is OpeningHours in Welsh.
	OpeningHoursCY string `json:"opening_hours_cy"`
	// Post, when true, offers ordering by a letter to Contact.PostalAddress.
	Post bool `json:"post"`
}

// PhaseLabel is the phase banner's tag: "Alpha", "Beta", or "" when live.
func (id Identity) PhaseLabel() string {
	if id.Phase == "" {
		return ""
	}
	return strings.ToUpper(id.Phase[:1]) + id.Phase[1:]
}

// IdentityText is the identity's words in one page's language (In), as
// HTML to put in a page or pass to a message ({{.T "id" "Name" ...}}
// keeps HTML arguments as they are).
type IdentityText struct {
	DataController template.HTML
	// DPOName is the data protection officer's name or role.
	DPOName template.HTML
	// OpeningHours are the contact telephone's.
	OpeningHours template.HTML
	// PostalAddress is the address's lines, the postcode last.
	PostalAddress []template.HTML
	// OrderOpeningHours are the alternative order telephone's.
	OrderOpeningHours template.HTML
}

// In is the identity's words in a page's language, for the templates:
// {{with .Service.In .Lang}}{{.OpeningHours}}{{end}}. On a Welsh page each
// is the Welsh value where the file gives one; where it does not, the
// English one inside <span lang="en">, so that a screen reader reads it
// as English rather than mispronounce it as Welsh (WCAG 3.1.2, language
// of parts). Every value is escaped: the file's text is never markup.
func (id Identity) In(l lang) IdentityText {
	t := IdentityText{
		DataController:    inLang(l, id.DataController, id.DataControllerCY),
		DPOName:           inLang(l, id.DPO.Name, id.DPO.NameCY),
		OpeningHours:      inLang(l, id.Contact.OpeningHours, id.Contact.OpeningHoursCY),
		OrderOpeningHours: inLang(l, id.AlternativeOrder.OpeningHours, id.AlternativeOrder.OpeningHoursCY),
	}
	lines, welsh := id.Contact.PostalAddress, l == langCY && len(id.Contact.PostalAddressCY) > 0
	if welsh {
		lines = id.Contact.PostalAddressCY
	}
	for _, line := range lines {
		if welsh {
			t.PostalAddress = append(t.PostalAddress, inLang(l, "", line))
		} else {
			t.PostalAddress = append(t.PostalAddress, inLang(l, line, ""))
		}
	}
	return t
}

// AddressLines is the postal address as a block, a line each.
func (t IdentityText) AddressLines() template.HTML { return joinHTML(t.PostalAddress, "<br>") }

// AddressInline is the postal address on one line, the lines separated by
// commas, for inside a sentence.
func (t IdentityText) AddressInline() template.HTML { return joinHTML(t.PostalAddress, ", ") }

func joinHTML(parts []template.HTML, sep string) template.HTML {
	var b strings.Builder
	for i, p := range parts {
		if i > 0 {
			b.WriteString(sep)
		}
		b.WriteString(string(p))
	}
	return template.HTML(b.String())
}

// inLang is en or its Welsh cy as the language l shows it: escaped, and
// English on a Welsh page marked as English. An empty value stays empty.
func inLang(l lang, en, cy string) template.HTML {
	switch {
	case l == langCY && cy != "":
		return template.HTML(template.HTMLEscapeString(cy))
	case l == langCY && en != "":
		return template.HTML(`<span lang="en">` + template.HTMLEscapeString(en) + `</span>`)
	}
	return template.HTML(template.HTMLEscapeString(en))
}

// isZero says that no field is set: Config's "use the default".
func (id Identity) isZero() bool { return reflect.ValueOf(id).IsZero() }

// DefaultIdentity is used when SERVICE_IDENTITY_FILE is not set: a
// coherent example organisation, marked as an example on the pages, so
// that a development run looks complete. Its addresses are under
// example.org (RFC 2606), its phone number in Ofcom's range kept for
// drama (0808 157 0000–0999) and its postcode area, ZZ, is not used in
// the UK: none reaches anybody. An operator must supply the real one; the
// intake warns at start-up until they do.
func DefaultIdentity() Identity {
	return Identity{
		DataController:   "Example Election Information Office",
		DataControllerCY: "Swyddfa Enghreifftiol Gwybodaeth am Etholiadau",
		DPO: DPO{
			Name:   "Data Protection Officer, Example Election Information Office",
			NameCY: "Swyddog Diogelu Data, Swyddfa Enghreifftiol Gwybodaeth am Etholiadau",
			Email:  "dpo@election-booklets.example.org",
		},
		Contact: Contact{
			Email:          "help@election-booklets.example.org",
			Phone:          "0808 157 0192",
			OpeningHours:   "Monday to Friday, 9am to 5pm (except bank holidays)",
			OpeningHoursCY: "Dydd Llun i ddydd Gwener, 9am i 5pm (ac eithrio gwyliau banc)",
			PostalAddress: []string{
				"Election Information Booklets",
				"Example Election Information Office",
				"1 Example Street",
				"Exampletown",
				"ZZ1 1ZZ",
			},
			PostalAddressCY: []string{
				"Llyfrynnau Gwybodaeth Etholiad",
				"Swyddfa Enghreifftiol Gwybodaeth am Etholiadau",
				"1 Stryd Enghreifftiol",
				"Trefenghraifft",
				"ZZ1 1ZZ",
			},
		},
		AlternativeOrder: AlternativeOrder{
			Phone:          "0808 157 0192",
			OpeningHours:   "Monday to Friday, 9am to 5pm (except bank holidays)",
			OpeningHoursCY: "Dydd Llun i ddydd Gwener, 9am i 5pm (ac eithrio gwyliau banc)",
			Post:           true,
		},
		FeedbackURL: "https://election-booklets.example.org/feedback",
		Phase:       "beta",
		ServiceURL:  "https://election-booklets.example.org/",
		Example:     true,
	}
}

// LoadIdentity reads and checks the identity file at path; an empty path
// is DefaultIdentity. Unknown fields are refused, so that a misspelt one is
// not silently left at nothing.
func LoadIdentity(path string) (Identity, error) {
	if path == "" {
		return DefaultIdentity(), nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return Identity{}, fmt.Errorf("service identity: %w", err)
	}
	id, err := ParseIdentity(b)
	if err != nil {
		return Identity{}, fmt.Errorf("service identity %s: %w", path, err)
	}
	return id, nil
}

// ParseIdentity decodes and validates an identity file's content.
func ParseIdentity(b []byte) (Identity, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var id Identity
	if err := dec.Decode(&id); err != nil {
		return Identity{}, fmt.Errorf("not valid JSON for a service identity: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Identity{}, errors.New("not valid JSON for a service identity: more than one value")
	}
	id.trim()
	if err := id.Validate(); err != nil {
		return Identity{}, err
	}
	return id, nil
}

// trim removes the spaces around every value: they are typed by hand.
func (id *Identity) trim() {
	for _, p := range []*string{&id.DataController, &id.DataControllerCY, &id.DPO.Name, &id.DPO.NameCY, &id.DPO.Email,
		&id.Contact.Email, &id.Contact.Phone, &id.Contact.OpeningHours, &id.Contact.OpeningHoursCY,
		&id.AlternativeOrder.Phone, &id.AlternativeOrder.OpeningHours, &id.AlternativeOrder.OpeningHoursCY,
		&id.FeedbackURL, &id.Phase, &id.ServiceURL} {
		*p = strings.TrimSpace(*p)
	}
	id.Contact.PostalAddress = trimLines(id.Contact.PostalAddress)
	id.Contact.PostalAddressCY = trimLines(id.Contact.PostalAddressCY)
}

// trimLines are an address's lines without the spaces around them and
// without the empty ones.
func trimLines(in []string) []string {
	var lines []string
	for _, l := range in {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// IdentityError is a field of the identity that is missing or not of the
// right shape. Field is its JSON name ("contact.email").
type IdentityError struct {
	Field, Problem string
}

func (e *IdentityError) Error() string { return e.Field + ": " + e.Problem }

// Validate checks every field; the first problem is returned as an
// *IdentityError naming the field.
func (id Identity) Validate() error {
	required := []struct{ field, value string }{
		{"data_controller", id.DataController},
		{"data_protection_officer.name", id.DPO.Name},
		{"contact.phone", id.Contact.Phone},
		{"contact.opening_hours", id.Contact.OpeningHours},
	}
	for _, r := range required {
		if r.value == "" {
			return &IdentityError{r.field, "is required"}
		}
	}
	for _, e := range []struct{ field, value string }{
		{"data_protection_officer.email", id.DPO.Email},
		{"contact.email", id.Contact.Email},
	} {
		if err := checkEmail(e.value); err != nil {
			return &IdentityError{e.field, err.Error()}
		}
	}
	if err := checkPhone(id.Contact.Phone); err != nil {
		return &IdentityError{"contact.phone", err.Error()}
	}
	if len(id.Contact.PostalAddress) < 2 {
		return &IdentityError{"contact.postal_address", "needs at least 2 lines (the last the postcode)"}
	}
	if cy := id.Contact.PostalAddressCY; len(cy) > 0 {
		// The Welsh form is the same address: a letter written to either
		// must arrive, so the postcode (the last line) is the same.
		if len(cy) < 2 {
			return &IdentityError{"contact.postal_address_cy", "needs at least 2 lines (the last the postcode), or none"}
		}
		en := id.Contact.PostalAddress
		if !strings.EqualFold(strings.Join(strings.Fields(cy[len(cy)-1]), " "), strings.Join(strings.Fields(en[len(en)-1]), " ")) {
			return &IdentityError{"contact.postal_address_cy", fmt.Sprintf("ends with %q, not the postcode of contact.postal_address (%q)", cy[len(cy)-1], en[len(en)-1])}
		}
	}
	alt := id.AlternativeOrder
	if alt.Phone == "" && !alt.Post {
		return &IdentityError{"alternative_order", "must offer a phone number, post (\"post\": true), or both"}
	}
	if alt.Phone != "" {
		if err := checkPhone(alt.Phone); err != nil {
			return &IdentityError{"alternative_order.phone", err.Error()}
		}
		if alt.OpeningHours == "" {
			return &IdentityError{"alternative_order.opening_hours", "is required with alternative_order.phone"}
		}
	}
	// A Welsh value translates an English one: without the English, an
	// English page would have nothing to show.
	if alt.OpeningHoursCY != "" && alt.OpeningHours == "" {
		return &IdentityError{"alternative_order.opening_hours_cy", "is the Welsh of alternative_order.opening_hours, which is not given"}
	}
	for _, u := range []struct{ field, value string }{
		{"feedback_url", id.FeedbackURL},
		{"service_url", id.ServiceURL},
	} {
		if err := checkURL(u.value); err != nil {
			return &IdentityError{u.field, err.Error()}
		}
	}
	switch id.Phase {
	case "alpha", "beta", "":
	default:
		return &IdentityError{"phase", fmt.Sprintf("%q is not a phase: use \"alpha\", \"beta\" or \"\" (live)", id.Phase)}
	}
	return nil
}

// emailShape is an address as a mailto: link can carry it as it is: a
// local part of letters, digits and . _ + ' -, and a domain with a dot.
// (RFC 5322 allows more, but '?', '&', '%' or '#' would change the link.)
var emailShape = regexp.MustCompile(`^[A-Za-z0-9._+'-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$`)

// checkEmail accepts a bare address (no display name, no angle brackets).
func checkEmail(s string) error {
	if s == "" {
		return errors.New("is required")
	}
	if !emailShape.MatchString(s) {
		return fmt.Errorf("%q is not an e-mail address (write it bare, as name@example.org)", s)
	}
	return nil
}

// checkPhone accepts a UK or international number as people write it:
// digits, spaces, one leading '+', brackets and hyphens, 10 to 15 digits.
func checkPhone(s string) error {
	digits := 0
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case r == ' ' || r == '(' || r == ')' || r == '-':
		case r == '+' && i == 0:
		default:
			return fmt.Errorf("%q is not a phone number: use digits and spaces, as 0808 157 0192", s)
		}
	}
	if digits < 10 || digits > 15 {
		return fmt.Errorf("%q is not a phone number: it has %d digits, not 10 to 15", s, digits)
	}
	return nil
}

// checkURL accepts an absolute http or https address with a host.
func checkURL(s string) error {
	if s == "" {
		return errors.New("is required")
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return fmt.Errorf("%q is not an absolute http(s) address, as https://www.example.org/feedback", s)
	}
	return nil
}
