package research_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"booklets/pkg/stage/research"
)

// store is a research.Store in memory that records what it was asked.
type store struct {
	signUps         []research.SignUp
	byCode, byEmail []string
	sealFailures    int // SealPlaintext fails this many times first
	sealCalls       int
}

func (s *store) SignUp(_ context.Context, v research.SignUp) (research.Receipt, error) {
	s.signUps = append(s.signUps, v)
	return research.Receipt{ID: "v1", Code: research.NewCode()}, nil
}
func (s *store) WithdrawByCode(_ context.Context, c string) (int, error) {
	s.byCode = append(s.byCode, c)
	return 0, nil
}
func (s *store) WithdrawByEmail(_ context.Context, e string) (int, error) {
	s.byEmail = append(s.byEmail, e)
	return 1, nil
}
func (s *store) SealPlaintext(context.Context) (int, error) {
	s.sealCalls++
	if s.sealCalls <= s.sealFailures {
		return 0, errors.New("relation research.volunteers does not exist")
	}
	return 3, nil
}

// TestServiceSignUp: an invalid draft is refused with every field named
// and nothing stored; a valid one is stored cleaned.
func TestServiceSignUp(t *testing.T) {
	st := &store{}
	svc := research.NewService(st)
	_, err := svc.SignUp(context.Background(), research.Draft{Email: "not an address"})
	var verr research.ValidationError
	if !errors.As(err, &verr) || verr.For(research.FieldEmail) == "" || verr.For(research.FieldConsent) == "" || len(st.signUps) != 0 {
		t.Fatalf("invalid draft: %v, stored %d", err, len(st.signUps))
	}
	r, err := svc.SignUp(context.Background(), research.Draft{Name: "  Ann   Lee ", Email: "Ann@Example.org", Consent: true})
	if err != nil || r.Code == "" || len(st.signUps) != 1 || st.signUps[0].Name != "Ann Lee" || st.signUps[0].Email != "ann@example.org" {
		t.Fatalf("valid draft: %+v %v, stored %+v", r, err, st.signUps)
	}
}

// TestServiceWithdraw: what was typed is checked only for its form; a
// code or an address in the right form is withdrawn, whatever it matches.
func TestServiceWithdraw(t *testing.T) {
	st := &store{}
	svc := research.NewService(st)
	for typed, msg := range map[string]string{
		"   ":       research.MsgWithdrawEmpty,
		"a@b":       research.MsgEmailFormat,
		"ABCD-EFGH": research.MsgCodeFormat,
	} {
		var verr research.ValidationError
		if err := svc.Withdraw(context.Background(), typed); !errors.As(err, &verr) || verr.For(research.FieldCode) != msg {
			t.Errorf("Withdraw(%q) = %v, want %q", typed, err, msg)
		}
	}
	if len(st.byCode)+len(st.byEmail) != 0 {
		t.Fatal("a malformed request reached the store")
	}
	code := research.NewCode()
	if err := svc.Withdraw(context.Background(), " "+strings.ToLower(code)+" "); err != nil {
		t.Fatal(err)
	}
	if err := svc.Withdraw(context.Background(), "ann@example.org"); err != nil {
		t.Fatal(err)
	}
	if len(st.byCode) != 1 || st.byCode[0] != strings.ToLower(code) || len(st.byEmail) != 1 {
		t.Errorf("withdrawn by code %v, by email %v", st.byCode, st.byEmail)
	}
}

// TestSealLegacyRetries: while the schema is missing it retries, and then
// logs the count only.
func TestSealLegacyRetries(t *testing.T) {
	st := &store{sealFailures: 1}
	var logs bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	research.SealLegacy(ctx, st, zerolog.New(&logs))
	if st.sealCalls != 2 || !strings.Contains(logs.String(), `"sealed":3`) || !strings.Contains(logs.String(), "retrying") {
		t.Errorf("%d calls, logs %s", st.sealCalls, logs.String())
	}
}
