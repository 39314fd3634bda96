package public

import (
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// visitor is one browser going through the form: it keeps the cookies the
// server sets and sends them back, as a browser does, and checks that
// every POST is answered with a redirect (post/redirect/get).
type visitor struct {
	t   *testing.T
	f   *fixture
	jar *cookiejar.Jar
	// tls makes the requests look as if they came through an HTTPS proxy.
	tls bool
}

var siteURL = &url.URL{Scheme: "http", Host: "example.com", Path: "/"}

func (f *fixture) visitor(t *testing.T) *visitor {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &visitor{t: t, f: f, jar: jar}
}

// do sends r with the visitor's cookies and keeps the ones set.
func (v *visitor) do(r *http.Request) *httptest.ResponseRecorder {
	u := *siteURL
	u.Path = r.URL.Path
	for _, c := range v.jar.Cookies(&u) {
		r.AddCookie(c)
	}
	if v.tls {
		r.Header.Set("X-Forwarded-Proto", "https")
	}
	w := v.f.do(r)
	v.jar.SetCookies(&u, w.Result().Cookies())
	return w
}

// get fetches a page, following redirects; it returns the last response
// and the path it came from.
func (v *visitor) get(path string) (*httptest.ResponseRecorder, string) {
	v.t.Helper()
	for range 5 {
		w := v.do(httptest.NewRequest("GET", path, nil))
		if w.Code != http.StatusSeeOther {
			return w, path
		}
		path = w.Header().Get("Location")
	}
	v.t.Fatalf("GET %s: too many redirects", path)
	return nil, ""
}

// post sends a form as a browser does, without following the answer.
func (v *visitor) post(path string, form url.Values) *httptest.ResponseRecorder {
	r := httptest.NewRequest("POST", path, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	r.Header.Set("Origin", "http://example.com")
	return v.do(r)
}

// submit posts a form, requires a 303 to a GET page whose address holds
// nothing of the form, and follows it: the page and its path.
func (v *visitor) submit(path string, form url.Values) (*httptest.ResponseRecorder, string) {
	v.t.Helper()
	w := v.post(path, form)
	if w.Code != http.StatusSeeOther {
		v.t.Fatalf("POST %s = %d, want 303 See Other (post/redirect/get):\n%s", path, w.Code, w.Body)
	}
	loc := w.Header().Get("Location")
	if strings.ContainsAny(loc, "?#") {
		v.t.Fatalf("POST %s redirects to %q: no answer may be in a URL", path, loc)
	}
	return v.get(loc)
}

// cookie returns the answers cookie as the server last set it.
func (v *visitor) cookie() *http.Cookie {
	for _, c := range v.jar.Cookies(siteURL) {
		if c.Name == answersCookie {
			return c
		}
	}
	return nil
}

// state opens the answers cookie as the server would.
func (v *visitor) state() formState {
	v.t.Helper()
	c := v.cookie()
	if c == nil {
		v.t.Fatal("no answers cookie")
	}
	st, err := v.f.srv.sealer.open(c.Value)
	if err != nil {
		v.t.Fatalf("answers cookie: %v", err)
	}
	return st
}

// setCookie replaces the answers cookie's value, as a tampering browser
// could.
func (v *visitor) setCookie(value string) {
	v.jar.SetCookies(siteURL, []*http.Cookie{{Name: answersCookie, Value: value, Path: "/"}})
}

// wantPage checks a page's status and that it holds every string.
func wantPage(t *testing.T, name string, w *httptest.ResponseRecorder, status int, wants ...string) {
	t.Helper()
	if w.Code != status {
		t.Fatalf("%s: status %d, want %d:\n%s", name, w.Code, status, w.Body)
	}
	body := w.Body.String()
	for _, want := range wants {
		if !strings.Contains(body, want) {
			t.Errorf("%s lacks %q", name, want)
		}
	}
}
