package auditors

// The transparency log for auditors (issue 15; docs/reconciler.md, "The
// transparency log"): behind the same sign-in as the page,
//
//	GET /api/v1/audit/export                       the export, as `reconciler audit export` writes it (JSON lines)
//	GET /api/v1/audit/inclusion?seq=N | ?batch=ID  [&size=N]  inclusion proofs, as `reconciler audit prove` prints them
//	GET /api/v1/audit/consistency?from=OLD[&to=NEW]           a consistency proof, likewise
//	GET /audit/latest.checkpoint                   the latest signed checkpoint, to keep
//	GET /audit/audit.pub                           the public key, as `auditverify --key` reads it
//
// and a section on the page: the latest checkpoint and whether its
// signature verifies with the configured key. Bad parameters are answered
// with problem details (RFC 9457), as the public API answers.
//
// Nothing here signs: a checkpoint is signed by the reconciler after each
// run and whenever the log grows (within AUDIT_CHECKPOINT_EVERY), so an
// export may end with a few entries its checkpoint does not cover yet;
// auditverify says how many.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"booklets/pkg/stage/audit"
)

// AuditLog is the stored transparency log (pkg/adapter/postgres
// AuditTree): the proofs' store and the export.
type AuditLog interface {
	audit.ProofStore
	// Export writes the whole log and its latest checkpoint, from one
	// snapshot, in audit.ExportWriter's format; it returns how many
	// entries it wrote.
	Export(ctx context.Context, w io.Writer, origin, publicKey string) (int64, error)
}

// registerAuditLog adds the transparency log's routes when a log is set.
func (s *Server) registerAuditLog(mux *http.ServeMux) {
	if s.AuditLog == nil {
		return
	}
	mux.Handle("GET /api/v1/audit/export", s.guard(s.handleExport))
	mux.Handle("GET /api/v1/audit/inclusion", s.guard(s.handleInclusion))
	mux.Handle("GET /api/v1/audit/consistency", s.guard(s.handleConsistency))
	mux.Handle("GET /audit/latest.checkpoint", s.guard(s.handleLatestCheckpoint))
	mux.Handle("GET /audit/audit.pub", s.guard(s.handlePublicKey))
}

// problem is an RFC 9457 problem details answer.
type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
}

func writeProblem(w http.ResponseWriter, p problem) error {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Status)
	return json.NewEncoder(w).Encode(p)
}

func badParameter(w http.ResponseWriter, detail string) error {
	return writeProblem(w, problem{Type: "urn:booklets:problem:invalid-parameter", Title: "Invalid query parameter",
		Status: http.StatusBadRequest, Detail: detail})
}

// origin is the log's name: the public key's name part.
func (s *Server) origin() string {
	name, _, _ := strings.Cut(strings.TrimSpace(s.AuditPublicKey), "+")
	return name
}

// countingWriter tells whether anything reached the client.
type countingWriter struct {
	w http.ResponseWriter
	n int64
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}

