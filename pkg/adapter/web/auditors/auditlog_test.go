package auditors_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"
	"golang.org/x/mod/sumdb/tlog"

	"booklets/pkg/adapter/postgres"
	"booklets/pkg/adapter/web/auditors"
	"booklets/pkg/stage/audit"
	"booklets/pkg/testkit/testenv"
)

// auditLogEnv is a database with audit entries, a signing key and the
// auditors' server over them, with the transparency log set.
type auditLogEnv struct {
	t      *testing.T
	db     *pgxpool.Pool
	signer *audit.Signer
	srv    *auditors.Server
	mux    *http.ServeMux
}

func newAuditLogEnv(t *testing.T) *auditLogEnv {
	t.Helper()
	db, _ := testenv.MigratedPool(t)
	private, _, err := audit.GenerateKey(rand.Reader, "booklets-test")
	testenv.Must(t, err)
	signer, err := audit.NewSigner(private)
	testenv.Must(t, err)
	now := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	srv, err := auditors.New(postgres.NewLedger(db), auditors.Auth{Token: token}, func() time.Time { return now }, zerolog.Nop(), nil)
	testenv.Must(t, err)
	srv.AuditLog = postgres.AuditTree{DB: db}
	srv.AuditPublicKey = signer.PublicKey
	e := &auditLogEnv{t: t, db: db, signer: signer, srv: srv}
	e.register()
	return e
}

// register (again) after the server's fields change.
func (e *auditLogEnv) register() {
	e.mux = http.NewServeMux()
	e.srv.Register(e.mux)
}

func (e *auditLogEnv) append(events ...audit.Event) {
	e.t.Helper()
	ctx := context.Background()
	for _, ev := range events {
		testenv.Must(e.t, pgx.BeginFunc(ctx, e.db, func(tx pgx.Tx) error { return postgres.AppendAudit(ctx, tx, ev) }))
	}
}

// sign signs a checkpoint of the whole log, as the reconciler does.
func (e *auditLogEnv) sign() audit.Signed {
	e.t.Helper()
	c := audit.Checkpointer{Store: postgres.AuditTree{DB: e.db}, Signer: e.signer,
		Now: func() time.Time { return time.Date(2026, 12, 4, 8, 30, 0, 0, time.UTC) }}
	s, err := c.Sign(context.Background(), false)
	testenv.Must(e.t, err)
	return s
}

func (e *auditLogEnv) get(path string, signedIn bool) (*httptest.ResponseRecorder, []byte) {
	e.t.Helper()
	r := httptest.NewRequest("GET", path, nil)
	if signedIn {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	e.mux.ServeHTTP(w, r)
	body, _ := io.ReadAll(w.Body)
	if strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") {
		// html/template writes '+' (in keys and hashes) as &#43;.
		body = []byte(html.UnescapeString(string(body)))
	}
	return w, body
}

func (e *auditLogEnv) ok(path string) (*httptest.ResponseRecorder, []byte) {
	e.t.Helper()
	w, body := e.get(path, true)
	if w.Code != http.StatusOK {
		e.t.Fatalf("GET %s: %d, want 200:\n%s", path, w.Code, body)
	}
	return w, body
}

var batchEvents = []audit.Event{
	{Kind: audit.BatchSent, BatchID: "B-1", Details: map[string]any{"record_count": 3, "sha256": strings.Repeat("0f", 32)}},
	{Kind: audit.BatchSent, BatchID: "B-2", Details: map[string]any{"record_count": 1, "sha256": strings.Repeat("1e", 32)}},
	{Kind: audit.ConfirmationAccepted, BatchID: "B-1", Details: map[string]any{"file": "deletion_B-1.json", "early": false}},
}

