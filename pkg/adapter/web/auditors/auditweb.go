// Package auditweb is the auditors' read-only view of the deletion record:
// an HTML page (GOV.UK Frontend markup), a CSV download and a JSON
// endpoint, behind a bearer token or basic auth with a bcrypt-hashed
// password. Without any credentials configured it refuses to serve the
// record rather than serve it openly.
//
// Nothing it shows is personal data: batch ids, dates, counts, checksums
// and statuses. Query parameters (dates and a status) are not personal
// either.
package auditors

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/crypto/bcrypt"

	"booklets/pkg/domain/workdays"
	"booklets/pkg/stage/audit"
	"booklets/pkg/stage/reconcile"
	"booklets/pkg/stage/research"
)

//go:embed templates/*.html
var templates embed.FS

// Auth is how auditors sign in. Either or both may be set.
type Auth struct {
	Token        string // AUDIT_TOKEN: Authorization: Bearer <token>
	User         string // AUDIT_USER
	PasswordHash string // AUDIT_PASSWORD_HASH: bcrypt
	// Failed sign-ins allowed per client: FailuresPerMinute on average
	// after a first FailureBurst (AUDIT_FAILURES_PER_MINUTE,
	// AUDIT_FAILURE_BURST); beyond, 429 with Retry-After. Zero: the
	// defaults.
	FailuresPerMinute int
	FailureBurst      int
}

// Configured reports whether any way in is set up.
func (a Auth) Configured() bool { return a.Token != "" || (a.User != "" && a.PasswordHash != "") }

// Validate refuses credentials too weak to serve the record behind.
func (a Auth) Validate() error {
	if a.Token != "" && len(a.Token) < MinTokenLength {
		return fmt.Errorf("auditweb: AUDIT_TOKEN is %d bytes; it must be at least %d (make one with `openssl rand -hex 32`)", len(a.Token), MinTokenLength)
	}
	if a.PasswordHash != "" {
		if _, err := bcrypt.Cost([]byte(a.PasswordHash)); err != nil {
			return fmt.Errorf("auditweb: AUDIT_PASSWORD_HASH is not a bcrypt hash: %w", err)
		}
	}
	return nil
}

// Source is where the record comes from (pkg/adapter/postgres).
type Source interface {
	States(ctx context.Context, f reconcile.Filter) ([]reconcile.State, error)
}

// VolunteerSource lists the user-research volunteers whose 2-year review
// date has passed without a decision (pkg/adapter/postgres): opaque ids and
// dates, no personal data.
type VolunteerSource interface {
	Overdue(ctx context.Context) ([]research.Summary, error)
}

// RetentionSource gives the batcher's last retention watchdog finding
// (pkg/adapter/postgres): personal data held past its day's cut-off plus the grace,
// as a count and the received time of the oldest; no personal data.
type RetentionSource interface {
	LastRetentionCheck(ctx context.Context) (checkedAt time.Time, overdue int, oldest time.Time, err error)
}

// EncryptionSource says how each batch's data file was sent, decided when
// the batcher assembled it: "openpgp" (encrypted to the partner's key) or
// "none" (plain CSV, PARTNER_PLAINTEXT). A Source that is one too
// (pkg/adapter/postgres) adds it to the page.
type EncryptionSource interface {
	BatchEncryption(ctx context.Context, batchIDs []string) (map[string]string, error)
}

// Server serves the auditors' pages.
type Server struct {
	// Retention, when set, adds the personal data held too long.
	Retention RetentionSource

	// Volunteers, when set, adds the overdue volunteer reviews to the page.
	Volunteers VolunteerSource

	// AuditLog, when set, adds the transparency log: its export, proofs,
	// latest checkpoint and public key (auditlog.go), and the checkpoint
	// on the page. AuditPublicKey is the key checkpoints are signed with
	// (`reconciler audit public-key`); empty when none is configured.
	// Both are read by Register and on each request.
	AuditLog       AuditLog
	AuditPublicKey string
	// LogChecks, when set, is the checkpointer whose last check (does the
	// log still extend every checkpoint signed before?) the top of the
	// page reports.
	LogChecks interface{ LastCheck() (audit.Check, bool) }

	// OnSignInFailure, when set, is told of each failed sign-in: refused
	// (wrong credentials), or limited (429) when the client has failed too
	// often (a metric).
	OnSignInFailure func(limited bool)

	// Trail, when set, checks every batch shown (page, CSV and API)
	// against the verified audit log (reconcile.CheckedViews): where the
	// tables disagree with it the batch is tagged, and its dates, status
	// and overdue flag are the log's. Calendar computes a due date a
	// batch_sent entry lacks (nil: England and Wales).
	Trail    reconcile.AuditTrail
	Calendar *workdays.Calendar

	// PartnerKeys, when set, adds the partner's pinned OpenPGP keys and
	// their expiry (partnerkeys.go); called on each request.
	PartnerKeys func() []PartnerKey

	src      Source
	auth     Auth
	failures *failures
	now      func() time.Time
	log      zerolog.Logger
	page     *template.Template
	assets   http.Handler // GOV.UK Frontend CSS and fonts, or nil
}

