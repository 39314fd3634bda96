package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/rs/zerolog"

	"booklets/pkg/adapter/postgres"
	"booklets/pkg/adapter/web/auditors"
	"booklets/pkg/domain/businessday"
	"booklets/pkg/domain/seal"
	"booklets/pkg/stage/research"
	"booklets/pkg/testkit/testenv"
)

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// volunteerEnv is a migrated database (through the command itself) and a
// store on it with a test clock, sealing under the KEK the commands are
// given (e.vars["KEK"]; e.ring).
func volunteerEnv(t *testing.T, start time.Time) (*env, *postgres.Volunteers, *testClock) {
	t.Helper()
	kek := kekEntry("kek-a")
	e := &env{t: t, vars: map[string]string{"DATABASE_URL": testenv.Database(t), "LOG_LEVEL": "disabled", "KEK": kek}}
	e.run("volunteers", "due")
	db, err := pgxpool.New(context.Background(), e.vars["DATABASE_URL"])
	testenv.Must(t, err)
	t.Cleanup(db.Close)
	e.db = db
	clk := &testClock{t: start}
	return e, postgres.NewVolunteers(db, clk.now, postgres.WithRing(mustRing(t, kek))), clk
}

// kekEntry is a KEK ring entry with a fresh key under id.
func kekEntry(id string) string {
	k := make([]byte, seal.KeySize)
	rand.Read(k)
	return id + ":" + base64.StdEncoding.EncodeToString(k)
}

func mustRing(t *testing.T, spec string) *seal.Ring {
	t.Helper()
	r, err := seal.ParseRing(spec)
	testenv.Must(t, err)
	return r
}

func signUpVolunteer(t *testing.T, st *postgres.Volunteers, name, email string) string {
	t.Helper()
	v, err := research.Draft{Name: name, Email: email, Consent: true}.Validate()
	testenv.Must(t, err)
	r, err := st.SignUp(context.Background(), v)
	testenv.Must(t, err)
	return r.ID
}

func gaugeValue(t *testing.T, g prometheus.Gauge) float64 {
	t.Helper()
	var m dto.Metric
	testenv.Must(t, g.Write(&m))
	return m.GetGauge().GetValue()
}

func TestVolunteerReviewJob(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	london := businessday.London()
	_, st, clk := volunteerEnv(t, time.Date(2026, 7, 1, 10, 0, 0, 0, london))
	a := signUpVolunteer(t, st, "Priya Patel", "priya@example.com")
	b := signUpVolunteer(t, st, "", "second@example.org")
	clk.set(time.Date(2026, 7, 2, 10, 0, 0, 0, london))
	c := signUpVolunteer(t, st, "Third Person", "")

	var logs bytes.Buffer
	log := zerolog.New(&logs)
	gauge := prometheus.NewGauge(prometheus.GaugeOpts{Name: "volunteer_reviews_due"})

	// 23:59 on 30 June 2028 in London (BST): one minute short of 2 years.
	clk.set(time.Date(2028, 6, 30, 23, 59, 0, 0, london))
	r, err := flagVolunteerReviews(ctx, st, gauge, log)
	if err != nil || r.Due != 0 || gaugeValue(t, gauge) != 0 {
		t.Fatalf("before the boundary: %+v %v, gauge %v", r, err, gaugeValue(t, gauge))
	}
	// 00:01 on 1 July in London is still 30 June in UTC: due all the same.
	clk.set(time.Date(2028, 7, 1, 0, 1, 0, 0, london))
	r, err = flagVolunteerReviews(ctx, st, gauge, log)
	if err != nil || r.Due != 2 || r.NewlyFlagged != 2 || gaugeValue(t, gauge) != 2 {
		t.Fatalf("at the boundary: %+v %v, gauge %v", r, err, gaugeValue(t, gauge))
	}
	clk.set(time.Date(2028, 7, 2, 9, 0, 0, 0, london))
	if r, _ = flagVolunteerReviews(ctx, st, gauge, log); r.Due != 3 || r.NewlyFlagged != 1 || gaugeValue(t, gauge) != 3 {
		t.Fatalf("a day later: %+v", r)
	}
	if _, err := st.Review(ctx, a, research.Keep); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Review(ctx, b, research.Delete); err != nil {
		t.Fatal(err)
	}
	if r, _ = flagVolunteerReviews(ctx, st, gauge, log); r.Due != 1 || gaugeValue(t, gauge) != 1 {
		t.Fatalf("after two decisions: %+v", r)
	}

	// The log has counts only: no id, name or email.
	out := logs.String()
	if !strings.Contains(out, `"due":3`) {
		t.Errorf("the log lacks the count:\n%s", out)
	}
	for _, p := range []string{a, b, c, "Priya", "Patel", "priya@", "second@", "Third", "example"} {
		if strings.Contains(out, p) {
			t.Errorf("the log holds %q:\n%s", p, out)
		}
	}
}