func (s *Server) handleExport(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="audit-log-%s.jsonl"`, s.now().UTC().Format("20060102T150405Z")))
	cw := &countingWriter{w: w}
	if _, err := s.AuditLog.Export(r.Context(), cw, s.origin(), strings.TrimSpace(s.AuditPublicKey)); err != nil {
		if cw.n == 0 {
			return err // nothing sent yet: the guard answers 500
		}
		// Part of the export is out: end the response without its
		// proper end, so the client sees a failed download rather than
		// a shorter log that looks whole.
		s.log.Error().Err(err).Int64("bytes_sent", cw.n).Msg("audit export failed part way")
		panic(http.ErrAbortHandler)
	}
	return nil
}

// intParam reads an optional positive integer parameter; 0 when absent.
func intParam(r *http.Request, name string) (int64, string) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0, ""
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 1 {
		return 0, fmt.Sprintf("%s must be a whole number from 1 (got %q)", name, v)
	}
	return n, ""
}

// proofRequest reads the query parameters named in names.
func proofRequest(r *http.Request, names ...string) (audit.ProofRequest, string) {
	var q audit.ProofRequest
	known := map[string]bool{}
	for _, n := range names {
		known[n] = true
	}
	for k := range r.URL.Query() {
		if !known[k] {
			return q, fmt.Sprintf("unknown parameter %q: this endpoint takes %s", k, strings.Join(names, ", "))
		}
	}
	for _, p := range []struct {
		name string
		dst  *int64
	}{{"seq", &q.Seq}, {"from", &q.From}, {"to", &q.To}, {"size", &q.Size}} {
		if !known[p.name] {
			continue
		}
		n, bad := intParam(r, p.name)
		if bad != "" {
			return q, bad
		}
		*p.dst = n
	}
	if known["batch"] {
		q.Batch = r.URL.Query().Get("batch")
	}
	return q, ""
}

func (s *Server) handleInclusion(w http.ResponseWriter, r *http.Request) error {
	q, bad := proofRequest(r, "seq", "batch", "size")
	if bad != "" {
		return badParameter(w, bad)
	}
	if (q.Seq == 0) == (q.Batch == "") {
		return badParameter(w, "give one of seq (an entry) or batch (a batch id)")
	}
	return s.prove(w, r, q)
}

func (s *Server) handleConsistency(w http.ResponseWriter, r *http.Request) error {
	q, bad := proofRequest(r, "from", "to")
	if bad != "" {
		return badParameter(w, bad)
	}
	if q.From == 0 {
		return badParameter(w, "from (the old tree size) is required")
	}
	return s.prove(w, r, q)
}

// prove answers the JSON `reconciler audit prove` prints.
func (s *Server) prove(w http.ResponseWriter, r *http.Request, q audit.ProofRequest) error {
	out, err := audit.Prove(r.Context(), s.AuditLog, q)
	switch {
	case errors.Is(err, audit.ErrBadRequest):
		return badParameter(w, err.Error())
	case errors.Is(err, audit.ErrSize):
		return writeProblem(w, problem{Type: "urn:booklets:problem:tree-size", Title: "Tree size out of range",
			Status: http.StatusBadRequest, Detail: err.Error()})
	case errors.Is(err, audit.ErrNotFound):
		return writeProblem(w, problem{Type: "urn:booklets:problem:not-in-log", Title: "Not in the log",
			Status: http.StatusNotFound, Detail: err.Error()})
	case err != nil:
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(out)
}

func (s *Server) handleLatestCheckpoint(w http.ResponseWriter, r *http.Request) error {
	note, err := s.AuditLog.Latest(r.Context())
	if err != nil {
		return err
	}
	if note == nil {
		return writeProblem(w, problem{Type: "urn:booklets:problem:no-checkpoint", Title: "No checkpoint yet",
			Status: http.StatusNotFound, Detail: "No checkpoint of the audit log has been signed yet."})
	}
	name := "latest.checkpoint"
	if cp, err := audit.ParseCheckpoint(audit.NoteText(note)); err == nil {
		// The name the reconciler publishes it under, so that kept files
		// sort in the order they were signed.
		name = fmt.Sprintf("%012d-%s.checkpoint", cp.Size, cp.Time.UTC().Format("20060102T150405Z"))
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s"`, name))
	_, err = w.Write(note)
	return err
}

func (s *Server) handlePublicKey(w http.ResponseWriter, _ *http.Request) error {
	key := strings.TrimSpace(s.AuditPublicKey)
	if key == "" {
		return writeProblem(w, problem{Type: "urn:booklets:problem:no-signing-key", Title: "No signing key configured",
			Status: http.StatusNotFound, Detail: "The reconciler has no AUDIT_SIGNING_KEY_FILE: it signs no checkpoint."})
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, err := io.WriteString(w, key+"\n")
	return err
}

// logData is the page's transparency log section.
type logData struct {
	// PublicKey is empty when no signing key is configured.
	PublicKey string
	// Checkpoint is the latest signed checkpoint, nil if none.
	Checkpoint *audit.Checkpoint
	// Root is the checkpoint's root hash (base64, as in the file).
	Root string
	// Verified: the signature verifies with PublicKey; else Problem says
	// why not.
	Verified bool
	Problem  string
	// Size is how many entries the log holds now (the checkpoint may
	// cover fewer: the newest wait for the next one).
	Size int64
	// Check is the reconciler's last consistency check, nil when none has
	// run since it started (or no checker is set).
	Check *audit.Check
	// CheckProblem is why the last check failed, for the page: what was
	// found when the log was refused, else only that it could not be read
	// (the cause, which may name servers, is in the reconciler's log).
	CheckProblem string
}

// auditLogSummary reads the latest checkpoint and checks its signature
// against the configured key.
func (s *Server) auditLogSummary(ctx context.Context) (*logData, error) {
	if s.AuditLog == nil {
		return nil, nil
	}
	d := &logData{PublicKey: strings.TrimSpace(s.AuditPublicKey)}
	if s.LogChecks != nil {
		if c, ok := s.LogChecks.LastCheck(); ok {
			d.Check = &c
			switch {
			case c.Err == nil:
			case errors.Is(c.Err, audit.ErrRefused):
				d.CheckProblem = c.Err.Error()
			default:
				d.CheckProblem = "the log could not be read for the check; the reconciler's log says why"
			}
		}
	}
	size, err := s.AuditLog.Sync(ctx)
	if err != nil {
		return d, err
	}
	d.Size = size
	note, err := s.AuditLog.Latest(ctx)
	if err != nil || note == nil {
		return d, err
	}
	if d.PublicKey != "" {
		cp, err := audit.OpenCheckpoint(note, d.PublicKey)
		if err == nil {
			d.Checkpoint, d.Verified, d.Root = &cp, true, cp.Root.String()
			return d, nil
		}
		d.Problem = err.Error()
	} else {
		d.Problem = "no public key is configured to check it with"
	}
	// Shown all the same, marked as not verified: the auditor sees what
	// is stored and checks it with the key they hold.
	if cp, err := audit.ParseCheckpoint(audit.NoteText(note)); err == nil {
		d.Checkpoint, d.Root = &cp, cp.Root.String()
	}
	return d, nil
}
