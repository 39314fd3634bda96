// Package volunteer is the user-research sign-up: people who agree to be
// invited to take part in research about the service, giving a name, an
// email address, or both.
//
// It is a second, separate use of personal data with its own lawful basis
// (consent, UK GDPR Art 6(1)(a)), so it is kept apart from orders in every
// way: the sign-up carries nothing of an order, the store keeps it in its
// own schema with no column that could join it to one, and the dates it
// keeps are calendar dates, not instants, so that a sign-up made from the
// confirmation page cannot be matched to the order placed a second before.
//
// Each sign-up gets a withdrawal code, shown once. Only its SHA-256 hash is
// stored, so the database cannot give it back. Entries are reviewed every
// ReviewPeriod: kept for another period, or deleted.
//
// This package imports no driver; pkg/adapter/postgres keeps entries in
// PostgreSQL, each one's name and email sealed under a key of its own that
// is deleted with the entry. Nothing here puts a name or an email address
// in an error.
package research

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/mail"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"booklets/pkg/domain/businessday"
	"booklets/pkg/domain/validation"
)

// Purpose is the one purpose the sign-up is for. It is stored with every
// entry so that the list can never quietly be used for anything else.
const Purpose = "user_research"

// ConsentVersion names the wording in ConsentText. Change both together:
// every entry records the version its person agreed to, so a new wording
// needs a new version (and the old wording kept in docs/research.md).
const ConsentVersion = "research-consent-v1"

// ConsentText is the exact statement a person agrees to by ticking the box.
const ConsentText = "I agree that the election booklets team may keep the name and email address I give here " +
	"to invite me to take part in user research about this service. My details will be kept apart from my order, " +
	"will not be shared with the print partner, and will be deleted when I withdraw or when they are no longer needed. " +
	"I can withdraw at any time."

// ConsentVersionWelsh and ConsentTextWelsh are the same statement in
// Welsh, shown on the Welsh pages (issue 18): a person agrees to the words
// they read, and the entry records which language's words those were by
// the version, with no column of its own. The Welsh awaits a translator's
// review like the pages' texts; a reviewed wording that says anything new
// is a new version, as for the English.
const (
	ConsentVersionWelsh = "research-consent-v1-cy"
	ConsentTextWelsh    = "Rwy’n cytuno y caiff tîm y llyfrynnau etholiad gadw’r enw a’r cyfeiriad e-bost rwy’n eu rhoi yma " +
		"er mwyn fy ngwahodd i gymryd rhan mewn ymchwil defnyddwyr am y gwasanaeth hwn. Bydd fy manylion yn cael eu cadw " +
		"ar wahân i’m harcheb, ni fyddant yn cael eu rhannu â’r partner argraffu, a byddant yn cael eu dileu pan fyddaf " +
		"yn tynnu’n ôl neu pan nad oes eu hangen mwyach. Gallaf dynnu’n ôl ar unrhyw adeg."
)

// ConsentIn is the current wording in a language, by its ISO 639-1 code,
// and its version: Welsh for "cy", English for any other.
func ConsentIn(language string) (text, version string) {
	if language == "cy" {
		return ConsentTextWelsh, ConsentVersionWelsh
	}
	return ConsentText, ConsentVersion
}

// currentConsent tells whether a version names a wording shown today, in
// either language.
func currentConsent(version string) bool {
	return version == ConsentVersion || version == ConsentVersionWelsh
}

// ReviewYears is how long an entry is kept before someone must decide
// whether it is still needed.
const ReviewYears = 2

// Form field names, also the ids of the page's inputs (an error summary
// links to them).
const (
	FieldName    = "research_name"
	FieldEmail   = "research_email"
	FieldConsent = "research_consent"
	FieldCode    = "withdraw"
)

// Limits, in characters.
const (
	MaxNameLen  = 100
	MaxEmailLen = 254 // RFC 5321's limit on a path, less the angle brackets
	maxLocalLen = 64
)

// FieldError and ValidationError are validation's types, the same ones an
// order's validation returns (aliases), so the front end shows a sign-up's
// errors exactly as it shows an order's.
type (
	FieldError      = validation.FieldError
	ValidationError = validation.Errors
)

