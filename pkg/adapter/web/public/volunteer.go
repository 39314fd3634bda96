package public

import (
	"errors"
	"net/http"
	"strings"

	"booklets/pkg/stage/research"
)

// The research pages translate the forms into pkg/stage/research's use
// cases (sign up, withdraw) and their outcomes into pages; reviews are the
// reconciler's.

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

// The pages' titles, message ids ([research] of locales/{en,cy}.toml).
const (
	researchTitle  = "research.signup.title"
	withdrawTitle  = "research.withdraw.title"
	signedUpTitle  = "research.done.title"
	withdrawnTitle = "research.withdrawn.title"
)

func (s *Server) researchPage(w http.ResponseWriter, r *http.Request) error {
	s.render(w, r, http.StatusOK, "volunteer_signup.html", pageData{Title: researchTitle})
	return nil
}

// researchBack answers a GET of the sign-up's action (a refresh after the
// post was forgotten, a bookmark) with the sign-up page, in its language.
func (s *Server) researchBack(w http.ResponseWriter, r *http.Request) error {
	s.redirect(w, r, "/research")
	return nil
}

// researchSignUp stores a sign-up and shows its withdrawal code, once. The
// code is in the page only: not in a URL, a cookie or a log.
func (s *Server) researchSignUp(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return &badRequestError{id: "form_unreadable"}
	}
	f := r.PostForm
	// The wording this page's language shows, and so the one a post
	// without a version (not our form's) was answering.
	_, shown := research.ConsentIn(string(infoFrom(r.Context()).lang))
	d := research.Draft{
		Name:           f.Get(research.FieldName),
		Email:          f.Get(research.FieldEmail),
		Consent:        f.Get(research.FieldConsent) == "yes",
		ConsentVersion: f.Get("consent_version"),
	}
	if d.ConsentVersion == "" {
		d.ConsentVersion = shown
	}
	receipt, err := s.research.SignUp(r.Context(), d)
	var verr research.ValidationError
	switch {
	case errors.As(err, &verr):
		// A changed wording, or another language's, must be read again
		// in the words the page now shows: untick the box.
		if d.ConsentVersion != shown {
			d.Consent = false
		}
		s.render(w, r, http.StatusOK, "volunteer_signup.html", pageData{
			Title: researchTitle, Errors: verr, Research: researchData{Draft: d},
		})
		return nil
	case err != nil:
		return err
	}
	s.render(w, r, http.StatusOK, "volunteer_done.html", pageData{Title: signedUpTitle, Research: researchData{Code: receipt.Code}})
	return nil
}

func (s *Server) withdrawPage(w http.ResponseWriter, r *http.Request) error {
	s.render(w, r, http.StatusOK, "volunteer_withdraw.html", pageData{Title: withdrawTitle})
	return nil
}

// withdrawSubmit withdraws whatever the code or the email address matches
// (research.Service.Withdraw), and then says the same thing whether
// anything matched or not, so that the page cannot be used to find out who
// has signed up. A typing mistake is shown, with what was typed.
func (s *Server) withdrawSubmit(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return &badRequestError{id: "form_unreadable"}
	}
	typed := strings.TrimSpace(r.PostForm.Get(research.FieldCode))
	err := s.research.Withdraw(r.Context(), typed)
	var verr research.ValidationError
	switch {
	case errors.As(err, &verr):
		s.render(w, r, http.StatusOK, "volunteer_withdraw.html", pageData{
			Title:    withdrawTitle,
			Errors:   verr,
			Research: researchData{Withdraw: typed},
		})
		return nil
	case err != nil:
		return err
	}
	s.render(w, r, http.StatusOK, "volunteer_withdrawn.html", pageData{Title: withdrawnTitle})
	return nil
}