func TestVolunteerCommands(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// The command uses the wall clock: sign up three years ago.
	e, st, _ := volunteerEnv(t, time.Now().AddDate(-3, 0, 0))
	keep := signUpVolunteer(t, st, "Keep Kim", "kim@example.com")
	drop := signUpVolunteer(t, st, "", "drop@example.com")
	fresh := postgres.NewVolunteers(e.db, time.Now, postgres.WithRing(mustRing(t, e.vars["KEK"])))
	recent := signUpVolunteer(t, fresh, "Recent Rae", "")

	out := e.run("volunteers", "due")
	if !strings.Contains(out, keep) || !strings.Contains(out, drop) || strings.Contains(out, recent) || !strings.Contains(out, "2 due") {
		t.Fatalf("volunteers due:\n%s", out)
	}
	for _, p := range []string{"Kim", "kim@", "drop@", "Rae"} {
		if strings.Contains(out, p) {
			t.Errorf("`volunteers due` prints personal data %q:\n%s", p, out)
		}
	}

	out = e.run("volunteers", "show", keep)
	if !strings.Contains(out, "Keep Kim") || !strings.Contains(out, "kim@example.com") || !strings.Contains(out, research.ConsentVersion) {
		t.Fatalf("volunteers show:\n%s", out)
	}
	out = e.run("volunteers", "review", keep, "--keep")
	wantNext := research.ReviewDue(research.Today(time.Now())).String()
	if !strings.Contains(out, "next review due "+wantNext) {
		t.Fatalf("review --keep: %s", out)
	}
	e.run("volunteers", "review", "--delete", drop)

	// The overdue list is on the auditors' page before the decisions are
	// made; check it after them: nothing left overdue.
	out = e.run("volunteers", "due")
	if !strings.Contains(out, "No volunteer reviews are due") {
		t.Fatalf("after the decisions:\n%s", out)
	}

	for _, args := range [][]string{
		{"volunteers"}, {"volunteers", "due", "x"}, {"volunteers", "show"}, {"volunteers", "review", keep},
		{"volunteers", "review", keep, "--keep", "--delete"}, {"volunteers", "review", "--keep"}, {"volunteers", "nonsense"},
	} {
		if _, err := e.runErr(args...); err == nil || !strings.Contains(strings.ToLower(err.Error()), "usage") {
			t.Errorf("%v: %v", args, err)
		}
	}
	if _, err := e.runErr("volunteers", "show", drop); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("show a deleted entry: %v", err)
	}
	if _, err := e.runErr("volunteers", "review", "kim@example.com", "--delete"); err == nil || strings.Contains(err.Error(), "kim@") {
		t.Errorf("review with an email for an id: %v", err)
	}

	// Every view and decision is in the audit log, by id only.
	rows, err := e.db.Query(ctx, "SELECT kind || ' ' || details::text FROM audit_log ORDER BY seq")
	testenv.Must(t, err)
	var got []string
	for rows.Next() {
		var s string
		testenv.Must(t, rows.Scan(&s))
		got = append(got, s)
	}
	testenv.Must(t, rows.Err())
	all := strings.Join(got, "\n")
	for _, want := range []string{
		"volunteer_viewed {\"reason\": \"operator_show\", \"volunteer_id\": \"" + keep,
		"volunteer_review {\"decision\": \"keep\", \"volunteer_id\": \"" + keep + "\", \"next_review_on\": \"" + wantNext,
		"volunteer_review {\"decision\": \"delete\", \"volunteer_id\": \"" + drop,
		"volunteer_deleted {\"reason\": \"review\", \"volunteer_id\": \"" + drop,
	} {
		if !strings.Contains(all, want) {
			t.Errorf("audit log lacks %s:\n%s", want, all)
		}
	}
	if len(got) != 4 || strings.Contains(all, "Kim") || strings.Contains(all, "@") {
		t.Errorf("audit log:\n%s", all)
	}
	if out := e.run("verify-audit"); !strings.Contains(out, "4") {
		t.Errorf("verify-audit: %s", out)
	}
}

// auditToken is long enough for auditweb (32 bytes at least).
const auditToken = "volunteers-test-token-0123456789abcdef"

