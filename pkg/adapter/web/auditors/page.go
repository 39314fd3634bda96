package auditors

// The page's finding aids (issue 15, "For the auditors"): statuses named
// and coloured GOV.UK's way and explained, orders counted beside records,
// empty days hideable, a search by batch id or order reference, and each
// batch's evidence trail on a page of its own (/audit/batches/{id}).

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"booklets/pkg/domain/reference"
	"booklets/pkg/stage/audit"
	"booklets/pkg/stage/reconcile"
)

// OrderCountSource gives how many orders each batch holds (a record is a
// booklet; an order may ask for several). A Source that is one too
// (pkg/adapter/postgres) adds the count to the page.
type OrderCountSource interface {
	OrderCounts(ctx context.Context, batchIDs []string) (map[string]int, error)
}

// ReferenceSource finds the batch an order went out in, by its canonical
// reference: "" when it is in no batch yet, found false when there is no
// such order. A Source that is one too (pkg/adapter/postgres) lets the
// page's search follow a reference; nothing else about the order is read.
type ReferenceSource interface {
	BatchOfReference(ctx context.Context, ref string) (batchID string, found bool, err error)
}

// UnmatchedSource lists the files in the partner's confirmations folder
// that named no batch of ours (a mistyped batch id, a wrong name), newest
// first. A Source that is one too (pkg/adapter/postgres) adds them to the
// page and the API, so that a typo does not hide a confirmation.
type UnmatchedSource interface {
	Unmatched(ctx context.Context, from, to time.Time, limit int) ([]reconcile.UnmatchedFile, error)
}

// unmatchedShown is how many unmatched files the page and the API list
// (the newest); `reconciler report --unmatched` lists them all.
const unmatchedShown = 50

// unmatched reads the newest unmatched files, nil without a source.
func (s *Server) unmatched(ctx context.Context) ([]reconcile.UnmatchedFile, bool, error) {
	us, ok := s.src.(UnmatchedSource)
	if !ok {
		return nil, false, nil
	}
	files, err := us.Unmatched(ctx, time.Time{}, time.Time{}, unmatchedShown)
	return files, true, err
}

// RejectedUpdatesSource lists the newest dispatch and returns files
// rejected, with the reason the partner was given (pkg/adapter/postgres
// Ledger): a Source that is one too adds them to the page.
type RejectedUpdatesSource interface {
	RejectedUpdates(ctx context.Context, limit int) ([]reconcile.UpdatesOutcome, error)
}

func (s *Server) rejectedUpdates(ctx context.Context) ([]reconcile.UpdatesOutcome, bool, error) {
	rs, ok := s.src.(RejectedUpdatesSource)
	if !ok {
		return nil, false, nil
	}
	files, err := rs.RejectedUpdates(ctx, unmatchedShown)
	return files, true, err
}

// statusLabel is a status in sentence case, as GOV.UK writes labels.
func statusLabel(s reconcile.Status) string {
	l := strings.ReplaceAll(string(s), "_", " ")
	if l == "" {
		return l
	}
	return strings.ToUpper(l[:1]) + l[1:]
}

// statusTag is the classes of a status's GOV.UK tag: each its own colour,
// red for what needs chasing. GOV.UK Frontend 6 has no blue modifier (a tag
// is blue by default) and renamed turquoise to teal.
func statusTag(s reconcile.Status) string {
	switch s {
	case reconcile.Overdue:
		return "govuk-tag govuk-tag--red"
	case reconcile.Rejected:
		return "govuk-tag govuk-tag--orange"
	case reconcile.Awaiting:
		return "govuk-tag"
	case reconcile.ConfirmedEarly:
		return "govuk-tag govuk-tag--teal"
	case reconcile.ConfirmedLate:
		return "govuk-tag govuk-tag--purple"
	case reconcile.Confirmed:
		return "govuk-tag govuk-tag--green"
	}
	return "govuk-tag govuk-tag--grey"
}

