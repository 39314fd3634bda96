package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"booklets/pkg/domain/batchfile"
	"booklets/pkg/domain/businessday"
	"booklets/pkg/domain/order"
	"booklets/pkg/domain/reference"
	"booklets/pkg/domain/seal"
	"booklets/pkg/stage/audit"
	"booklets/pkg/stage/research"
	"booklets/pkg/testkit/testenv"
)

func database(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool, _ := testenv.MigratedPool(t)
	return pool
}

func newStore(t *testing.T, start time.Time) (*Volunteers, *testenv.Clock, *pgxpool.Pool) {
	t.Helper()
	db := database(t)
	c := testenv.NewClock(start)
	return NewVolunteers(db, c.Now, WithRing(testRing(t, "test-kek"))), c, db
}

// testRing returns a KEK ring of one fresh key under id.
func testRing(t testing.TB, id string) *seal.Ring {
	t.Helper()
	return testenv.Ring(t, testenv.KEKEntry(id))
}

func signUp(t *testing.T, s *Volunteers, name, email string) research.Receipt {
	t.Helper()
	v, err := research.Draft{Name: name, Email: email, Consent: true}.Validate()
	testenv.Must(t, err)
	r, err := s.SignUp(context.Background(), v)
	testenv.Must(t, err)
	return r
}

// entries reads the audit log back, checking the chain.
func entries(t *testing.T, db *pgxpool.Pool) []audit.Entry {
	t.Helper()
	ctx := context.Background()
	res, err := VerifyAudit(ctx, db)
	testenv.Must(t, err)
	if !res.OK {
		t.Fatalf("audit chain broken: %v", res)
	}
	rows, err := db.Query(ctx, "SELECT kind, details::text FROM audit_log ORDER BY seq")
	testenv.Must(t, err)
	var out []audit.Entry
	for rows.Next() {
		var e audit.Entry
		var kind, details string
		testenv.Must(t, rows.Scan(&kind, &details))
		e.Kind = audit.Kind(kind)
		testenv.Must(t, json.Unmarshal([]byte(details), &e.Details))
		out = append(out, e)
	}
	testenv.Must(t, rows.Err())
	return out
}

// dump is every row of the volunteers table and the audit log as text.
func dump(t *testing.T, db *pgxpool.Pool) string {
	t.Helper()
	var b strings.Builder
	for _, q := range []string{"SELECT v::text FROM research.volunteers v", "SELECT audit_log::text FROM audit_log"} {
		rows, err := db.Query(context.Background(), q)
		testenv.Must(t, err)
		for rows.Next() {
			var s string
			testenv.Must(t, rows.Scan(&s))
			b.WriteString(s + "\n")
		}
		testenv.Must(t, rows.Err())
	}
	return b.String()
}

var start = time.Date(2026, 11, 25, 14, 30, 0, 0, time.UTC)

