package auditors_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/rs/zerolog"

	"booklets/pkg/adapter/postgres"
	"booklets/pkg/adapter/web/auditors"
	"booklets/pkg/domain/batchfile"
	"booklets/pkg/domain/businessday"
	"booklets/pkg/domain/reference"
	"booklets/pkg/stage/audit"
	"booklets/pkg/stage/reconcile"
	"booklets/pkg/testkit/testenv"
)

// pageEnv is a database with sent batches (one empty), an order in one,
// an accepted signed confirmation, a signed checkpoint, and the auditors'
// server over them as the reconciler wires it.
type pageEnv struct {
	mux     *http.ServeMux
	ids     map[string]string // full, empty, other
	ref     reference.Reference
	pending reference.Reference // an order in no batch yet
}

const partnerKey = "0123456789ABCDEF0123456789ABCDEF01234567"

func newPageEnv(t *testing.T) *pageEnv {
	t.Helper()
	return newPageEnvWithAssets(t, nil)
}

// newPageEnvWithAssets is newPageEnv serving GOV.UK Frontend's files too.
func newPageEnvWithAssets(t *testing.T, assets http.Handler) *pageEnv {
	t.Helper()
	ctx := context.Background()
	dbURL := testenv.Database(t)
	clock := testenv.NewClock(time.Date(2026, 9, 1, 9, 0, 0, 0, time.UTC))
	st, err := postgres.OpenOrders(ctx, dbURL, clock.Now)
	testenv.Must(t, err)
	t.Cleanup(st.Close)
	testenv.Must(t, st.Migrate(ctx))
	db := st.Pool()
	e := &pageEnv{ids: map[string]string{}, ref: reference.New(), pending: reference.New()}
	for _, b := range []struct {
		name           string
		day            businessday.Date
		records, order int
	}{{"full", businessday.Date{Year: 2026, Month: 9, Day: 1}, 5, 3}, {"empty", businessday.Date{Year: 2026, Month: 9, Day: 2}, 0, 0},
		{"other", businessday.Date{Year: 2026, Month: 11, Day: 25}, 2, 2}} {
		clock.Set(b.day.UTC().Add(33 * time.Hour))
		id := batchfile.NewBatchID(b.day)
		_, _, err := st.Assemble(ctx, postgres.Batch{ID: id, Date: b.day, CreatedAt: clock.Now(), DataFile: batchfile.DataFileName(b.day, id),
			ManifestFile: batchfile.ManifestFileName(b.day, id), Encryption: batchfile.EncryptionNone})
		testenv.Must(t, err)
		_, err = st.RecordSent(ctx, postgres.Sent{BatchID: id, SHA256: strings.Repeat("ab", 32), Records: b.records, Orders: b.order,
			SentAt: clock.Now(), DeliveryDate: b.day.AddDays(1), DueDate: b.day.AddDays(41)})
		testenv.Must(t, err)
		e.ids[b.name] = id
	}
	_, err = db.Exec(ctx, `INSERT INTO orders (order_id, reference, received_at, business_date, area, formats)
		VALUES (gen_random_uuid(), $1, '2026-09-01T10:00:00Z', '2026-09-01', 'E09000001', '{standard}'),
		       (gen_random_uuid(), $2, '2026-12-01T10:00:00Z', '2026-12-01', 'E09000001', '{standard}')`,
		e.ref.String(), e.pending.String())
	testenv.Must(t, err)

	// The partner's signed confirmation of the full batch, accepted as
	// the reconciler accepts one.
	led := postgres.NewLedger(db)
	full := e.ids["full"]
	f := reconcile.NewFile("deletion_"+full+".json", []byte(fmt.Sprintf(
		`{"format_version":1,"batch_id":%q,"record_count":5,"sha256":%q,"deleted_at":"2026-10-12T10:00:00Z"}`, full, strings.Repeat("ab", 32))))
	f.Sig = reconcile.Signature{Data: []byte("sig"), SHA256: strings.Repeat("5a", 32), Signer: partnerKey}
	// Deleted on its due date (delivered 2 Sep, due 41 days on): confirmed,
	// neither early nor late.
	received := time.Date(2026, 10, 12, 11, 0, 0, 0, time.UTC)
	rec, _, err := led.Record(ctx, f, received, func(b *reconcile.Batch, acc *reconcile.Recorded) reconcile.Recorded {
		return reconcile.Judge(f, b, acc, received)
	})
	testenv.Must(t, err)
	if !rec.Accepted {
		t.Fatalf("confirmation not accepted: %s", rec.Reason)
	}

	// The day key's destruction, as the batcher records it with the send
	// (this store has no day keys of its own).
	testenv.Must(t, pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		return postgres.AppendAudit(ctx, tx, audit.Event{Kind: audit.DayKeyDestroyed, BatchID: full,
			Details: map[string]any{"business_date": "2026-09-01", "kek_id": "kek-1"}})
	}))

	private, _, err := audit.GenerateKey(rand.Reader, "booklets-test")
	testenv.Must(t, err)
	signer, err := audit.NewSigner(private)
	testenv.Must(t, err)
	c := audit.Checkpointer{Store: postgres.AuditTree{DB: db}, Signer: signer, Now: func() time.Time { return received.Add(time.Hour) }}
	_, err = c.Sign(ctx, false)
	testenv.Must(t, err)
	// An entry about the other batch after the checkpoint: not covered yet.
	testenv.Must(t, pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		return postgres.AppendAudit(ctx, tx, audit.Event{Kind: audit.OverdueRaised, BatchID: e.ids["other"], Details: map[string]any{"due_date": "2027-01-20"}})
	}))

	now := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	srv, err := auditors.New(led, auditors.Auth{Token: token}, func() time.Time { return now }, zerolog.Nop(), assets)
	testenv.Must(t, err)
	srv.Trail = postgres.AuditTrail{DB: db}
	srv.AuditLog = postgres.AuditTree{DB: db}
	srv.AuditPublicKey = signer.PublicKey
	e.mux = http.NewServeMux()
	srv.Register(e.mux)
	return e
}

