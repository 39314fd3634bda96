package reconcile

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/rs/zerolog"
)

// Inbox is the partner's confirmations folder (pkg/partner over SFTP).
type Inbox interface {
	// List returns the names of the files waiting in the folder.
	List(ctx context.Context) ([]string, error)
	// Read returns a file's content (at most MaxFileSize bytes).
	Read(ctx context.Context, name string) ([]byte, error)
	// Done moves a handled file out of the folder: to the processed folder
	// when accepted, to the rejected folder (kept for audit) when not.
	Done(ctx context.Context, f File, accepted bool) error
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

// Store is the record (pkg/ledger over PostgreSQL).
type Store interface {
	// Record judges a file and records the outcome with its audit entry in
	// one transaction. A file already recorded (same name and content) is
	// not judged again: its earlier outcome is returned with dup true.
	Record(ctx context.Context, f File, now time.Time, judge func(b *Batch, accepted *Recorded) Recorded) (rec Recorded, dup bool, err error)
	// States returns the sent batches in business date order.
	States(ctx context.Context, f Filter) ([]State, error)
	// RaiseOverdue records an overdue alert for the batch on the London
	// date today with its audit entry, unless one was raised that day;
	// raised says whether it was new.
	RaiseOverdue(ctx context.Context, b Batch, today, now time.Time) (raised bool, err error)
}

// Gauge is where the number of overdue batches is reported (a prometheus
// gauge).
type Gauge interface{ Set(float64) }

// Reconciler runs the daily check.
type Reconciler struct {
	Store   Store
	Open    func(ctx context.Context) (Inbox, error) // connects to the partner
	Log     zerolog.Logger
	Overdue Gauge // may be nil
}

// Summary says what one run did.
type Summary struct {
	Files      int      `json:"files"`
	Accepted   int      `json:"accepted"`
	Rejected   int      `json:"rejected"`
	Duplicates int      `json:"duplicates"`
	Overdue    []string `json:"overdue"` // batch ids overdue now
	Raised     int      `json:"alerts_raised"`
}

// Reconcile fetches and records new confirmations, then checks every sent
// batch for an overdue deletion. Running it again is harmless. A failure
// to reach the partner does not stop the overdue check; it is returned
// after it.
func (r *Reconciler) Reconcile(ctx context.Context, now time.Time) (Summary, error) {
	var sum Summary
	ferr := r.fetch(ctx, now, &sum)
	if ferr != nil {
		r.Log.Error().Err(ferr).Msg("fetching confirmations failed; overdue check continues")
	}
	oerr := r.overdue(ctx, now, &sum)
	r.Log.Info().Int("files", sum.Files).Int("accepted", sum.Accepted).Int("rejected", sum.Rejected).
		Int("duplicates", sum.Duplicates).Int("overdue", len(sum.Overdue)).Msg("reconciliation run")
	return sum, errors.Join(ferr, oerr)
}

func (r *Reconciler) fetch(ctx context.Context, now time.Time, sum *Summary) error {
	inbox, err := r.Open(ctx)
	if err != nil {
		return fmt.Errorf("reconcile: connect to partner: %w", err)
	}
	defer inbox.Close()
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
		if err := r.one(ctx, inbox, name, now, sum); err != nil {
			// One bad file must not stop the others.
			r.Log.Error().Err(err).Str("file", name).Msg("confirmation not handled; will retry next run")
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (r *Reconciler) one(ctx context.Context, inbox Inbox, name string, now time.Time, sum *Summary) error {
	data, err := inbox.Read(ctx, name)
	if err != nil {
		return fmt.Errorf("reconcile: read %s: %w", name, err)
	}
	f := NewFile(name, data)
	rec, dup, err := r.Store.Record(ctx, f, now, func(b *Batch, accepted *Recorded) Recorded {
		return Judge(f, b, accepted, now)
	})
	if err != nil {
		return fmt.Errorf("reconcile: record %s: %w", name, err)
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
	if r.Overdue != nil {
		r.Overdue.Set(float64(len(sum.Overdue)))
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
