package public

import (
	"context"
	"net/http"
	"strings"

	"booklets/pkg/domain/order"
	"booklets/pkg/stage/research"
)

// Volunteers is where user-research sign-ups are kept
// (pkg/adapter/postgres). The web adapter only adds and withdraws; reviews
// are the reconciler's.
type Volunteers interface {
	SignUp(ctx context.Context, v research.SignUp) (research.Receipt, error)
	WithdrawByCode(ctx context.Context, code string) (int, error)
	WithdrawByEmail(ctx context.Context, email string) (int, error)
}

// researchData is what the research pages show. The sign-up never carries
// anything of an order: the form on the confirmation page posts only its
// own three fields, so no order reference travels with it.
type researchData struct {
	Enabled        bool
	ConsentText    string
	ConsentVersion string
	Draft          research.Draft
	Code           string // the withdrawal code, on the page shown after signing up
	Withdraw       string // what was typed on the withdrawal page, re-shown on error
}

// researchRoutes adds the research pages when a volunteer store is
// configured; without one they do not exist (404) and no page links to them.
func (s *Server) researchRoutes(handle func(string, func(http.ResponseWriter, *http.Request) error)) {
	if s.research == nil {
		return
	}
	handle("GET /research", s.researchPage)
	handle("POST /research/sign-up", s.researchSignUp)
	handle("GET /research/sign-up", s.researchBack)
	handle("GET /research/withdraw", s.withdrawPage)
	handle("POST /research/withdraw", s.withdrawSubmit)
}

const (
	researchTitle  = "Take part in user research"
	withdrawTitle  = "Stop taking part in user research"
	signedUpTitle  = "You have signed up for user research"
	withdrawnTitle = "Your request has been received"
)

func (s *Server) researchPage(w http.ResponseWriter, r *http.Request) error {
	s.render(w, r, http.StatusOK, "volunteer_signup.html", pageData{Title: researchTitle})
	return nil
}

// researchBack answers a GET of the sign-up's action (a refresh after the
// post was forgotten, a bookmark) with the sign-up page.
func (s *Server) researchBack(w http.ResponseWriter, r *http.Request) error {
	http.Redirect(w, r, "/research", http.StatusSeeOther)
	return nil
}

// researchSignUp stores a sign-up and shows its withdrawal code, once. The
// code is in the page only: not in a URL, a cookie or a log.
func (s *Server) researchSignUp(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return &badRequestError{detail: "The form could not be read."}
	}
	f := r.PostForm
	d := research.Draft{
		Name:           f.Get(research.FieldName),
		Email:          f.Get(research.FieldEmail),
		Consent:        f.Get(research.FieldConsent) == "yes",
		ConsentVersion: f.Get("consent_version"),
	}
	v, err := d.Validate()
	if err != nil {
		verr, ok := err.(research.ValidationError)
		if !ok {
			return err
		}
		// A changed wording must be read again: untick the box.
		if d.ConsentVersion != research.ConsentVersion {
			d.Consent = false
		}
		s.render(w, r, http.StatusOK, "volunteer_signup.html", pageData{
			Title: researchTitle, Errors: verr, Research: researchData{Draft: d},
		})
		return nil
	}
	receipt, err := s.research.SignUp(r.Context(), v)
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "volunteer_done.html", pageData{Title: signedUpTitle, Research: researchData{Code: receipt.Code}})
	return nil
}

func (s *Server) withdrawPage(w http.ResponseWriter, r *http.Request) error {
	s.render(w, r, http.StatusOK, "volunteer_withdraw.html", pageData{Title: withdrawTitle})
	return nil
}

// withdrawSubmit deletes at once whatever the code or the email address
// matches, and then says the same thing whether anything matched or not,
// so that the page cannot be used to find out who has signed up. Only the
// form of what was typed is checked, so that a typing mistake is shown.
func (s *Server) withdrawSubmit(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return &badRequestError{detail: "The form could not be read."}
	}
	typed := strings.TrimSpace(r.PostForm.Get(research.FieldCode))
	var msg string
	switch {
	case typed == "":
		msg = research.MsgWithdrawEmpty
	case research.LooksLikeEmail(typed):
		if _, err := research.NormaliseEmail(typed); err != nil {
			msg = research.MsgEmailFormat
		}
	default:
		if _, ok := research.NormaliseCode(typed); !ok {
			msg = research.MsgCodeFormat
		}
	}
	if msg != "" {
		s.render(w, r, http.StatusOK, "volunteer_withdraw.html", pageData{
			Title:    withdrawTitle,
			Errors:   order.ValidationError{{Field: research.FieldCode, Message: msg}},
			Research: researchData{Withdraw: typed},
		})
		return nil
	}
	var err error
	if research.LooksLikeEmail(typed) {
		_, err = s.research.WithdrawByEmail(r.Context(), typed)
	} else {
		_, err = s.research.WithdrawByCode(r.Context(), typed)
	}
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "volunteer_withdrawn.html", pageData{Title: withdrawnTitle})
	return nil
}
