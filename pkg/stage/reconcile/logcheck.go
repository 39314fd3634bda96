package reconcile

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"booklets/pkg/domain/workdays"
	"booklets/pkg/stage/audit"
)

// The batches and confirmations tables can be written by the services'
// own database role, so a compromised service (or anyone behind its back)
// can mark a batch confirmed or move its due date without the audit log
// knowing. What auditors are shown is therefore checked against the log:
// each batch's table row is compared with what its batch_sent and
// confirmation entries prove, and a difference is a named disagreement,
// never silently resolved in the table's favour.

// AuditTrail reads the audit log (pkg/adapter/postgres).
type AuditTrail interface {
	// BatchTrail verifies the whole chain and returns its result with the
	// entries the check needs (batch_sent, confirmation_accepted,
	// confirmation_rejected) by batch id, oldest first, read in the same
	// pass.
	BatchTrail(ctx context.Context) (Trail, error)
}

// Trail is the verified log's say about batches.
type Trail struct {
	Chain   audit.Result
	Entries map[string][]audit.Entry
}

// SentAtTolerance is how far a batch's sent_at may be from the time its
// batch_sent entry was recorded: the batcher stamps sent_at just before the
// recording transaction, which may wait for the audit lock and drop
// partitions first. Further apart, the table was changed.
const SentAtTolerance = 15 * time.Minute

// LogFacts is what the verified log proves about one batch.
type LogFacts struct {
	SentSeq      int64     // the batch_sent entry; 0 when the log has none
	SentAt       time.Time // when batch_sent was recorded
	BusinessDate time.Time // civil date; zero when the entry lacks it
	RecordCount  int
	SHA256       string
	DeliveryDate time.Time // civil date (midnight UTC)
	DueDate      time.Time
	// DueComputed: the entry carried no due date, so it is computed from
	// the logged delivery date (or the London date of the entry) with the
	// working-day calendar, as the batcher does.
	DueComputed bool
	// Accepted is the confirmation the log accepted, nil when none.
	Accepted     *Recorded
	AcceptedSeq  int64
	LastRejected bool   // the last confirmation entry is a rejection
	LastReason   string // its reason
}

// FactsOf reads a batch's entries (oldest first). cal computes a due date
// the entry lacks; nil is the England and Wales calendar.
func FactsOf(batchID string, entries []audit.Entry, cal *workdays.Calendar) LogFacts {
	var f LogFacts
	for _, e := range entries {
		switch e.Kind {
		case audit.BatchSent:
			if f.SentSeq != 0 {
				continue // the batcher records a batch as sent once; the first one counts
			}
			f.SentSeq, f.SentAt = e.Seq, e.At.UTC()
			f.RecordCount, _ = intDetail(e.Details, "record_count")
			f.SHA256, _ = e.Details["sha256"].(string)
			f.BusinessDate = dateDetail(e.Details, "business_date")
			f.DeliveryDate = dateDetail(e.Details, "delivery_date")
			if f.DeliveryDate.IsZero() {
				f.DeliveryDate = londonDate(e.At)
			}
			f.DueDate = dateDetail(e.Details, "due_date")
			if f.DueDate.IsZero() {
				if cal == nil {
					cal = workdays.New()
				}
				f.DueDate, f.DueComputed = cal.DueDate(f.DeliveryDate), true
			}
		case audit.ConfirmationAccepted:
			r := Recorded{BatchID: batchID, Accepted: true, ReceivedAt: e.At.UTC()}
			r.FileName, _ = e.Details["file"].(string)
			r.FileSHA256, _ = e.Details["file_sha256"].(string)
			r.Early, _ = e.Details["early"].(bool)
			r.Signer, _ = e.Details["signer"].(string)
			r.SignatureSHA256, _ = e.Details["signature_sha256"].(string)
			r.Conf = Confirmation{FormatVersion: FormatVersion, BatchID: batchID}
			if s, ok := e.Details["deleted_at"].(string); ok {
				r.Conf.DeletedAt, _ = time.Parse(time.RFC3339, s)
			}
			if n, ok := intDetail(e.Details, "record_count"); ok {
				r.Conf.RecordCount = &n
			}
			if f.Accepted == nil { // a second acceptance would be rejected; the first counts
				f.Accepted, f.AcceptedSeq = &r, e.Seq
			}
			f.LastRejected, f.LastReason = false, ""
		case audit.ConfirmationRejected:
			f.LastRejected = true
			f.LastReason, _ = e.Details["reason"].(string)
		}
	}
	return f
}