func TestAuditorsPageShowsOverdueReviews(t *testing.T) {
	t.Parallel()
	e, st, _ := volunteerEnv(t, time.Now().AddDate(-2, 0, -10))
	over := signUpVolunteer(t, st, "Olive Overdue", "olive@example.com")
	signUpVolunteer(t, postgres.NewVolunteers(e.db, time.Now, postgres.WithRing(mustRing(t, e.vars["KEK"]))), "Newer Ned", "")

	w, err := auditors.New(postgres.NewLedger(e.db), auditors.Auth{Token: auditToken}, time.Now, zerolog.Nop(), nil)
	testenv.Must(t, err)
	// As the reconciler serves it: without a KEK, which the page never
	// needs.
	w.Volunteers = postgres.NewVolunteers(e.db, time.Now)
	mux := http.NewServeMux()
	w.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	req, _ := http.NewRequest("GET", srv.URL+"/audit", nil)
	req.Header.Set("Authorization", "Bearer "+auditToken)
	resp, err := srv.Client().Do(req)
	testenv.Must(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	body := string(b)
	due := research.ReviewDue(research.Today(time.Now().AddDate(-2, 0, -10))).String()
	if resp.StatusCode != 200 || !strings.Contains(body, `id="volunteer-reviews-overdue">1<`) ||
		!strings.Contains(body, `data-volunteer="`+over+`"`) || !strings.Contains(body, due) {
		t.Fatalf("/audit: %d\n%s", resp.StatusCode, body)
	}
	for _, p := range []string{"Olive", "olive@", "Ned"} {
		if strings.Contains(body, p) {
			t.Errorf("the auditors' page shows %q", p)
		}
	}
}

// TestVolunteerKeyCommands: `volunteers show` needs the KEK (and says so
// without one, while `due` and `review` work without); `volunteers seal`
// seals an entry stored in clear before migration 082; `volunteers
// rewrap` moves every entry's key to the current KEK, so that the old one
// can be removed from the ring and `show` still works.
func TestVolunteerKeyCommands(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e, st, _ := volunteerEnv(t, time.Now())
	a := signUpVolunteer(t, st, "Rowena Rotate-Keys", "rowena@example.org")
	var legacy string
	testenv.Must(t, e.db.QueryRow(ctx, `INSERT INTO research.volunteers (name, email, has_name, has_email, purpose,
		consent_version, withdrawal_code_sha256, signed_up_on, review_due_on)
		VALUES ('Lionel Legacy', NULL, true, false, 'user_research', 'research-consent-v1', repeat('e', 64), current_date, current_date + 730)
		RETURNING volunteer_id::text`).Scan(&legacy))
	kekA := e.vars["KEK"]

	// Without a KEK: show refuses and says what to set; due works.
	delete(e.vars, "KEK")
	if out, err := e.runErr("volunteers", "show", a); err == nil || !strings.Contains(err.Error(), "KEK_FILE") || strings.Contains(out, "Rowena") {
		t.Fatalf("show without a KEK: %v\n%s", err, out)
	}
	e.run("volunteers", "due")

	e.vars["KEK"] = kekA
	if out := e.run("volunteers", "seal"); !strings.Contains(out, "sealed 1 entries") {
		t.Fatalf("seal: %s", out)
	}
	if out := e.run("volunteers", "show", legacy); !strings.Contains(out, "Lionel Legacy") {
		t.Fatalf("show the sealed legacy entry: %s", out)
	}

	// Rotation: the new KEK first, the old one still there; rewrap; then
	// the old one removed.
	kekB := kekEntry("kek-b")
	e.vars["KEK"] = kekB + "," + kekA
	out := e.run("volunteers", "rewrap")
	if !strings.Contains(out, "rewrapped 2 volunteer keys") || !strings.Contains(out, "KEK kek-b: 2 keys") || strings.Contains(out, "kek-a") {
		t.Fatalf("rewrap:\n%s", out)
	}
	e.vars["KEK"] = kekB
	if out := e.run("volunteers", "show", a); !strings.Contains(out, "Rowena Rotate-Keys") || !strings.Contains(out, "rowena@example.org") {
		t.Fatalf("show after the rotation: %s", out)
	}
	// An entry left under a KEK no longer in the ring is named, with its
	// KEK, not opened.
	c := signUpVolunteer(t, postgres.NewVolunteers(e.db, time.Now, postgres.WithRing(mustRing(t, kekEntry("kek-gone")))), "Gone Gwen", "")
	if _, err := e.runErr("volunteers", "show", c); !errors.Is(err, seal.ErrUnknownKEK) || !strings.Contains(err.Error(), "kek-gone") {
		t.Fatalf("show under a removed KEK: %v", err)
	}
	if out, err := e.runErr("volunteers", "rewrap"); err == nil || !strings.Contains(err.Error(), c) || !strings.Contains(out, "rewrapped 0") {
		t.Fatalf("rewrap with a removed KEK: %v\n%s", err, out)
	}
	for _, args := range [][]string{{"volunteers", "seal", "x"}, {"volunteers", "rewrap", "now"}} {
		if _, err := e.runErr(args...); err == nil {
			t.Errorf("%v was accepted", args)
		}
	}
	var n int
	testenv.Must(t, e.db.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE kind IN ('volunteer_contacts_sealed', 'volunteer_keys_rewrapped')`).Scan(&n))
	if n != 2 {
		t.Errorf("%d audit entries for seal and rewrap, want 2", n)
	}
}