func (e *pageEnv) get(t *testing.T, path string, signedIn bool) (int, string) {
	t.Helper()
	r := httptest.NewRequest("GET", path, nil)
	if signedIn {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	e.mux.ServeHTTP(w, r)
	b, _ := io.ReadAll(w.Body)
	return w.Code, html.UnescapeString(string(b))
}

func mustMatch(t *testing.T, what, body string, patterns ...string) {
	t.Helper()
	for _, p := range patterns {
		if !regexp.MustCompile(p).MatchString(body) {
			t.Errorf("%s lacks %s:\n%s", what, p, body)
		}
	}
}

// Issue 15, the page's UX problems: sentence-case labels, a distinct tag
// colour per status and a key to them, orders counted beside records,
// empty days hideable, search by batch id or order reference, and a
// mistyped date answered with the GOV.UK error summary.
func TestPageFindingAids(t *testing.T) {
	t.Parallel()
	e := newPageEnv(t)
	code, page := e.get(t, "/audit", true)
	if code != 200 {
		t.Fatalf("/audit: %d\n%s", code, page)
	}
	full, empty, other := e.ids["full"], e.ids["empty"], e.ids["other"]
	mustMatch(t, "page", page,
		`<dt class="govuk-summary-list__key"><strong class="govuk-tag govuk-tag--red">Overdue</strong></dt>`,
		`<dt class="govuk-summary-list__key"><strong class="govuk-tag">Awaiting</strong></dt>`,
		`<dt class="govuk-summary-list__key"><strong class="govuk-tag govuk-tag--green">Confirmed</strong></dt>`,
		`<dt class="govuk-summary-list__key"><strong class="govuk-tag govuk-tag--teal">Confirmed early</strong></dt>`,
		`<details class="govuk-details" id="status-key">`,
		`data-explains="overdue">The due date has passed`,
		`(?s)data-batch="`+full+`".*?href="/audit/batches/`+full+`".*?>5</td>\s*<td[^>]*data-orders="3">3</td>.*?data-status-tag="confirmed">Confirmed</strong>`,
		`(?s)data-batch="`+empty+`".*?>0</td>\s*<td[^>]*data-orders="0">`,
		`<th scope="col" class="govuk-table__header govuk-table__header--numeric">Orders</th>`,
		`<div class="app-table-scroll" role="region" aria-labelledby="batches-caption" tabindex="0">`,
		`3 of 3 batches`)
	if regexp.MustCompile(`>(overdue|awaiting|confirmed)<`).MatchString(page) {
		t.Errorf("a status in lower case on the page")
	}
	if strings.Count(page, "govuk-tag--green\" data-status-tag") != 1 || strings.Count(page, "govuk-tag--red\" data-status-tag") != 1 {
		t.Errorf("tag colours: want the confirmed batch green and the overdue empty one red")
	}

	_, page = e.get(t, "/audit?hide_empty=1", true)
	if strings.Contains(page, `data-batch="`+empty+`"`) || !strings.Contains(page, `data-batch="`+full+`"`) || !strings.Contains(page, `name="hide_empty" type="checkbox" value="1" checked`) {
		t.Errorf("hide_empty: the empty batch shown, the full one missing, or the box unticked:\n%s", page)
	}
	_, page = e.get(t, "/audit?q="+other[len(other)-6:], true)
	if strings.Contains(page, `data-batch="`+full+`"`) || !strings.Contains(page, `data-batch="`+other+`"`) {
		t.Errorf("search by part of a batch id:\n%s", page)
	}
	// An order reference, typed as a person would (lower case, no dashes).
	typed := strings.ToLower(strings.ReplaceAll(e.ref.String(), "-", ""))
	_, page = e.get(t, "/audit?q="+typed, true)
	mustMatch(t, "reference search", page, `href="/audit/batches.csv\?q=`+typed+`" download`, `id="search-found">Order `+e.ref.String()+` went to the partner in batch `+full+`\.\s*<a class="govuk-link" href="/audit/batches/`+full+`" id="search-found-trail">`)
	if strings.Contains(page, `data-batch="`+other+`"`) || !strings.Contains(page, `data-batch="`+full+`"`) || strings.Contains(page, "E09000001") || strings.Contains(page, "standard") {
		t.Errorf("reference search shows other batches or order details:\n%s", page)
	}
	_, page = e.get(t, "/audit?q="+e.pending.String(), true)
	mustMatch(t, "unbatched reference", page, `id="search-found">Order `+e.pending.String()+` is in no batch: not sent yet, or erased before it was\.<`, `id="no-batches"`)
	_, page = e.get(t, "/audit?q=nothing-like-it", true)
	mustMatch(t, "no match", page, `id="no-batches">No batches match`)

	// A mistyped date: the page, with the error summary linking to the field.
	code, page = e.get(t, "/audit?from=31/03/2026&to=2026-04-01", true)
	if code != http.StatusBadRequest {
		t.Errorf("mistyped date: %d, want 400", code)
	}
	mustMatch(t, "error page", page, `<title>Error: Deletion record`, `(?s)class="govuk-error-summary".*?<a href="#from">Business date from must be a real date like 2025-03-31</a>`,
		`(?s)govuk-form-group--error">.*?id="from-error"><span class="govuk-visually-hidden">Error:</span> Business date from must`,
		`class="govuk-input govuk-input--width-10 govuk-input--error" id="from" name="from" type="text" aria-describedby="from-hint from-error" value="31/03/2026"`,
		`id="fix-filters"`, `data-status="confirmed">1<`)
	if strings.Contains(page, "data-batch=") {
		t.Errorf("error page shows a batch table not filtered as asked")
	}
	// The API answers problem details; the CSV plain text.
	r := httptest.NewRequest("GET", "/api/v1/batches?to=tomorrow", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	w := httptest.NewRecorder()
	e.mux.ServeHTTP(w, r)
	if w.Code != 400 || w.Header().Get("Content-Type") != "application/problem+json" || !strings.Contains(w.Body.String(), "Business date to must be a real date") {
		t.Errorf("API with a mistyped date: %d %s %s", w.Code, w.Header().Get("Content-Type"), w.Body)
	}
	if code, _ := e.get(t, "/audit?from=x", false); code != http.StatusUnauthorized {
		t.Errorf("signed out: %d", code)
	}
}

// Issue 15, the evidence trail: each batch's page shows its checksum,
// when it was sent, when our copy was shredded, the partner's signed
// confirmation, and its inclusion in the latest signed checkpoint,
// checked here.
func TestBatchEvidenceTrail(t *testing.T) {
	t.Parallel()
	e := newPageEnv(t)
	full, other := e.ids["full"], e.ids["other"]
	if code, _ := e.get(t, "/audit/batches/"+full, false); code != http.StatusUnauthorized {
		t.Errorf("signed out: %d", code)
	}
	code, page := e.get(t, "/audit/batches/"+full, true)
	if code != 200 {
		t.Fatalf("batch page: %d\n%s", code, page)
	}
	mustMatch(t, "batch page", page,
		`<h1 class="govuk-heading-xl govuk-!-text-break-word">Batch `+full+`</h1>`,
		`data-status-tag="confirmed">Confirmed</strong>`,
		`id="batch-sha256"><code>`+strings.Repeat("ab", 32)+`</code>`,
		`id="batch-records">5<`, `id="batch-orders">3<`,
		`id="shredded">\d+ \w+ 20\d\d \d\d:\d\d UTC<`,
		`id="personal-deleted">\d+ Sep 2026`,
		`(?s)id="confirmation-signer"><strong class="govuk-tag govuk-tag--green">Verified at acceptance</strong> signed by the partner's key <code>`+partnerKey+`</code>`,
		strings.Repeat("5a", 32),
		`(?s)id="inclusion"><strong class="govuk-tag govuk-tag--green">Verified</strong>\s*All 4 entries about this batch are in the latest signed checkpoint`,
		`data-kind="batch_sent"`, `data-kind="day_key_destroyed"`, `data-kind="confirmation_accepted"`)
	if strings.Contains(page, "log-disagreements") {
		t.Errorf("an untouched batch shown as disagreeing with the log")
	}

	// An entry about the other batch came after the checkpoint was
	// signed: not covered yet, and the page says so rather than verified.
	_, page = e.get(t, "/audit/batches/"+other, true)
	mustMatch(t, "batch after the checkpoint", page, `(?s)id="inclusion"><strong class="govuk-tag govuk-tag--red">Not verified</strong> .*?not in the tree of \d+ entries yet`,
		`id="confirmation-none">The audit log holds no accepted confirmation`)

	if code, _ := e.get(t, "/audit/batches/B-NOPE", true); code != http.StatusNotFound {
		t.Errorf("unknown batch: %d", code)
	}
}
