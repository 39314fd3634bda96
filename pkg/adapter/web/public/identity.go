package public

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
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
type Identity struct {
	// DataController is the organisation that controls the personal data
	// (UK GDPR), named in the privacy notice.
	DataController string `json:"data_controller"`
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
	Name  string `json:"name"`
	Email string `json:"email"`
}

// Contact is how to reach the team that runs the service.
type Contact struct {
	Email        string `json:"email"`
	Phone        string `json:"phone"`
	OpeningHours string `json:"opening_hours"`
	// PostalAddress is the lines of the address, the postcode last.
	PostalAddress []string `json:"postal_address"`
}

// AlternativeOrder is the other way to order. At least one of Phone and
// Post is offered.
type AlternativeOrder struct {
	// Phone is the number to order by phone ("" when not offered);
	// OpeningHours, when its lines are open.
	Phone        string `json:"phone"`
	OpeningHours string `json:"opening_hours"`
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
		DataController: "Example Election Information Office",
		DPO: DPO{
			Name:  "Data Protection Officer, Example Election Information Office",
			Email: "dpo@election-booklets.example.org",
		},
		Contact: Contact{
			Email:        "help@election-booklets.example.org",
			Phone:        "0808 157 0192",
			OpeningHours: "Monday to Friday, 9am to 5pm (except bank holidays)",
			PostalAddress: []string{
				"Election Information Booklets",
				"Example Election Information Office",
				"1 Example Street",
				"Exampletown",
				"ZZ1 1ZZ",
			},
		},
		AlternativeOrder: AlternativeOrder{
			Phone:        "0808 157 0192",
			OpeningHours: "Monday to Friday, 9am to 5pm (except bank holidays)",
			Post:         true,
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
	for _, p := range []*string{&id.DataController, &id.DPO.Name, &id.DPO.Email, &id.Contact.Email,
		&id.Contact.Phone, &id.Contact.OpeningHours, &id.AlternativeOrder.Phone,
		&id.AlternativeOrder.OpeningHours, &id.FeedbackURL, &id.Phase, &id.ServiceURL} {
		*p = strings.TrimSpace(*p)
	}
	lines := id.Contact.PostalAddress[:0]
	for _, l := range id.Contact.PostalAddress {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	id.Contact.PostalAddress = lines
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