// The messages, in GOV.UK's style.
const (
	MsgNameOrEmail   = "Enter your name or your email address, or both"
	MsgNameTooLong   = "Name must be 100 characters or fewer"
	MsgNameInvalid   = "Name must not contain special characters such as line breaks"
	MsgEmailFormat   = "Enter an email address in the correct format, like name@example.com"
	MsgEmailTooLong  = "Email address must be 254 characters or fewer"
	MsgConsent       = "Select that you agree to be contacted about user research"
	MsgConsentChange = "The consent wording has changed since the page was opened. Read it again and select that you agree"
	MsgWithdrawEmpty = "Enter your withdrawal code or the email address you signed up with"
	MsgCodeFormat    = "Enter the withdrawal code as it was shown, like ABCD-EFGH-JKMN-PQRS"
)

// Draft is a sign-up as submitted.
type Draft struct {
	Name    string
	Email   string
	Consent bool
	// ConsentVersion is the version of the wording the form showed, in
	// the language it showed it. Empty means the current English one.
	ConsentVersion string
}

// SignUp is a valid sign-up: cleaned, with at least a name or an email.
type SignUp struct {
	Name           string // "" if not given
	Email          string // "" if not given; normalised (see NormaliseEmail)
	ConsentVersion string
}

// Validate checks a draft and returns the cleaned sign-up, or a
// ValidationError naming every problem.
func (d Draft) Validate() (SignUp, error) {
	var errs ValidationError
	name := cleanName(d.Name)
	email := strings.TrimSpace(d.Email)
	switch {
	case name == "" && email == "":
		errs.Add(FieldName, MsgNameOrEmail)
	case utf8.RuneCountInString(name) > MaxNameLen:
		errs.Add(FieldName, MsgNameTooLong)
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		errs.Add(FieldName, MsgNameInvalid)
	}
	if email != "" {
		var err error
		if email, err = NormaliseEmail(email); err != nil {
			msg := MsgEmailFormat
			if errors.Is(err, errEmailTooLong) {
				msg = MsgEmailTooLong
			}
			errs.Add(FieldEmail, msg)
		}
	}
	switch {
	case !d.Consent:
		errs.Add(FieldConsent, MsgConsent)
	case d.ConsentVersion != "" && !currentConsent(d.ConsentVersion):
		errs.Add(FieldConsent, MsgConsentChange)
	}
	if len(errs) > 0 {
		return SignUp{}, errs
	}
	// The version shown is the one recorded: it says which language's
	// words the person agreed to.
	version := d.ConsentVersion
	if version == "" {
		version = ConsentVersion
	}
	return SignUp{Name: name, Email: email, ConsentVersion: version}, nil
}

// cleanName trims, puts the name in Unicode NFC and collapses runs of
// spaces. Control characters are kept (and then refused) rather than
// silently removed.
func cleanName(s string) string {
	s = norm.NFC.String(s)
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == '\t' || r == '\u00a0' }), " ")
}

var (
	errEmailFormat  = errors.New("email address is not in the correct format")
	errEmailTooLong = errors.New("email address is too long")
)

// NormaliseEmail checks an email address and returns it in the form it is
// stored and compared in: trimmed and lower-cased. It accepts what people
// type, a bare addr-spec such as name@example.com; not a display name, a
// comment, a quoted local part, an IP-literal domain or a domain without a
// dot, which net/mail allows but no one means when asked for their email.
//
// Lower-casing the local part is strictly speaking lossy, but no mailbox
// provider in practice treats case as significant, and a withdrawal by
// email must find the entry however the person types it.
func NormaliseEmail(s string) (string, error) {
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) > MaxEmailLen {
		return "", errEmailTooLong
	}
	if s == "" || strings.ContainsAny(s, " \t\r\n<>()[]\\,;:\"") {
		return "", errEmailFormat
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return "", errEmailFormat
	}
	local, domain, ok := strings.Cut(s, "@")
	if !ok || local == "" || strings.Contains(domain, "@") || utf8.RuneCountInString(local) > maxLocalLen {
		return "", errEmailFormat
	}
	if strings.HasPrefix(local, ".") || strings.HasSuffix(local, ".") || strings.Contains(local, "..") {
		return "", errEmailFormat
	}
	labels := strings.Split(domain, ".")
	if len(labels) < 2 {
		return "", errEmailFormat
	}
	for _, l := range labels {
		if !validLabel(l) {
			return "", errEmailFormat
		}
	}
	tld := labels[len(labels)-1]
	if len(tld) < 2 || strings.IndexFunc(tld, unicode.IsDigit) >= 0 && !strings.HasPrefix(strings.ToLower(tld), "xn--") {
		return "", errEmailFormat
	}
	return strings.ToLower(norm.NFC.String(s)), nil
}