// The export, the latest checkpoint and the public key, downloaded over
// HTTP, are what auditverify checks offline; the proofs are the JSON
// `reconciler audit prove` prints and verify with tlog against the signed
// root. Everything needs the auditors' sign-in.
func TestAuditLogEndpoints(t *testing.T) {
	t.Parallel()
	e := newAuditLogEnv(t)
	e.append(batchEvents...)
	signed := e.sign()
	// One more entry after the checkpoint: in the export, not yet signed.
	e.append(audit.Event{Kind: audit.OverdueRaised, BatchID: "B-2", Details: map[string]any{"due_date": "2027-01-15"}})

	paths := []string{"/api/v1/audit/export", "/api/v1/audit/inclusion?seq=1", "/api/v1/audit/consistency?from=1",
		"/audit/latest.checkpoint", "/audit/audit.pub"}
	for _, p := range paths {
		if w, body := e.get(p, false); w.Code != http.StatusUnauthorized {
			t.Errorf("GET %s without signing in: %d, want 401:\n%s", p, w.Code, body)
		}
	}

	// The public key, exactly as `reconciler audit public-key` prints it.
	w, pub := e.ok("/audit/audit.pub")
	if string(pub) != e.signer.PublicKey+"\n" || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/plain") {
		t.Fatalf("public key %q (%s), want %q", pub, w.Header().Get("Content-Type"), e.signer.PublicKey)
	}

	// The latest checkpoint, to keep, under the name it is published as.
	w, note := e.ok("/audit/latest.checkpoint")
	if !bytes.Equal(note, signed.Note) {
		t.Fatalf("checkpoint:\n%s\nwant:\n%s", note, signed.Note)
	}
	if cd := w.Header().Get("Content-Disposition"); !strings.Contains(cd, `filename="000000000003-20261204T083000Z.checkpoint"`) {
		t.Errorf("Content-Disposition %q", cd)
	}
	if _, err := audit.OpenCheckpoint(note, string(pub)); err != nil {
		t.Fatalf("the downloaded checkpoint does not verify with the downloaded key: %v", err)
	}

	// The export: what `reconciler audit export` writes (without signing
	// first), and auditverify's check passes against the kept checkpoint.
	w, export := e.ok("/api/v1/audit/export")
	if ct := w.Header().Get("Content-Type"); ct != "application/x-ndjson" {
		t.Errorf("export Content-Type %q", ct)
	}
	var cli bytes.Buffer
	_, err := postgres.AuditTree{DB: e.db}.Export(context.Background(), &cli, e.signer.Origin(), e.signer.PublicKey)
	testenv.Must(t, err)
	if !bytes.Equal(export, cli.Bytes()) {
		t.Fatalf("the export over HTTP differs from the command's:\n%s\nwant:\n%s", export, cli.Bytes())
	}
	x, err := audit.ReadExport(bytes.NewReader(export))
	testenv.Must(t, err)
	r := audit.CheckExport(x, audit.LogCheck{PublicKey: string(pub), Batch: "B-1",
		Kept: []audit.KeptCheckpoint{{Name: "kept.checkpoint", Signed: note}}})
	testenv.Must(t, r.Err())
	if r.Entries != 4 || r.Uncovered != 1 || len(r.Batch) != 2 {
		t.Fatalf("check of the export: %d entries, %d uncovered, %d batch proofs; want 4, 1, 2", r.Entries, r.Uncovered, len(r.Batch))
	}

	// Inclusion of a batch's entries, against the signed checkpoint.
	var p audit.Proofs
	_, body := e.ok("/api/v1/audit/inclusion?batch=B-1")
	testenv.Must(t, json.Unmarshal(body, &p))
	cp, err := audit.OpenCheckpoint([]byte(p.Checkpoint), string(pub))
	testenv.Must(t, err)
	if cp.Size != 3 || len(p.Inclusion) != 2 || p.Consistency != nil {
		t.Fatalf("batch proofs: %s", body)
	}
	for i, ip := range p.Inclusion {
		if want := []int64{1, 3}[i]; ip.Seq != want {
			t.Errorf("proof %d is of seq %d, want %d", i, ip.Seq, want)
		}
		if err := tlog.CheckRecord(ip.Proof, cp.Size, cp.Root, ip.LeafIndex, ip.LeafHash); err != nil {
			t.Errorf("inclusion of seq %d: %v", ip.Seq, err)
		}
	}
	// The same JSON as the command's (audit.Prove, indented).
	want, err := audit.Prove(context.Background(), postgres.AuditTree{DB: e.db}, audit.ProofRequest{Batch: "B-1"})
	testenv.Must(t, err)
	var wantJSON bytes.Buffer
	enc := json.NewEncoder(&wantJSON)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	testenv.Must(t, enc.Encode(want))
	if !bytes.Equal(body, wantJSON.Bytes()) {
		t.Errorf("inclusion JSON:\n%s\nwant:\n%s", body, wantJSON.Bytes())
	}

	// One entry, against the whole log (size) rather than the checkpoint.
	p = audit.Proofs{}
	_, body = e.ok("/api/v1/audit/inclusion?seq=4&size=4")
	testenv.Must(t, json.Unmarshal(body, &p))
	if p.Checkpoint != "" || len(p.Inclusion) != 1 || p.Inclusion[0].TreeSize != 4 {
		t.Fatalf("seq 4 in the tree of 4: %s", body)
	}
	testenv.Must(t, p.Inclusion[0].Check())

	// Consistency from the first entry to the signed checkpoint.
	p = audit.Proofs{}
	_, body = e.ok("/api/v1/audit/consistency?from=1")
	testenv.Must(t, json.Unmarshal(body, &p))
	c := p.Consistency
	if c == nil || c.NewSize != cp.Size || c.NewRoot != cp.Root || p.Checkpoint == "" {
		t.Fatalf("consistency proof: %s", body)
	}
	first, err := postgres.AuditTree{DB: e.db}.Entry(context.Background(), 1)
	testenv.Must(t, err)
	leaf, err := audit.LeafHash(first)
	testenv.Must(t, err)
	if err := tlog.CheckTree(c.Proof, c.NewSize, c.NewRoot, 1, leaf); err != nil {
		t.Fatalf("consistency from 1: %v", err)
	}
	// From the signed checkpoint to the whole log, as an auditor holding
	// it asks on the next visit.
	p = audit.Proofs{}
	_, body = e.ok("/api/v1/audit/consistency?from=3&to=4")
	testenv.Must(t, json.Unmarshal(body, &p))
	if p.Consistency == nil || p.Consistency.OldRoot != cp.Root || p.Consistency.NewSize != 4 {
		t.Fatalf("consistency 3 to 4: %s", body)
	}
	testenv.Must(t, p.Consistency.Check())
}