// statusExplanation says what a status means, for the page's key.
func statusExplanation(s reconcile.Status) string {
	switch s {
	case reconcile.Overdue:
		return "The due date has passed and the partner has not confirmed deletion. Chase the partner."
	case reconcile.Rejected:
		return "The partner's last confirmation was rejected (the reason is shown with the batch) and none has been accepted. Past the due date it counts as overdue too."
	case reconcile.Awaiting:
		return "Sent to the partner; the due date (the 30th working day after delivery) has not passed and no confirmation is accepted yet."
	case reconcile.ConfirmedEarly:
		return "The partner confirmed deletion, but deleted before the due date: recorded and flagged as a deviation."
	case reconcile.ConfirmedLate:
		return "The partner confirmed deletion, but deleted after the due date: the data was kept longer than agreed; recorded and flagged as a deviation."
	case reconcile.Confirmed:
		return "The partner confirmed deletion on the due date, and the confirmation was accepted."
	}
	return ""
}

// narrow applies the page's search and empty-day filter to the shown
// batches. A search that reads as an order reference is followed to its
// batch (q.Found says where it went); otherwise it matches batch ids.
func (s *Server) narrow(ctx context.Context, q *query, views []reconcile.View) ([]reconcile.View, error) {
	if q.HideEmpty {
		kept := views[:0:0]
		for _, v := range views {
			if v.RecordCount > 0 {
				kept = append(kept, v)
			}
		}
		views = kept
	}
	if q.Search == "" {
		return views, nil
	}
	if rs, ok := s.src.(ReferenceSource); ok {
		if ref, err := reference.Parse(q.Search); err == nil {
			id, found, err := rs.BatchOfReference(ctx, ref.String())
			if err != nil {
				return nil, err
			}
			switch {
			case found && id == "":
				q.Found = fmt.Sprintf("Order %s is in no batch: not sent yet, or erased before it was.", ref)
				return nil, nil
			case found:
				q.Found, q.FoundBatch = fmt.Sprintf("Order %s went to the partner in batch %s.", ref, id), id
				var out []reconcile.View
				for _, v := range views {
					if v.ID == id {
						out = append(out, v)
					}
				}
				return out, nil
			}
		}
	}
	want := strings.ToLower(q.Search)
	var out []reconcile.View
	for _, v := range views {
		if strings.Contains(strings.ToLower(v.ID), want) {
			out = append(out, v)
		}
	}
	return out, nil
}

//go:embed templates/app.css
var appCSS []byte

// serveCSS serves the page's few rules of its own (the table's scrolling
// region): a file, as the Content-Security-Policy allows no inline style.
// It is not the record, so it needs no sign-in.
func serveCSS(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(appCSS)
}

// trailEvent is one audit entry about the batch, as the trail shows it.
type trailEvent struct {
	Seq     int64
	At      string
	Kind    string
	Summary string
}

// batchData is the batch page.
type batchData struct {
	Assets bool
	View   reconcile.View
	Orders *int
	// Entries are the audit log's entries about the batch; Log false when
	// no audit log is set.
	Log     bool
	Entries []trailEvent
	// ShreddedAt: when our copy's day key was destroyed, from the log.
	ShreddedAt     string
	PersonalGoneAt string
	// Accepted is the accepted confirmation's entry, per the log.
	Accepted *audit.Entry
	// Inclusion: the entries' inclusion in the latest signed checkpoint.
	Inclusion inclusionResult
	// Retained: the encrypted copy kept for a resend, per the log
	// (retained.go); nil if none was kept.
	Retained *retainedView
}

type inclusionResult struct {
	Checked  bool   // a proof was made and checked
	Verified bool   // every entry's proof checks against the signed root
	Size     int64  // the checkpoint's tree size
	Entries  int    // entries proved
	Problem  string // why not verified
}

