package public

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"booklets/pkg/domain/businessday"
)

// The answers are kept for StateTTL after the last page (WCAG 2.2.1,
// "Timing adjustable"): every question page says until when, in words,
// and offers "Keep my answers for longer", a button of the page's own form
// that works without JavaScript and keeps what was typed on the page. With
// JavaScript, the GOV.UK timeout-warning pattern (static/app/timeout.js)
// opens a dialog TimeoutWarning before the end, counting down, whose
// "Keep my answers" extends the time without leaving the page; when the
// time runs out the page goes to pathTimedOut, which deletes the cookie and
// says so. A person without JavaScript who sends a page after the end
// keeps that page's answers and is told the earlier ones were deleted
// (postState).
const (
	pathKeep     = "/order/keep"
	pathTimedOut = "/order/timed-out"
)

// timeoutView is what a question page shows of the time limit.
type timeoutView struct {
	// Seconds is how long the answers are kept from now; Warn how long
	// before the end the dialog opens.
	Seconds, Warn int
	// Until is the London time the answers are kept until ("3:42pm").
	Until string
	// Minutes is StateTTL in minutes, for the words ("60 minutes").
	Minutes int
	// Return is the page "Keep my answers" comes back to.
	Return string
}

func (s *Server) timeoutFor(path string) *timeoutView {
	ttl := s.sealer.ttl
	return &timeoutView{
		Seconds: int(ttl / time.Second),
		Warn:    int(s.timeoutWarning / time.Second),
		Until:   clockTime(s.sealer.now().Add(ttl)),
		Minutes: int((ttl + time.Minute - 1) / time.Minute),
		Return:  path,
	}
}

// clockTime writes a time as GOV.UK style has it: "3:42pm", "11am".
func clockTime(t time.Time) string {
	t = t.In(businessday.London())
	if t.Minute() == 0 {
		return strings.ToLower(t.Format("3PM"))
	}
	return strings.ToLower(t.Format("3:04PM"))
}

// keep extends the answers' time. From the dialog (fetch, Accept:
// application/json) it answers 200 with the new time, or 410 when the
// answers are already gone; from the page's button it also keeps what was
// typed on the page (without checking it: that is for "Continue") and
// answers 303 back to the page.
func (s *Server) keep(w http.ResponseWriter, r *http.Request) error {
	if err := readForm(r); err != nil {
		return err
	}
	wantsJSON := strings.Contains(r.Header.Get("Accept"), "application/json")
	st, err := s.loadState(r)
	if err != nil {
		if wantsJSON {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusGone)
			_ = json.NewEncoder(w).Encode(map[string]string{"next": hrefIn(infoFrom(r.Context()).lang, pathTimedOut)})
			return nil
		}
		if errors.Is(err, errStateExpired) {
			s.redirect(w, r, pathTimedOut)
			return nil
		}
		return err
	}
	back := r.PostForm.Get("return")
	if !isJourneyPath(back) {
		back = pathPostcode
	}
	// The page's own button sends the page's form, marked so: what was
	// typed is kept. The dialog's form sends no answers.
	if q, ok := questionAt(back); ok && r.PostForm.Get("with-answers") == "1" {
		q.assign(&st.Draft, formValues{r, s.catalogue})
	}
	if err := s.saveState(w, r, st); err != nil {
		return err
	}
	if wantsJSON {
		t := s.timeoutFor(back)
		w.Header().Set("Content-Type", "application/json")
		return json.NewEncoder(w).Encode(map[string]any{"seconds": t.Seconds, "until": t.Until})
	}
	s.redirect(w, r, back)
	return nil
}

// timedOut deletes the answers cookie and says why the answers are gone.
func (s *Server) timedOut(w http.ResponseWriter, r *http.Request) error {
	clearState(w, r)
	s.render(w, r, http.StatusOK, "timed_out.html", pageData{
		Title: "timed_out.title", Timeout: &timeoutView{Minutes: int((s.sealer.ttl + time.Minute - 1) / time.Minute)},
	})
	return nil
}