// New parses the page template (failing at start-up, not on a request).
// assets, if not nil, serves GOV.UK Frontend's files under /assets/.
func New(src Source, auth Auth, now func() time.Time, log zerolog.Logger, assets http.Handler) (*Server, error) {
	page, err := template.New("audit.html").Funcs(template.FuncMap{
		"date": func(t time.Time) string { return t.Format("2 Jan 2006") },
		"at":   func(t time.Time) string { return t.UTC().Format("2 Jan 2006 15:04 UTC") },
		"atp": func(t *time.Time) string {
			if t == nil {
				return ""
			}
			return t.UTC().Format("2 Jan 2006 15:04 UTC")
		},
		"label":   statusLabel,
		"tag":     statusTag,
		"explain": statusExplanation,
	}).ParseFS(templates, "templates/audit.html", "templates/auditlog.html", "templates/batch.html", "templates/partnerkeys.html")
	if err != nil {
		return nil, fmt.Errorf("auditweb: parse templates: %w", err)
	}
	if err := auth.Validate(); err != nil {
		return nil, err
	}
	return &Server{src: src, auth: auth, failures: newFailures(auth.FailuresPerMinute, auth.FailureBurst),
		now: now, log: log, page: page, assets: assets}, nil
}

// Register adds the routes to mux.
func (s *Server) Register(mux *http.ServeMux) {
	mux.Handle("GET /audit", s.guard(s.handlePage))
	mux.Handle("GET /audit/batches.csv", s.guard(s.handleCSV))
	mux.Handle("GET /audit/batches/{id}", s.guard(s.handleBatch))
	mux.Handle("GET /audit/app.css", http.HandlerFunc(serveCSS))
	mux.Handle("GET /api/v1/batches", s.guard(s.handleJSON))
	s.registerAuditLog(mux)
	if s.assets != nil {
		mux.Handle("GET /assets/", http.StripPrefix("/assets/", s.assets))
	}
}

func (s *Server) guard(h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		// The page runs no script and may not be framed or post elsewhere.
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		w.Header().Set("X-Frame-Options", "DENY")
		if !s.auth.Configured() {
			http.Error(w, "The audit record is not available: no credentials are configured. "+
				"Set AUDIT_TOKEN, or AUDIT_USER and AUDIT_PASSWORD_HASH, and restart the reconciler.", http.StatusServiceUnavailable)
			return
		}
		if !s.signIn(w, r) {
			return
		}
		if err := h(w, r); err != nil {
			var fe filterErrors
			if errors.As(err, &fe) {
				// The page answers these itself (handlePage); the API with
				// problem details, as the proof endpoints do; the CSV in
				// plain text, which is what a download can show.
				if strings.HasPrefix(r.URL.Path, "/api/") {
					_ = badParameter(w, fe.Error())
					return
				}
				http.Error(w, fe.Error(), http.StatusBadRequest)
				return
			}
			s.log.Error().Err(err).Str("path", r.URL.Path).Msg("audit page failed")
			http.Error(w, "Something went wrong reading the audit record. Try again later.", http.StatusInternalServerError)
		}
	})
}

