package auditors_test

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/crypto/bcrypt"

	"booklets/pkg/adapter/postgres"
	"booklets/pkg/adapter/web/auditors"
	"booklets/pkg/testkit/testenv"
)

const token = "signin-test-token-0123456789abcdef"

func ledgerDB(t *testing.T) *postgres.Ledger {
	t.Helper()
	db, _ := testenv.MigratedPool(t)
	return postgres.NewLedger(db)
}

// A client that fails to sign in too often gets 429 with Retry-After, the
// right password included, until its allowance refills; another client
// is not affected; each failure is logged with the client and the user
// name, never the password or the token.
func TestSignInFailuresAreLimited(t *testing.T) {
	t.Parallel()
	hash, err := bcrypt.GenerateFromPassword([]byte("correct horse"), bcrypt.MinCost)
	testenv.Must(t, err)
	var mu sync.Mutex
	now := time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	var logs testenv.Buffer
	var failures, limited int
	srv, err := auditors.New(ledgerDB(t), auditors.Auth{Token: token, User: "auditor", PasswordHash: string(hash),
		FailuresPerMinute: 6, FailureBurst: 3}, clock, zerolog.New(&logs), nil)
	testenv.Must(t, err)
	srv.OnSignInFailure = func(l bool) {
		if l {
			limited++
		} else {
			failures++
		}
	}
	mux := http.NewServeMux()
	srv.Register(mux)
	get := func(from string, set func(*http.Request)) *httptest.ResponseRecorder {
		t.Helper()
		r := httptest.NewRequest("GET", "/api/v1/batches", nil)
		r.RemoteAddr = from + ":40000"
		if set != nil {
			set(r)
		}
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		return w
	}
	wrong := func(r *http.Request) { r.SetBasicAuth("auditor", "guess-Tr0ub4dor") }
	right := func(r *http.Request) { r.SetBasicAuth("auditor", "correct horse") }
	wrongToken := func(r *http.Request) { r.Header.Set("Authorization", "Bearer not-the-token-but-long-enough-xx") }

	// Asking without credentials (a browser's first request) is no failure.
	for range 5 {
		if w := get("192.0.2.1", nil); w.Code != http.StatusUnauthorized {
			t.Fatalf("no credentials: %d", w.Code)
		}
	}
	for i, set := range []func(*http.Request){wrong, wrongToken, wrong} {
		if w := get("192.0.2.1", set); w.Code != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d, want 401", i+1, w.Code)
		}
	}
	for _, set := range []func(*http.Request){wrong, right} {
		w := get("192.0.2.1", set)
		if w.Code != http.StatusTooManyRequests {
			t.Fatalf("beyond the burst: %d, want 429", w.Code)
		}
		if s, err := strconv.Atoi(w.Header().Get("Retry-After")); err != nil || s < 1 || s > 10 {
			t.Errorf("Retry-After %q, want the 10 s until the next try", w.Header().Get("Retry-After"))
		}
	}
	// Another client, and this one's right password from elsewhere.
	if w := get("198.51.100.7", right); w.Code != http.StatusOK {
		t.Errorf("another client: %d, want 200", w.Code)
	}
	// One failure's worth refills in 10 s (6 a minute).
	advance(10 * time.Second)
	if w := get("192.0.2.1", right); w.Code != http.StatusOK {
		t.Errorf("after waiting: %d, want 200", w.Code)
	}
	if w := get("192.0.2.1", wrong); w.Code != http.StatusUnauthorized {
		t.Errorf("a failure after waiting: %d, want 401", w.Code)
	}
	if w := get("192.0.2.1", wrong); w.Code != http.StatusTooManyRequests {
		t.Errorf("and the next: %d, want 429", w.Code)
	}
	if failures != 4 || limited != 3 {
		t.Errorf("reported %d failures and %d limited, want 4 and 3", failures, limited)
	}

	out := logs.String()
	if n := strings.Count(out, `"message":"auditors' sign-in failed"`); n != 4 {
		t.Errorf("%d failure log lines, want 4:\n%s", n, out)
	}
	for _, want := range []string{`"client":"192.0.2.1"`, `"user":"auditor"`, `"method":"basic"`, `"method":"bearer"`, "too many failures"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
	for _, secret := range []string{"guess-Tr0ub4dor", "correct horse", "not-the-token", token} {
		if strings.Contains(out, secret) {
			t.Errorf("log holds a secret %q:\n%s", secret, out)
		}
	}
}

// Parallel wrong guesses from one client cannot slip past the allowance.
func TestSignInLimitHoldsUnderConcurrency(t *testing.T) {
	t.Parallel()
	hash, err := bcrypt.GenerateFromPassword([]byte("correct horse"), bcrypt.MinCost)
	testenv.Must(t, err)
	now := time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)
	srv, err := auditors.New(ledgerDB(t), auditors.Auth{User: "auditor", PasswordHash: string(hash), FailuresPerMinute: 1, FailureBurst: 5},
		func() time.Time { return now }, zerolog.Nop(), nil)
	testenv.Must(t, err)
	mux := http.NewServeMux()
	srv.Register(mux)
	var wg sync.WaitGroup
	codes := make(chan int, 50)
	for range 50 {
		wg.Go(func() {
			r := httptest.NewRequest("GET", "/audit", nil)
			r.RemoteAddr = "[2001:db8::1]:5000"
			r.SetBasicAuth("auditor", "wrong")
			w := httptest.NewRecorder()
			mux.ServeHTTP(w, r)
			codes <- w.Code
		})
	}
	wg.Wait()
	close(codes)
	checked := 0
	for c := range codes {
		if c == http.StatusUnauthorized {
			checked++
		}
	}
	if checked != 5 {
		t.Errorf("%d of 50 parallel guesses were checked, want the burst of 5", checked)
	}
	// The same /64 is the same client.
	r := httptest.NewRequest("GET", "/audit", nil)
	r.RemoteAddr = "[2001:db8::abcd]:5000"
	r.SetBasicAuth("auditor", "correct horse")
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, r)
	if w.Code != http.StatusTooManyRequests {
		t.Errorf("another address in the same /64: %d, want 429", w.Code)
	}
}

// A token shorter than 32 bytes is refused at start-up, with a clear
// error that does not repeat it.
func TestShortTokenRefused(t *testing.T) {
	t.Parallel()
	_, err := auditors.New(nil, auditors.Auth{Token: "0123456789abcdef0123456789abcde"}, time.Now, zerolog.Nop(), nil)
	if err == nil || !strings.Contains(err.Error(), "AUDIT_TOKEN is 31 bytes") || !strings.Contains(err.Error(), "at least 32") ||
		strings.Contains(err.Error(), "0123456789abcdef") {
		t.Errorf("31-byte token: %v", err)
	}
	if _, err := auditors.New(nil, auditors.Auth{Token: strings.Repeat("x", 32)}, time.Now, zerolog.Nop(), nil); err != nil {
		t.Errorf("32-byte token: %v", err)
	}
}