func (s *Server) handleBatch(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	all, _, err := s.views(r.Context(), reconcile.Filter{}, nil)
	if err != nil {
		return err
	}
	d := batchData{Assets: s.assets != nil}
	found := false
	for _, v := range all {
		if v.ID == id {
			d.View, found = v, true
		}
	}
	if !found {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		http.Error(w, "No sent batch has that id.", http.StatusNotFound)
		return nil
	}
	if oc, ok := s.src.(OrderCountSource); ok {
		n, err := oc.OrderCounts(r.Context(), []string{id})
		if err != nil {
			return err
		}
		if c, ok := n[id]; ok {
			d.Orders = &c
		}
	}
	if s.AuditLog != nil {
		d.Log = true
		entries, err := s.AuditLog.ForBatch(r.Context(), id)
		if err != nil {
			return err
		}
		for i, e := range entries {
			ev := trailEvent{Seq: e.Seq, At: e.At.UTC().Format("2 Jan 2006 15:04 UTC"), Kind: string(e.Kind), Summary: summarise(e)}
			switch e.Kind {
			case audit.DayKeyDestroyed:
				d.ShreddedAt = ev.At
			case audit.PersonalDataDeleted:
				d.PersonalGoneAt = ev.At
			case audit.ConfirmationAccepted:
				if d.Accepted == nil {
					d.Accepted = &entries[i]
				}
			}
			d.Entries = append(d.Entries, ev)
		}
		d.Inclusion = s.checkInclusion(r.Context(), id)
		d.Retained = retainedFrom(entries)
	}
	var b strings.Builder
	if err := s.page.ExecuteTemplate(&b, "batch", d); err != nil {
		return fmt.Errorf("render batch page: %w", err)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, err = w.Write([]byte(b.String()))
	return err
}

// summarise is an entry's details in a line: only what the log holds,
// which is never personal data.
func summarise(e audit.Entry) string {
	var parts []string
	for _, k := range []string{"record_count", "order_count", "sha256", "count", "business_date", "kek_id", "file", "file_sha256",
		"signer", "signature_sha256", "deleted_at", "reason"} {
		if v, ok := e.Details[k]; ok {
			parts = append(parts, fmt.Sprintf("%s %v", strings.ReplaceAll(k, "_", " "), v))
		}
	}
	return strings.Join(parts, "; ")
}

// checkInclusion proves every entry about the batch against the latest
// checkpoint and checks each proof and the checkpoint's signature here,
// so the page says verified only when the signed root covers them.
func (s *Server) checkInclusion(ctx context.Context, id string) inclusionResult {
	var res inclusionResult
	key := strings.TrimSpace(s.AuditPublicKey)
	out, err := audit.Prove(ctx, s.AuditLog, audit.ProofRequest{Batch: id})
	switch {
	case errors.Is(err, audit.ErrNotFound):
		res.Problem = err.Error()
		return res
	case err != nil:
		s.log.Error().Err(err).Str("batch", id).Msg("auditors' batch page: inclusion proof failed")
		res.Problem = "the proof could not be made; try again later"
		return res
	case out.Checkpoint == "":
		res.Problem = "no checkpoint has been signed yet"
		return res
	case key == "":
		res.Problem = "no public key is configured to check the checkpoint with"
		return res
	}
	cp, err := audit.OpenCheckpoint([]byte(out.Checkpoint), key)
	if err != nil {
		res.Problem = "the checkpoint's signature does not verify: " + err.Error()
		return res
	}
	res.Checked, res.Size, res.Entries = true, cp.Size, len(out.Inclusion)
	for _, p := range out.Inclusion {
		if p.TreeSize != cp.Size || p.RootHash != cp.Root {
			res.Problem = fmt.Sprintf("the proof of entry %d is not against the signed checkpoint", p.Seq)
			return res
		}
		if err := p.Check(); err != nil {
			res.Problem = err.Error()
			return res
		}
	}
	res.Verified = len(out.Inclusion) > 0
	return res
}