// signIn checks the request's credentials within its client's allowance
// of failures, and answers 401 or 429 itself when it returns false.
func (s *Server) signIn(w http.ResponseWriter, r *http.Request) bool {
	method, user := presented(r)
	if method == "" {
		// A browser's first request, before it asks for the password: not
		// an attempt, and no bcrypt work.
		unauthorised(w)
		return false
	}
	key, now := clientKey(r), s.now()
	c := s.failures.take(key, now)
	defer c.turn.Unlock()
	if wait := c.wait(now); wait > 0 {
		// Refused before any check, the right credentials included: a
		// guesser must not learn which try was right.
		if !c.limited {
			c.limited = true // once per spell, so a flood cannot flood the log
			s.log.Warn().Str("client", key).Str("method", method).Dur("retry_after", wait).
				Msg("auditors' sign-in: too many failures from this client; refusing its attempts for a while")
		}
		if s.OnSignInFailure != nil {
			s.OnSignInFailure(true)
		}
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		http.Error(w, "Too many failed sign-ins. Try again later.", http.StatusTooManyRequests)
		return false
	}
	if s.authorised(r) {
		return true
	}
	c.fail(now)
	ev := s.log.Warn().Str("client", key).Str("method", method)
	if method == "basic" {
		ev = ev.Str("user", logName(user))
	}
	ev.Msg("auditors' sign-in failed")
	if s.OnSignInFailure != nil {
		s.OnSignInFailure(false)
	}
	unauthorised(w)
	return false
}