func TestSignUpAndWithdraw(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _, db := newStore(t, start)

	nameOnly := signUp(t, s, "Siân O'Brien", "")
	emailOnly := signUp(t, s, "", "Research.Fan@Example.org")
	both := signUp(t, s, "Ann Other", "ann@example.com")
	again := signUp(t, s, "", "ann@example.com") // the same person signing up twice
	if n, _ := s.Count(ctx); n != 4 {
		t.Fatalf("count = %d, want 4", n)
	}

	// The database holds neither code.
	all := dump(t, db)
	for _, r := range []research.Receipt{nameOnly, emailOnly, both, again} {
		if _, err := uuid.Parse(r.ID); err != nil {
			t.Errorf("id %q is not a UUID", r.ID)
		}
		if strings.Contains(all, r.Code) || strings.Contains(all, strings.ReplaceAll(r.Code, "-", "")) {
			t.Errorf("the database holds the withdrawal code %s", r.Code)
		}
	}
	// Sealed: neither the address as typed nor as normalised is in the
	// table (TestContactSealedAtRest searches every copy).
	if strings.Contains(strings.ToLower(all), "research.fan@example.org") {
		t.Error("the email address is stored in clear")
	}
	if e, err := s.Show(ctx, emailOnly.ID, "test"); err != nil || e.Email != "research.fan@example.org" {
		t.Errorf("the email address was not stored normalised: %q, %v", e.Email, err)
	}

	// Sign-up dates are dates, not instants.
	var signed, due time.Time
	testenv.Must(t, db.QueryRow(ctx, "SELECT signed_up_on, review_due_on FROM research.volunteers WHERE volunteer_id = $1", both.ID).Scan(&signed, &due))
	if signed.Format(time.DateOnly) != "2026-11-25" || due.Format(time.DateOnly) != "2028-11-25" {
		t.Errorf("signed up %s, review due %s", signed, due)
	}

	// By code, typed carelessly.
	n, err := s.WithdrawByCode(ctx, strings.ToLower(strings.ReplaceAll(nameOnly.Code, "-", " ")))
	if err != nil || n != 1 {
		t.Fatalf("withdraw by code: %d, %v", n, err)
	}
	if n, err := s.WithdrawByCode(ctx, nameOnly.Code); err != nil || n != 0 {
		t.Fatalf("second withdrawal by code: %d, %v", n, err)
	}
	// Not a code, or nobody's code: nothing happens.
	for _, c := range []string{"", "nonsense", research.NewCode()} {
		if n, err := s.WithdrawByCode(ctx, c); err != nil || n != 0 {
			t.Fatalf("withdraw by code %q: %d, %v", c, n, err)
		}
	}
	// By email, in another case: both of that person's entries go.
	if n, err := s.WithdrawByEmail(ctx, " ANN@example.COM "); err != nil || n != 2 {
		t.Fatalf("withdraw by email: %d, %v", n, err)
	}
	if n, err := s.WithdrawByEmail(ctx, "not an email"); err != nil || n != 0 {
		t.Fatalf("withdraw by a malformed email: %d, %v", n, err)
	}
	if n, _ := s.Count(ctx); n != 1 {
		t.Fatalf("count = %d after withdrawals, want 1", n)
	}
	var left string
	testenv.Must(t, db.QueryRow(ctx, "SELECT volunteer_id::text FROM research.volunteers").Scan(&left))
	if left != emailOnly.ID {
		t.Fatalf("left %s, want %s", left, emailOnly.ID)
	}

	es := entries(t, db)
	if len(es) != 4 || es[0].Kind != audit.VolunteerViewed {
		t.Fatalf("%d audit entries, want the view and 3 deletions", len(es))
	}
	wantReasons := map[string]string{nameOnly.ID: ReasonWithdrawnByCode, both.ID: ReasonWithdrawnByEmail, again.ID: ReasonWithdrawnByEmail}
	for _, e := range es[1:] {
		id, _ := e.Details["volunteer_id"].(string)
		if e.Kind != audit.VolunteerDeleted || e.Details["reason"] != wantReasons[id] || e.Details["key_destroyed"] != true {
			t.Errorf("audit entry %s %v", e.Kind, e.Details)
		}
	}
	assertNoPersonalData(t, db, "Siân", "O'Brien", "Ann", "ann@", "research.fan", "example")
}

// assertNoPersonalData fails if the audit log holds any of the strings.
func assertNoPersonalData(t *testing.T, db *pgxpool.Pool, personal ...string) {
	t.Helper()
	rows, err := db.Query(context.Background(), "SELECT audit_log::text FROM audit_log")
	testenv.Must(t, err)
	defer rows.Close()
	for rows.Next() {
		var s string
		testenv.Must(t, rows.Scan(&s))
		for _, p := range personal {
			if strings.Contains(strings.ToLower(s), strings.ToLower(p)) {
				t.Errorf("audit entry holds personal data %q: %s", p, s)
			}
		}
	}
}