func intDetail(d map[string]any, k string) (int, bool) {
	switch n := d[k].(type) {
	case float64:
		return int(n), true
	case int:
		return n, true
	case int64:
		return int(n), true
	}
	return 0, false
}

func dateDetail(d map[string]any, k string) time.Time {
	s, _ := d[k].(string)
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}
	}
	return t
}

// Disagreements names every way the table's state of a batch differs from
// what the log proves (none: they agree).
func Disagreements(s State, f LogFacts) []string {
	b := s.Batch
	if f.SentSeq == 0 {
		return []string{"the audit log has no batch_sent entry for this batch: the log does not show it as sent"}
	}
	var d []string
	day := func(t time.Time) string { return t.Format(time.DateOnly) }
	if b.RecordCount != f.RecordCount {
		d = append(d, fmt.Sprintf("record count %d in the batches table; the log says %d", b.RecordCount, f.RecordCount))
	}
	if !strings.EqualFold(b.SHA256, f.SHA256) {
		d = append(d, fmt.Sprintf("checksum %s in the batches table; the log says %s", b.SHA256, f.SHA256))
	}
	if diff := b.SentAt.Sub(f.SentAt); diff > SentAtTolerance || diff < -SentAtTolerance {
		d = append(d, fmt.Sprintf("sent at %s in the batches table; the log recorded it sent at %s",
			b.SentAt.UTC().Format(time.RFC3339), f.SentAt.Format(time.RFC3339)))
	}
	if !b.DeliveryDate.Equal(f.DeliveryDate) {
		d = append(d, fmt.Sprintf("delivery date %s in the batches table; the log says %s", day(b.DeliveryDate), day(f.DeliveryDate)))
	}
	if !b.DueDate.Equal(f.DueDate) {
		how := "the log says"
		if f.DueComputed {
			how = "computed from the log's delivery date it is"
		}
		d = append(d, fmt.Sprintf("due date %s in the batches table; %s %s", day(b.DueDate), how, day(f.DueDate)))
	}
	switch {
	case s.Accepted != nil && f.Accepted == nil:
		d = append(d, fmt.Sprintf("confirmed by %s in the confirmations table, but the log has no accepted confirmation", s.Accepted.FileName))
	case s.Accepted == nil && f.Accepted != nil:
		d = append(d, fmt.Sprintf("the log accepted a confirmation (entry %d, %s), but the confirmations table has none", f.AcceptedSeq, f.Accepted.FileName))
	case s.Accepted != nil && !strings.EqualFold(s.Accepted.FileSHA256, f.Accepted.FileSHA256):
		d = append(d, fmt.Sprintf("the accepted confirmation's file has SHA-256 %s in the confirmations table; the log accepted %s (entry %d)",
			s.Accepted.FileSHA256, f.Accepted.FileSHA256, f.AcceptedSeq))
	}
	return d
}

// CheckedViews is Views checked against the log, plus the batches the log
// shows sent that the tables do not (a sent batch's row is never changed
// back or deleted by the services, so one missing was hidden: hidden, it
// would stop counting overdue), within f's business dates and shown as the
// log proves them. Each view carries its
// disagreements, and where there are any (and the log holds the batch's
// batch_sent entry) its dates, counts, status and overdue flag are the
// log's, so that a confirmation or a due date written into the tables
// behind the log's back cannot make a batch look confirmed or stop it
// counting as overdue. When the chain does not verify, nothing is proven
// by it: every batch says so, and shows the tables' state.
func CheckedViews(states []State, t Trail, f Filter, cal *workdays.Calendar, now time.Time, statuses ...Status) []View {
	want := map[Status]bool{}
	for _, s := range statuses {
		want[s] = true
	}
	out := make([]View, 0, len(states))
	for _, v := range checkedAll(states, t, f, cal, now) {
		if len(want) == 0 || want[v.Status] {
			out = append(out, v)
		}
	}
	return out
}