func unauthorised(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Basic realm="booklets audit", charset="UTF-8"`)
	http.Error(w, "Sign in to see the audit record.", http.StatusUnauthorized)
}

func (s *Server) authorised(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	if s.auth.Token != "" {
		if tok, ok := strings.CutPrefix(h, "Bearer "); ok {
			// Compare digests so the comparison takes the same time
			// whatever the lengths.
			a, b := sha256.Sum256([]byte(tok)), sha256.Sum256([]byte(s.auth.Token))
			if subtle.ConstantTimeCompare(a[:], b[:]) == 1 {
				return true
			}
		}
	}
	if s.auth.User != "" && s.auth.PasswordHash != "" {
		if user, pass, ok := r.BasicAuth(); ok {
			a, b := sha256.Sum256([]byte(user)), sha256.Sum256([]byte(s.auth.User))
			userOK := subtle.ConstantTimeCompare(a[:], b[:]) == 1
			passOK := bcrypt.CompareHashAndPassword([]byte(s.auth.PasswordHash), []byte(pass)) == nil
			return userOK && passOK
		}
	}
	return false
}

type query struct {
	From, To string
	Status   string
	// Search is a batch id (or part of one) or an order reference.
	Search string
	// HideEmpty leaves out the batches of days with no orders.
	HideEmpty bool
	// Found says what the search found (an order reference's batch);
	// empty when there was no search or it was a batch id.
	// FoundBatch is the batch it found, whose trail the page links to.
	Found      string
	FoundBatch string
}

// fieldError is a mistyped filter, shown GOV.UK's way: in the error
// summary at the top, linked to the field (ID), and beside it.
type fieldError struct {
	ID, Message string
}

// filterErrors are all of a request's mistyped filters.
type filterErrors []fieldError

func (e filterErrors) Error() string {
	m := make([]string, len(e))
	for i, f := range e {
		m[i] = f.Message
	}
	return strings.Join(m, "; ")
}

// For returns the message for a field, "" when it is right.
func (e filterErrors) For(id string) string {
	for _, f := range e {
		if f.ID == id {
			return f.Message
		}
	}
	return ""
}

func parseQuery(r *http.Request) query {
	v := r.URL.Query()
	return query{From: strings.TrimSpace(v.Get("from")), To: strings.TrimSpace(v.Get("to")), Status: v.Get("status"),
		Search: strings.TrimSpace(v.Get("q")), HideEmpty: v.Get("hide_empty") != ""}
}

func (q query) filter() (reconcile.Filter, []reconcile.Status, error) {
	var f reconcile.Filter
	var errs filterErrors
	var err error
	if q.From != "" {
		if f.From, err = time.Parse(time.DateOnly, q.From); err != nil {
			errs = append(errs, fieldError{"from", "Business date from must be a real date like 2025-03-31"})
		}
	}
	if q.To != "" {
		if f.To, err = time.Parse(time.DateOnly, q.To); err != nil {
			errs = append(errs, fieldError{"to", "Business date to must be a real date like 2025-03-31"})
		}
	}
	if !f.From.IsZero() && !f.To.IsZero() && f.To.Before(f.From) {
		errs = append(errs, fieldError{"to", "Business date to must be the same as or after business date from"})
	}
	var statuses []reconcile.Status
	if q.Status != "" {
		st, ok := reconcile.ParseStatus(q.Status)
		if !ok {
			names := make([]string, len(reconcile.Statuses))
			for i, st := range reconcile.Statuses {
				names[i] = string(st)
			}
			sort.Strings(names)
			errs = append(errs, fieldError{"status", "Status must be one of " + strings.Join(names, ", ")})
		}
		statuses = append(statuses, st)
	}
	if len(errs) > 0 {
		return f, nil, errs
	}
	return f, statuses, nil
}

func (s *Server) load(r *http.Request) (query, []reconcile.View, []reconcile.View, error) {
	q := parseQuery(r)
	f, statuses, err := q.filter()
	if err != nil {
		return q, nil, nil, err
	}
	all, shown, err := s.views(r.Context(), f, statuses)
	if err != nil {
		return q, nil, nil, err
	}
	shown, err = s.narrow(r.Context(), &q, shown)
	return q, all, shown, err
}

// views reads the batches within f, checked against the audit log when
// there is one: all of them, and those with one of the statuses.
func (s *Server) views(ctx context.Context, f reconcile.Filter, statuses []reconcile.Status) (all, shown []reconcile.View, err error) {
	states, err := s.src.States(ctx, f)
	if err != nil {
		return nil, nil, err
	}
	now := s.now()
	if s.Trail != nil {
		t, err := s.Trail.BatchTrail(ctx)
		if err != nil {
			return nil, nil, err
		}
		return reconcile.CheckedViews(states, t, f, s.Calendar, now), reconcile.CheckedViews(states, t, f, s.Calendar, now, statuses...), nil
	}
	return reconcile.Views(states, now), reconcile.Views(states, now, statuses...), nil
}

type pageData struct {
	Query    query
	Statuses []reconcile.Status
	Counts   reconcile.Counts
	Oldest   *reconcile.View
	Views    []reconcile.View
	Total    int
	Now      time.Time
	// CSVQuery is the filters, re-encoded (so safe in the link) and
	// marked as such: html/template would escape a raw "=" and lose them.
	CSVQuery template.URL
	Assets   bool
	// VolunteerReviews is false when no volunteer source is set.
	VolunteerReviews bool
	OverdueReviews   []research.Summary
	// Retention is nil when no retention source is set.
	Retention *retentionData
	// Encryption is how each shown batch's file was sent, by batch id
	// (EncryptionSource); nil without one.
	Encryption map[string]string
	// AuditLog is the transparency log's latest checkpoint; nil without
	// an AuditLog.
	AuditLog *logData
	// Errors are the mistyped filters; none when the filters are right.
	Errors filterErrors
	// Orders is how many orders each shown batch holds (OrderCountSource);
	// nil without one.
	Orders map[string]int
	// Unmatched are the newest files that named no batch of ours;
	// HasUnmatched is false without an UnmatchedSource.
	Unmatched    []reconcile.UnmatchedFile
	HasUnmatched bool
	// RejectedUpdates are the newest dispatch and returns files rejected;
	// HasRejectedUpdates is false without a RejectedUpdatesSource.
	RejectedUpdates    []reconcile.UpdatesOutcome
	HasRejectedUpdates bool
	// PartnerKeys is nil without a PartnerKeys source.
	PartnerKeys *partnerKeysData
}

type retentionData struct {
	CheckedAt time.Time // zero: the watchdog never ran
	Overdue   int
	OldestAge string
}

func (s *Server) handlePage(w http.ResponseWriter, r *http.Request) error {
	q, all, shown, err := s.load(r)
	var errs filterErrors
	if errors.As(err, &errs) {
		// A mistyped filter: the page as it is without the filters, the
		// error summary at the top, and no batch table (it would not be
		// the batches asked for).
		if all, _, err = s.views(r.Context(), reconcile.Filter{}, nil); err != nil {
			return err
		}
		shown = nil
	} else if err != nil {
		return err
	}
	counts, oldest := reconcile.Summarise(all)
	d := pageData{Query: q, Statuses: reconcile.Statuses, Counts: counts, Oldest: oldest, Views: shown,
		Total: len(all), Now: s.now(), CSVQuery: template.URL(r.URL.Query().Encode()), Assets: s.assets != nil, Errors: errs}
	if oc, ok := s.src.(OrderCountSource); ok && len(shown) > 0 {
		ids := make([]string, len(shown))
		for i, v := range shown {
			ids[i] = v.ID
		}
		if d.Orders, err = oc.OrderCounts(r.Context(), ids); err != nil {
			return err
		}
	}
	if s.Volunteers != nil {
		overdue, err := s.Volunteers.Overdue(r.Context())
		if err != nil {
			return err
		}
		d.VolunteerReviews, d.OverdueReviews = true, overdue
	}
	if s.Retention != nil {
		at, n, oldest, err := s.Retention.LastRetentionCheck(r.Context())
		if err != nil {
			return err
		}
		d.Retention = &retentionData{CheckedAt: at, Overdue: n}
		if n > 0 {
			d.Retention.OldestAge = d.Now.Sub(oldest).Round(time.Minute).String()
		}
	}
	d.PartnerKeys = s.partnerKeys()
	if d.AuditLog, err = s.auditLogSummary(r.Context()); err != nil {
		return err
	}
	if d.Unmatched, d.HasUnmatched, err = s.unmatched(r.Context()); err != nil {
		return err
	}
	if d.RejectedUpdates, d.HasRejectedUpdates, err = s.rejectedUpdates(r.Context()); err != nil {
		return err
	}
	if es, ok := s.src.(EncryptionSource); ok && len(shown) > 0 {
		ids := make([]string, len(shown))
		for i, v := range shown {
			ids[i] = v.ID
		}
		if d.Encryption, err = es.BatchEncryption(r.Context(), ids); err != nil {
			return err
		}
	}
	var b strings.Builder
	if err := s.page.Execute(&b, d); err != nil {
		return fmt.Errorf("render audit page: %w", err)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if len(errs) > 0 {
		w.WriteHeader(http.StatusBadRequest)
	}
	_, err = w.Write([]byte(b.String()))
	return err
}

func (s *Server) handleCSV(w http.ResponseWriter, r *http.Request) error {
	_, _, shown, err := s.load(r)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="batches.csv"`)
	return reconcile.WriteCSV(w, shown)
}

