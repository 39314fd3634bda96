package reconcile

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/rs/zerolog"
)

// Inbox is the partner's confirmations folder (pkg/adapter/sftp over SFTP).
type Inbox interface {
	// List returns the names of the files waiting in the folder.
	List(ctx context.Context) ([]string, error)
	// Read returns a file's content, or an error wrapping ErrOversized
	// when it is larger than MaxFileSize (then nothing is read).
	Read(ctx context.Context, name string) ([]byte, error)
	// Done moves a handled file out of the folder: to the processed folder
	// when accepted, to the rejected folder (kept for audit) when not.
	Done(ctx context.Context, f File, accepted bool) error
	// Quarantine moves a file that could not be read (too large) to the
	// rejected folder, its name marked with why and when, so that it does
	// not fail every later run.
	Quarantine(ctx context.Context, name, why string, now time.Time) error
	Close() error
}

// State is a sent batch with the confirmations recorded for it.
type State struct {
	Batch        Batch
	Accepted     *Recorded // the accepted confirmation, if any
	LastRejected bool      // the last confirmation received was rejected
	LastReason   string    // its reason
}

// Filter selects batches by business date (inclusive; zero = open).
type Filter struct {
	From, To time.Time
}

// Store is the record (pkg/adapter/postgres over PostgreSQL).
type Store interface {
	// Record judges a file and records the outcome with its audit entry in
	// one transaction. A file already recorded (same name and content) is
	// not judged again: its earlier outcome is returned with dup true. A
	// file the judge finds Unmatched is not recorded (the run's summary
	// counts it).
	Record(ctx context.Context, f File, now time.Time, judge func(b *Batch, accepted *Recorded) Recorded) (rec Recorded, dup bool, err error)
	// States returns the sent batches in business date order.
	States(ctx context.Context, f Filter) ([]State, error)
	// RaiseOverdue records an overdue alert for the batch on the London
	// date today with its audit entry, unless one was raised that day;
	// raised says whether it was new.
	RaiseOverdue(ctx context.Context, b Batch, today, now time.Time) (raised bool, err error)
	// RecordRun records what a run did, and, when it met unmatched files,
	// one audit entry counting them, in one transaction. Alerts are
	// computed from these records (and the confirmations), so that a run
	// by any process (the daemon or a `check-now`) raises them.
	RecordRun(ctx context.Context, run Run) error
}

// Why a file was unmatched: the keys of Summary.UnmatchedBy and of the
// run's audit entry.
const (
	BadName      = "bad_name"      // not deletion_<batch_id>.json
	UnknownBatch = "unknown_batch" // names a batch we have no record of
	Oversized    = "oversized"     // larger than MaxFileSize: not read, quarantined
)

// Reconciler runs the daily check.
type Reconciler struct {
	Store Store
	Open  func(ctx context.Context) (Inbox, error) // connects to the partner
	Log   zerolog.Logger
}

// Summary says what one run did.
type Summary struct {
	Files      int `json:"files"`
	Accepted   int `json:"accepted"`
	Rejected   int `json:"rejected"`
	Duplicates int `json:"duplicates"`
	// Unmatched files name no batch of ours (UnmatchedBy says why): each
	// is moved to the rejected folder, and the run records one audit entry
	// counting them instead of one entry each.
	Unmatched   int            `json:"unmatched"`
	UnmatchedBy map[string]int `json:"unmatched_by,omitempty"`
	// Failed files could not be handled (the partner or the database
	// failed); they stay in the folder for the next run.
	Failed  int      `json:"failed"`
	Overdue []string `json:"overdue"` // batch ids overdue now
	Raised  int      `json:"alerts_raised"`
}

// Run is a run as recorded.
type Run struct {
	StartedAt, FinishedAt time.Time
	OK                    bool // no step failed
	Summary               Summary
}

// unmatched is a file set aside to be summarised and moved at the end of
// the run, once the summary is recorded.
type unmatched struct {
	name   string
	file   *File // nil when the file was not read (oversized)
	reason string
}

