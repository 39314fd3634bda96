package research

import (
	"testing"
	"time"

	"booklets/pkg/testkit/redaction"
)

func TestSignUpsAreNeverPrintedOrLogged(t *testing.T) {
	// Lower case, as NormaliseEmail stores an email address; in every
	// field that holds personal data, so that any one printed is found.
	const marker = "marker-zq7"
	email := marker + "@example.org"
	today := Today(time.Now())
	cases := map[string]struct {
		v      any
		marker string
	}{
		"Draft":   {Draft{Name: "Ann " + marker, Email: marker + "@example.org", Consent: true, ConsentVersion: marker}, marker},
		"SignUp":  {SignUp{Name: "Ann " + marker, Email: email, ConsentVersion: ConsentVersion}, marker},
		"Entry":   {Entry{ID: "v-1", Name: "Ann " + marker, Email: email, Purpose: Purpose, ConsentVersion: ConsentVersion, SignedUpOn: today, ReviewDueOn: ReviewDue(today)}, marker},
		"Receipt": {Receipt{ID: "v-1", Code: "MARK-ERZQ-7000-0000"}, "MARK-ERZQ"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) { redaction.NoLeak(t, c.v, c.marker) })
	}
}