// apiBatch is a report row (with deleted_at and deviation) plus what an
// auditor needs to judge it.
type apiBatch struct {
	reconcile.Row
	SHA256        string `json:"sha256"`
	LastRejection string `json:"last_rejection,omitempty"`
	// Unsigned: accepted without the partner's signature (transition
	// setting ACCEPT_UNSIGNED_CONFIRMATIONS); Signer: the key that signed.
	Unsigned bool   `json:"unsigned,omitempty"`
	Signer   string `json:"signer,omitempty"`
	// LogDisagreements: how the tables differ from the verified audit
	// log (Server.Trail); absent when they agree.
	LogDisagreements []string `json:"log_disagreements,omitempty"`
}

// apiUnmatched is a file that named no batch of ours.
type apiUnmatched struct {
	SeenAt   string `json:"seen_at"`
	FileName string `json:"file_name"`
	Why      string `json:"why"`
	BatchID  string `json:"batch_id,omitempty"`
	Reason   string `json:"reason"`
}

func (s *Server) handleJSON(w http.ResponseWriter, r *http.Request) error {
	_, all, shown, err := s.load(r)
	if err != nil {
		return err
	}
	counts, oldest := reconcile.Summarise(all)
	out := struct {
		GeneratedAt   time.Time        `json:"generated_at"`
		Counts        reconcile.Counts `json:"counts"`
		OldestOverdue *string          `json:"oldest_overdue"`
		Batches       []apiBatch       `json:"batches"`
		// Unmatched: the newest files that named no batch of ours.
		Unmatched []apiUnmatched `json:"unmatched_files,omitempty"`
	}{GeneratedAt: s.now().UTC(), Counts: counts, Batches: make([]apiBatch, 0, len(shown))}
	files, _, err := s.unmatched(r.Context())
	if err != nil {
		return err
	}
	for _, f := range files {
		out.Unmatched = append(out.Unmatched, apiUnmatched{SeenAt: f.SeenAt.UTC().Format(time.RFC3339), FileName: f.FileName,
			Why: f.Why, BatchID: f.BatchID, Reason: f.Reason})
	}
	if oldest != nil {
		out.OldestOverdue = &oldest.ID
	}
	for _, v := range shown {
		b := apiBatch{Row: reconcile.RowOf(v), SHA256: v.SHA256, LastRejection: v.LastRejection,
			Unsigned: v.Unsigned, Signer: v.Signer, LogDisagreements: v.LogDisagreements}
		out.Batches = append(out.Batches, b)
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