// Reconcile fetches and records new confirmations, then checks every sent
// batch for an overdue deletion, and records the run. Running it again is
// harmless. A failure to reach the partner does not stop the overdue
// check, and one bad file does not stop the others; errors are returned
// at the end.
func (r *Reconciler) Reconcile(ctx context.Context, now time.Time) (Summary, error) {
	began := time.Now() // elapsed time only: now is the injected clock
	sum := Summary{UnmatchedBy: map[string]int{}}
	var inbox Inbox
	var set []unmatched
	ferr := r.fetch(ctx, now, &sum, &inbox, &set)
	if inbox != nil {
		defer inbox.Close()
	}
	if ferr != nil {
		r.Log.Error().Err(ferr).Msg("fetching confirmations failed; overdue check continues")
	}
	oerr := r.overdue(ctx, now, &sum)
	// The run is recorded even when the context ended, so that a run cut
	// short at shutdown still counts (and fails) in the alerts.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	rerr := r.Store.RecordRun(rctx, Run{StartedAt: now, FinishedAt: now.Add(time.Since(began)), OK: ferr == nil && oerr == nil, Summary: sum})
	if rerr != nil {
		rerr = fmt.Errorf("reconcile: record the run: %w", rerr)
	}
	var merr error
	if rerr == nil && inbox != nil {
		// Only now that they are counted in the record: moved before, a
		// crash would lose them from the audit log; a failed move is
		// retried, and counted again, by the next run.
		merr = r.setAside(ctx, inbox, set, now)
	}
	if len(sum.UnmatchedBy) == 0 {
		sum.UnmatchedBy = nil
	}
	r.Log.Info().Int("files", sum.Files).Int("accepted", sum.Accepted).Int("rejected", sum.Rejected).
		Int("duplicates", sum.Duplicates).Int("unmatched", sum.Unmatched).Int("failed", sum.Failed).
		Int("overdue", len(sum.Overdue)).Msg("reconciliation run")
	return sum, errors.Join(ferr, oerr, rerr, merr)
}