// Bad parameters are answered with problem details naming the fault.
func TestAuditLogEndpointProblems(t *testing.T) {
	t.Parallel()
	e := newAuditLogEnv(t)
	e.append(batchEvents...)
	e.sign()
	e.append(audit.Event{Kind: audit.OverdueRaised, BatchID: "B-2", Details: map[string]any{"due_date": "2027-01-15"}})
	for _, c := range []struct {
		path   string
		status int
		typ    string
		detail string
	}{
		{"/api/v1/audit/inclusion", 400, "invalid-parameter", "give one of seq"},
		{"/api/v1/audit/inclusion?seq=1&batch=B-1", 400, "invalid-parameter", "give one of seq"},
		{"/api/v1/audit/inclusion?seq=abc", 400, "invalid-parameter", `seq must be a whole number from 1 (got "abc")`},
		{"/api/v1/audit/inclusion?seq=0", 400, "invalid-parameter", "seq must be a whole number"},
		{"/api/v1/audit/inclusion?seq=-2", 400, "invalid-parameter", "seq must be a whole number"},
		{"/api/v1/audit/inclusion?from=1", 400, "invalid-parameter", `unknown parameter "from"`},
		{"/api/v1/audit/inclusion?seq=1&size=9", 400, "tree-size", "the log holds 4 entries, not 9"},
		{"/api/v1/audit/inclusion?seq=9", 404, "not-in-log", "no entry 9"},
		{"/api/v1/audit/inclusion?seq=4", 404, "not-in-log", "entry 4 is not in the tree of 3 entries yet"},
		{"/api/v1/audit/inclusion?batch=B-NONE", 404, "not-in-log", `no entry about batch "B-NONE"`},
		{"/api/v1/audit/consistency", 400, "invalid-parameter", "from (the old tree size) is required"},
		{"/api/v1/audit/consistency?to=3", 400, "invalid-parameter", "from (the old tree size) is required"},
		{"/api/v1/audit/consistency?from=x", 400, "invalid-parameter", "from must be a whole number"},
		{"/api/v1/audit/consistency?from=1&seq=1", 400, "invalid-parameter", `unknown parameter "seq"`},
		{"/api/v1/audit/consistency?from=3&to=2", 400, "tree-size", "need 1 <= old <= new"},
		{"/api/v1/audit/consistency?from=1&to=99", 400, "tree-size", "the log holds 4 entries, not 99"},
	} {
		w, body := e.get(c.path, true)
		var p struct {
			Type   string `json:"type"`
			Title  string `json:"title"`
			Status int    `json:"status"`
			Detail string `json:"detail"`
		}
		err := json.Unmarshal(body, &p)
		if w.Code != c.status || err != nil || w.Header().Get("Content-Type") != "application/problem+json" ||
			p.Status != c.status || p.Type != "urn:booklets:problem:"+c.typ || p.Title == "" || !strings.Contains(p.Detail, c.detail) {
			t.Errorf("GET %s: %d %s %s\nwant %d, type %s, detail with %q", c.path, w.Code, w.Header().Get("Content-Type"), body, c.status, c.typ, c.detail)
		}
	}
}