// validLabel is a DNS label: 1 to 63 letters, digits or hyphens, not
// starting or ending with a hyphen. Letters may be non-ASCII
// (internationalised domain names typed as people see them).
func validLabel(l string) bool {
	if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for _, r := range l {
		if r != '-' && !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			return false
		}
	}
	return true
}

// Withdrawal codes are 16 characters of Crockford's base32 (80 random
// bits), shown in groups of four. Crockford's alphabet leaves out I, L, O
// and U, so a code read aloud or copied by hand is hard to get wrong.
const codeAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// CodeLen is the number of characters in a withdrawal code.
const CodeLen = 16

// NewCode returns a fresh withdrawal code, formatted for showing.
func NewCode() string {
	var b [CodeLen]byte
	rand.Read(b[:]) // never fails since Go 1.24
	var out strings.Builder
	for i, c := range b {
		if i > 0 && i%4 == 0 {
			out.WriteByte('-')
		}
		out.WriteByte(codeAlphabet[c&31]) // 256 is a multiple of 32: no bias
	}
	return out.String()
}

// NormaliseCode reads a code as a person may type it: any case, with or
// without hyphens and spaces, with O for 0 and I or L for 1. It reports
// false if what is left is not a code.
func NormaliseCode(s string) (string, bool) {
	var out strings.Builder
	for _, r := range strings.ToUpper(s) {
		switch r {
		case '-', ' ', '\t':
			continue
		case 'O':
			r = '0'
		case 'I', 'L':
			r = '1'
		}
		if r > unicode.MaxASCII || !strings.ContainsRune(codeAlphabet, r) {
			return "", false
		}
		out.WriteRune(r)
	}
	if out.Len() != CodeLen {
		return "", false
	}
	return out.String(), true
}

// HashCode is what the store keeps of a code: SHA-256 over a label and the
// normalised code, in hex. 80 random bits cannot be found from it by trying,
// so the hash neither reveals a code nor lets anyone make one that matches.
// It returns false if s is not a code.
func HashCode(s string) (string, bool) {
	c, ok := NormaliseCode(s)
	if !ok {
		return "", false
	}
	h := sha256.Sum256([]byte("booklets/volunteer-withdrawal-code/v1\x00" + c))
	return hex.EncodeToString(h[:]), true
}

// LooksLikeEmail tells a withdrawal request by email from one by code.
func LooksLikeEmail(s string) bool { return strings.Contains(s, "@") }

// Today is the London calendar date of t: the only precision the store
// keeps of when someone signed up or was reviewed.
func Today(t time.Time) businessday.Date { return businessday.LondonDate(t) }

// ReviewDue is when an entry signed up, or last kept, on the given date
// must next be reviewed: ReviewYears later. A 29 February becomes 1 March.
func ReviewDue(from businessday.Date) businessday.Date {
	return businessday.FromTime(from.UTC().AddDate(ReviewYears, 0, 0))
}

// Decision is the outcome of a review.
type Decision string

// The review decisions.
const (
	Keep   Decision = "keep"
	Delete Decision = "delete"
)

// Entry is a stored sign-up. Name and Email are personal data: only
// Show-style operations return them.
type Entry struct {
	ID             string
	Name           string
	Email          string
	Purpose        string
	ConsentVersion string
	SignedUpOn     businessday.Date
	ReviewDueOn    businessday.Date
	LastReviewOn   businessday.Date // zero if never reviewed
	LastDecision   Decision         // "" if never reviewed
	FlaggedAt      *time.Time       // when the daily job found the review due
}

// Summary is an entry without its personal data: what lists, logs, the
// operator's list and the auditors' page may show.
type Summary struct {
	ID             string
	ConsentVersion string
	SignedUpOn     businessday.Date
	ReviewDueOn    businessday.Date
	LastReviewOn   businessday.Date
	FlaggedAt      *time.Time
	HasName        bool
	HasEmail       bool
}

// Receipt is what a person gets back from signing up. Code is shown to
// them once and never stored.
type Receipt struct {
	ID   string
	Code string
}

// Errors callers tell apart with errors.Is.
var (
	ErrNotFound = errors.New("volunteer not found")
)