func (r *Reconciler) fetch(ctx context.Context, now time.Time, sum *Summary, inboxp *Inbox, set *[]unmatched) error {
	inbox, err := r.Open(ctx)
	if err != nil {
		return fmt.Errorf("reconcile: connect to partner: %w", err)
	}
	*inboxp = inbox
	names, err := inbox.List(ctx)
	if err != nil {
		return fmt.Errorf("reconcile: list confirmations: %w", err)
	}
	sort.Strings(names)
	var errs []error
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := r.one(ctx, inbox, name, now, sum, set); err != nil {
			// One bad file must not stop the others.
			sum.Failed++
			r.Log.Error().Err(err).Str("file", name).Msg("confirmation not handled; will retry next run")
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (r *Reconciler) one(ctx context.Context, inbox Inbox, name string, now time.Time, sum *Summary, set *[]unmatched) error {
	data, err := inbox.Read(ctx, name)
	if errors.Is(err, ErrOversized) {
		r.setAsideLater(sum, set, unmatched{name: name, reason: Oversized})
		return nil
	}
	if err != nil {
		return fmt.Errorf("reconcile: read %s: %w", name, err)
	}
	f := NewFile(name, data)
	if _, ok := BatchIDFromFileName(name); !ok {
		r.setAsideLater(sum, set, unmatched{name: name, file: &f, reason: BadName})
		return nil
	}
	rec, dup, err := r.Store.Record(ctx, f, now, func(b *Batch, accepted *Recorded) Recorded {
		return Judge(f, b, accepted, now)
	})
	if err != nil {
		return fmt.Errorf("reconcile: record %s: %w", name, err)
	}
	if rec.Unmatched && !dup {
		r.setAsideLater(sum, set, unmatched{name: name, file: &f, reason: UnknownBatch})
		return nil
	}
	sum.Files++
	ev := r.Log.Info()
	switch {
	case dup:
		sum.Duplicates++
		ev = ev.Bool("duplicate", true)
	case rec.Accepted:
		sum.Accepted++
	default:
		sum.Rejected++
		ev = r.Log.Warn().Str("reason", rec.Reason)
	}
	ev.Str("file", name).Str("batch_id", rec.BatchID).Bool("accepted", rec.Accepted).Bool("early", rec.Early).
		Msg("deletion confirmation")
	if err := inbox.Done(ctx, f, rec.Accepted); err != nil {
		return fmt.Errorf("reconcile: move %s out of the confirmations folder (recorded; will move next run): %w", name, err)
	}
	return nil
}

func (r *Reconciler) setAsideLater(sum *Summary, set *[]unmatched, u unmatched) {
	sum.Files++
	sum.Unmatched++
	sum.UnmatchedBy[u.reason]++
	*set = append(*set, u)
	r.Log.Warn().Str("file", u.name).Str("reason", u.reason).
		Msg("file in the confirmations folder names no batch of ours: moved to the rejected folder, counted in the run's audit entry")
}

// setAside moves the unmatched files to the rejected folder.
func (r *Reconciler) setAside(ctx context.Context, inbox Inbox, set []unmatched, now time.Time) error {
	var errs []error
	for _, u := range set {
		var err error
		if u.file == nil {
			err = inbox.Quarantine(ctx, u.name, u.reason, now)
		} else {
			err = inbox.Done(ctx, *u.file, false)
		}
		if err != nil {
			r.Log.Error().Err(err).Str("file", u.name).Msg("could not move an unmatched file to the rejected folder; the next run tries again")
			errs = append(errs, fmt.Errorf("reconcile: move %s to the rejected folder: %w", u.name, err))
		}
	}
	return errors.Join(errs...)
}

func (r *Reconciler) overdue(ctx context.Context, now time.Time, sum *Summary) error {
	states, err := r.Store.States(ctx, Filter{})
	if err != nil {
		return fmt.Errorf("reconcile: overdue check: %w", err)
	}
	today := londonDate(now)
	var errs []error
	for _, s := range states {
		// Not StatusOf: a batch whose last confirmation was rejected shows
		// as rejected but is overdue all the same once past its due date.
		if !IsOverdue(s.Batch, s.Accepted, now) {
			continue
		}
		sum.Overdue = append(sum.Overdue, s.Batch.ID)
		raised, err := r.Store.RaiseOverdue(ctx, s.Batch, today, now)
		if err != nil {
			errs = append(errs, fmt.Errorf("reconcile: raise overdue alert for batch %s: %w", s.Batch.ID, err))
			continue
		}
		if raised {
			sum.Raised++
			r.Log.Error().Str("batch_id", s.Batch.ID).Str("due_date", s.Batch.DueDate.Format(time.DateOnly)).
				Str("delivery_date", s.Batch.DeliveryDate.Format(time.DateOnly)).
				Msg("OVERDUE: the print partner has not confirmed deletion of this batch by its due date")
		}
	}
	return errors.Join(errs...)
}

// ViewOf is a state as shown to auditors on the London date of now.
func ViewOf(s State, now time.Time) View {
	v := View{Batch: s.Batch, Status: StatusOf(s.Batch, s.Accepted, s.LastRejected, now), LastRejection: s.LastReason,
		Overdue: IsOverdue(s.Batch, s.Accepted, now)}
	if s.Accepted != nil {
		at, del := s.Accepted.ReceivedAt, s.Accepted.Conf.DeletedAt
		v.ConfirmedAt, v.DeletedAt = &at, &del
		v.Deviation = Deviation(s.Batch, s.Accepted)
	}
	return v
}

// Views computes every state's view and keeps those with the given
// statuses (all when none given).
func Views(states []State, now time.Time, statuses ...Status) []View {
	want := map[Status]bool{}
	for _, s := range statuses {
		want[s] = true
	}
	out := make([]View, 0, len(states))
	for _, s := range states {
		v := ViewOf(s, now)
		if len(want) == 0 || want[v.Status] {
			out = append(out, v)
		}
	}
	return out
}