func TestReviewAcrossTheTwoYearBoundary(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	london := businessday.London()
	s, clk, db := newStore(t, time.Date(2026, 3, 10, 9, 0, 0, 0, london))
	keep := signUp(t, s, "Keep Me", "keep@example.com")
	drop := signUp(t, s, "", "drop@example.com")
	clk.Set(time.Date(2026, 3, 11, 9, 0, 0, 0, london))
	later := signUp(t, s, "Later", "")

	// The day before the second anniversary, at the last minute: nothing due.
	clk.Set(time.Date(2028, 3, 9, 23, 59, 0, 0, london))
	r, err := s.FlagDue(ctx)
	if err != nil || r != (FlagResult{}) {
		t.Fatalf("the day before: %+v, %v", r, err)
	}
	// Just after midnight in London on the anniversary (still 9 March in
	// UTC would be wrong in summer; here it is the same): two are due.
	clk.Set(time.Date(2028, 3, 10, 0, 1, 0, 0, london))
	r, err = s.FlagDue(ctx)
	if err != nil || r != (FlagResult{NewlyFlagged: 2, Due: 2}) {
		t.Fatalf("on the anniversary: %+v, %v", r, err)
	}
	// The job is idempotent within a day.
	r, err = s.FlagDue(ctx)
	if err != nil || r != (FlagResult{NewlyFlagged: 0, Due: 2}) {
		t.Fatalf("run again: %+v, %v", r, err)
	}
	due, err := s.Due(ctx)
	testenv.Must(t, err)
	if len(due) != 2 || due[0].FlaggedAt == nil || due[0].ReviewDueOn.String() != "2028-03-10" {
		t.Fatalf("due = %+v", due)
	}
	ids := map[string]bool{due[0].ID: true, due[1].ID: true}
	if !ids[keep.ID] || !ids[drop.ID] || ids[later.ID] {
		t.Fatalf("due ids %v", ids)
	}
	if over, _ := s.Overdue(ctx); len(over) != 0 {
		t.Fatalf("overdue on the due day: %+v", over)
	}

	// A day later both are overdue, and the third is now due.
	clk.Set(time.Date(2028, 3, 11, 8, 0, 0, 0, london))
	r, _ = s.FlagDue(ctx)
	if r != (FlagResult{NewlyFlagged: 1, Due: 3}) {
		t.Fatalf("next day: %+v", r)
	}
	over, _ := s.Overdue(ctx)
	if len(over) != 2 {
		t.Fatalf("overdue = %+v", over)
	}

	// Showing one entry gives its personal data and audits the view.
	e, err := s.Show(ctx, keep.ID, "review")
	if err != nil || e.Name != "Keep Me" || e.Email != "keep@example.com" || e.Purpose != research.Purpose ||
		e.ConsentVersion != research.ConsentVersion || e.SignedUpOn.String() != "2026-03-10" {
		t.Fatalf("show = %+v, %v", e, err)
	}
	if _, err := s.Show(ctx, uuid.NewString(), "review"); !errors.Is(err, research.ErrNotFound) {
		t.Fatalf("show unknown: %v", err)
	}
	if _, err := s.Show(ctx, "not-a-uuid", "review"); !errors.Is(err, research.ErrNotFound) || strings.Contains(err.Error(), "not-a-uuid") {
		t.Fatalf("show malformed: %v", err)
	}

	// Keep pushes the review two years from the decision.
	next, err := s.Review(ctx, keep.ID, research.Keep)
	if err != nil || next.String() != "2030-03-11" {
		t.Fatalf("keep: %s, %v", next, err)
	}
	// Delete deletes.
	if _, err := s.Review(ctx, drop.ID, research.Delete); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := s.Review(ctx, drop.ID, research.Delete); !errors.Is(err, research.ErrNotFound) {
		t.Fatalf("delete again: %v", err)
	}
	if _, err := s.Review(ctx, later.ID, "maybe"); err == nil {
		t.Fatal("an unknown decision was accepted")
	}
	var n int
	testenv.Must(t, db.QueryRow(ctx, "SELECT count(*) FROM research.volunteers WHERE volunteer_id = $1", drop.ID).Scan(&n))
	if n != 0 {
		t.Fatal("the deleted entry is still there")
	}
	due, _ = s.Due(ctx)
	if len(due) != 1 || due[0].ID != later.ID {
		t.Fatalf("due after review = %+v", due)
	}
	kept, _ := s.Show(ctx, keep.ID, "check")
	if kept.LastDecision != research.Keep || kept.LastReviewOn.String() != "2028-03-11" || kept.ReviewDueOn.String() != "2030-03-11" || kept.FlaggedAt != nil {
		t.Fatalf("kept entry = %+v", kept)
	}
	// Two years on from the keep, it is due again.
	clk.Set(time.Date(2030, 3, 11, 12, 0, 0, 0, london))
	if r, _ := s.FlagDue(ctx); r.NewlyFlagged != 1 || r.Due != 2 {
		t.Fatalf("two years after keeping: %+v", r)
	}

	var kinds []string
	for _, e := range entries(t, db) {
		kinds = append(kinds, string(e.Kind)+":"+e.Details["volunteer_id"].(string)[:8]+":"+
			str(e.Details["decision"])+str(e.Details["reason"])+str(e.Details["next_review_on"]))
	}
	want := []string{
		"volunteer_viewed:" + keep.ID[:8] + ":review",
		"volunteer_review:" + keep.ID[:8] + ":keep2030-03-11",
		"volunteer_review:" + drop.ID[:8] + ":delete",
		"volunteer_deleted:" + drop.ID[:8] + ":review",
		"volunteer_viewed:" + keep.ID[:8] + ":check",
	}
	if strings.Join(kinds, " ") != strings.Join(want, " ") {
		t.Fatalf("audit entries\n got %v\nwant %v", kinds, want)
	}
	assertNoPersonalData(t, db, "Keep Me", "keep@", "drop@", "Later", "example")
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// TestNoVolunteerInABatchFile builds a day's batch file the way the batcher
// does (pkg/adapter/postgres assembles and streams the orders, pkg/domain/batchfile writes
// the CSV) with a volunteer signed up on the same day, and checks that the
// file has the order and nothing of the volunteer.
func TestNoVolunteerInABatchFile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _, db := newStore(t, start)
	signUp(t, s, "Volunteer Vera", "vera.volunteer@example.net")

	orders := NewOrders(db, func() time.Time { return start })
	date := businessday.LondonDate(start)
	o := order.Order{
		ID: uuid.NewString(), Reference: reference.New(), ReceivedAt: start, Area: "staffordshire",
		Formats:  []order.Format{order.StandardPrint},
		Personal: order.Personal{Name: "Orla Orderer", AddressLine1: "1 High Street", Town: "Stafford", Postcode: "ST18 0YY"},
	}
	key, err := seal.NewDayKey(date.String())
	testenv.Must(t, err)
	sealed, err := order.Seal(o, date, key)
	testenv.Must(t, err)
	if _, err := orders.SaveOrder(ctx, sealed); err != nil {
		t.Fatal(err)
	}
	id := batchfile.NewBatchID(date)
	b, _, err := orders.Assemble(ctx, Batch{ID: id, Date: date, DataFile: batchfile.DataFileName(date, id),
		ManifestFile: batchfile.ManifestFileName(date, id), CreatedAt: start})
	testenv.Must(t, err)
	var csv bytes.Buffer
	w, err := batchfile.NewWriter(&csv)
	testenv.Must(t, err)
	testenv.Must(t, orders.EachOrder(ctx, b.ID, func(bo BatchOrder) error {
		var ps seal.Sealed
		if err := ps.UnmarshalBinary(bo.Personal); err != nil {
			return err
		}
		p, err := order.OpenPersonal(key, bo.OrderID, o.Reference, ps)
		if err != nil {
			return err
		}
		return w.Write(batchfile.Entry{Reference: bo.Reference, AreaCode: bo.Area, Formats: bo.Formats, Personal: p})
	}))
	_, err = w.Close()
	testenv.Must(t, err)

	file := csv.String()
	if !strings.Contains(file, "Orla Orderer") {
		t.Fatalf("the batch file lacks the order:\n%s", file)
	}
	for _, p := range []string{"Vera", "vera.volunteer", "example.net"} {
		if strings.Contains(file, p) {
			t.Errorf("the batch file holds volunteer data %q:\n%s", p, file)
		}
	}
}