// The page shows the latest checkpoint, whether its signature verifies
// with the configured key, and the public key; without a transparency log
// configured it is the page it was.
func TestPageShowsTheLatestCheckpoint(t *testing.T) {
	t.Parallel()
	e := newAuditLogEnv(t)

	// No checkpoint yet.
	_, page := e.ok("/audit")
	for _, want := range []string{`id="audit-checkpoint-none"`, `<code id="audit-public-key">` + e.signer.PublicKey + `</code>`, `href="/audit/audit.pub"`} {
		if !strings.Contains(string(page), want) {
			t.Errorf("page without a checkpoint lacks %s", want)
		}
	}
	if w, body := e.get("/audit/latest.checkpoint", true); w.Code != http.StatusNotFound || !strings.Contains(string(body), "no-checkpoint") {
		t.Errorf("latest.checkpoint before any: %d %s", w.Code, body)
	}

	e.append(batchEvents...)
	s := e.sign()
	_, page = e.ok("/audit")
	for _, want := range []string{
		`id="checkpoint-size">3</dd>`,
		`id="checkpoint-root"><code>` + s.Root.String() + `</code>`,
		`id="checkpoint-time">4 Dec 2026 08:30 UTC</dd>`,
		`<strong class="govuk-tag govuk-tag--green">Verified</strong>`,
		`href="/audit/latest.checkpoint" download`,
		`href="/api/v1/audit/export" download`,
	} {
		if !strings.Contains(string(page), want) {
			t.Errorf("page lacks %s", want)
		}
	}
	if strings.Contains(string(page), "Not verified") {
		t.Error("a verified checkpoint is shown as not verified")
	}

	// Configured with another key: shown, and marked as not verified.
	_, other, err := audit.GenerateKey(rand.Reader, "booklets-test")
	testenv.Must(t, err)
	e.srv.AuditPublicKey = other
	_, page = e.ok("/audit")
	for _, want := range []string{`govuk-tag--red">Not verified</strong>`, "wrong key", `id="checkpoint-size">3</dd>`, "govuk-warning-text"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("page with another key lacks %s", want)
		}
	}

	// No signing key: no public key to serve.
	e.srv.AuditPublicKey = ""
	_, page = e.ok("/audit")
	if !strings.Contains(string(page), `id="audit-public-key-none"`) || !strings.Contains(string(page), "Not verified") {
		t.Error("page without a key does not say so")
	}
	if w, body := e.get("/audit/audit.pub", true); w.Code != http.StatusNotFound || !strings.Contains(string(body), "no-signing-key") {
		t.Errorf("audit.pub without a key: %d %s", w.Code, body)
	}

	// Without a transparency log: no section, no routes.
	e.srv.AuditLog = nil
	e.register()
	_, page = e.ok("/audit")
	if strings.Contains(string(page), `id="audit-log"`) {
		t.Error("the page shows a transparency log that is not configured")
	}
	if w, _ := e.get("/api/v1/audit/export", true); w.Code != http.StatusNotFound {
		t.Errorf("export without a log: %d, want 404", w.Code)
	}
}