// checkedAll is every state's checked view and the unlisted batches', in
// business date order.
func checkedAll(states []State, t Trail, f Filter, cal *workdays.Calendar, now time.Time) []View {
	out := make([]View, 0, len(states))
	for _, s := range states {
		out = append(out, checkedView(s, t, cal, now))
	}
	unlisted := unlistedViews(states, t, f, cal, now)
	if len(unlisted) == 0 {
		return out
	}
	out = append(out, unlisted...)
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].BusinessDate.Equal(out[j].BusinessDate) {
			return out[i].BusinessDate.Before(out[j].BusinessDate)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// unlistedViews are the batches the verified log shows sent that are not
// among states, within f's business dates; none when the chain does not
// verify (it proves nothing).
func unlistedViews(states []State, t Trail, f Filter, cal *workdays.Calendar, now time.Time) []View {
	if !t.Chain.OK {
		return nil
	}
	listed := make(map[string]bool, len(states))
	for _, s := range states {
		listed[s.Batch.ID] = true
	}
	var out []View
	for id, entries := range t.Entries {
		if listed[id] {
			continue
		}
		lf := FactsOf(id, entries, cal)
		if lf.SentSeq == 0 || (!f.From.IsZero() && lf.BusinessDate.Before(f.From)) || (!f.To.IsZero() && lf.BusinessDate.After(f.To)) {
			continue
		}
		s := State{Batch: Batch{ID: id, BusinessDate: lf.BusinessDate, State: "sent", RecordCount: lf.RecordCount, SHA256: lf.SHA256,
			SentAt: lf.SentAt, DeliveryDate: lf.DeliveryDate, DueDate: lf.DueDate}, Accepted: lf.Accepted, LastRejected: lf.LastRejected, LastReason: lf.LastReason}
		v := ViewOf(s, now)
		v.LogDisagreements = []string{fmt.Sprintf("the audit log shows this batch sent (entry %d), but the batches table does not list it as sent", lf.SentSeq)}
		out = append(out, v)
	}
	return out
}

func checkedView(s State, t Trail, cal *workdays.Calendar, now time.Time) View {
	if !t.Chain.OK {
		v := ViewOf(s, now)
		v.LogDisagreements = []string{fmt.Sprintf("the audit log does not verify (broken at entry %d: %s), so it proves nothing about this batch", t.Chain.BrokenSeq, t.Chain.Reason)}
		return v
	}
	f := FactsOf(s.Batch.ID, t.Entries[s.Batch.ID], cal)
	d := Disagreements(s, f)
	if len(d) == 0 {
		return ViewOf(s, now)
	}
	if f.SentSeq == 0 {
		v := ViewOf(s, now)
		v.LogDisagreements = d
		return v
	}
	logged := s
	logged.Batch.RecordCount, logged.Batch.SHA256, logged.Batch.SentAt = f.RecordCount, f.SHA256, f.SentAt
	logged.Batch.DeliveryDate, logged.Batch.DueDate = f.DeliveryDate, f.DueDate
	logged.Accepted, logged.LastRejected, logged.LastReason = f.Accepted, f.LastRejected, f.LastReason
	v := ViewOf(logged, now)
	v.LogDisagreements = d
	return v
}

// CountDisagreeing is how many views disagree with the log.
func CountDisagreeing(views []View) int {
	n := 0
	for _, v := range views {
		if len(v.LogDisagreements) > 0 {
			n++
		}
	}
	return n
}
