package reconcile

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"booklets/pkg/domain/workdays"
)

// Inbox is the partner's confirmations folder (pkg/adapter/sftp over SFTP).
type Inbox interface {
	// List returns the files waiting in the folder.
	List(ctx context.Context) ([]Entry, error)
	// Read returns a file's content, or an error wrapping ErrOversized
	// when it is larger than MaxFileSize (then nothing is read).
	Read(ctx context.Context, name string) ([]byte, error)
	// Done moves a handled file out of the folder (see Move); its
	// signature file (f.Sig.Data not nil) goes with it. Moved to the
	// rejected folder, it gets a reason file beside it: its new name plus
	// ReasonExt, holding reason (ReasonText), so that the partner learns
	// why without waiting for us to call.
	Done(ctx context.Context, f File, to Move, reason string) error
	// Quarantine moves a file that could not be read (too large) to the
	// rejected folder, its name marked with why and when, so that it does
	// not fail every later run, with a reason file as Done's.
	Quarantine(ctx context.Context, name, why string, now time.Time, reason string) error
	Close() error
}

// Move is where a handled file goes.
type Move int

const (
	// MoveProcessed: accepted; to the processed folder under its own name
	// (or, when that is taken by an earlier copy, as MoveRepeat does).
	MoveProcessed Move = iota + 1
	// MoveRepeat: the same confirmation again (Recorded.Same); to the
	// processed folder as <name without .json>.<first 12 hex of its
	// SHA-256>.json, so that the accepted file there is never replaced.
	MoveRepeat
	// MoveRejected: to the rejected folder, with part of its SHA-256 in
	// its name and a reason file beside it.
	MoveRejected
)

// ReasonExt is added to a rejected file's name (as moved) to name its
// reason file.
const ReasonExt = ".reason.txt"

// DefaultContact is who the partner is told to ask (the last line of
// every reason file) when Reconciler.Contact (PARTNER_CONTACT) is empty.
const DefaultContact = "the booklets operations team"

// ReasonText is the reason file's content: plain English for the
// partner's staff, who may read it in Notepad; no personal data (a file
// name, a batch id, counts and times). Its last line is "Questions: "
// and contact (DefaultContact when empty), the details agreed with the
// partner (docs/partner-interface.md, "Contacts").
func ReasonText(name, reason string, at time.Time, contact string) string {
	if contact == "" {
		contact = DefaultContact
	}
	return fmt.Sprintf("Your file %s was not accepted.\n\nChecked: %s\n\nWhat was wrong, and what to change:\n%s\n\n"+
		"The file is kept in this folder, with part of its SHA-256 added to its name, as evidence. "+
		"Do not move it back: upload a new file instead.\n\n"+
		"Questions: %s\n",
		name, at.UTC().Format("2006-01-02 15:04 UTC"), reason, contact)
}

// reasonText is ReasonText with the configured contact.
func (r *Reconciler) reasonText(name, reason string, at time.Time) string {
	return ReasonText(name, reason, at, r.Contact)
}

// Entry is a file waiting in the folder.
type Entry struct {
	Name    string
	ModTime time.Time // when it was written, by the partner server's clock
}

// State is a sent batch with the confirmations recorded for it.
type State struct {
	Batch        Batch
	Accepted     *Recorded // the accepted confirmation, if any
	LastRejected bool      // the last confirmation received was rejected
	LastReason   string    // its reason
	// Dispatched and Returned count the batch's booklets (a reference and
	// a format) the partner reported dispatched, and returned, in its
	// updates files.
	Dispatched, Returned int
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
	// one audit entry counting them and a row for each (listed for
	// auditors: Unmatched), in one transaction. Alerts are
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
	// Verify checks a detached signature of data against the partner's
	// pinned signing key (PARTNER_SIGNING_KEY_FILE) and returns the key's
	// fingerprint, or an error saying why the signature is not good. Nil
	// when no key is pinned: signatures are then not checked, and every
	// confirmation counts as unsigned.
	Verify func(data, signature []byte) (signer string, err error)
	// AcceptUnsigned accepts confirmations without a good signature's
	// absence being a reason to reject (ACCEPT_UNSIGNED_CONFIRMATIONS, for
	// a transition period): they are recorded, and shown, as unsigned. A
	// signature that is present and bad, or by another key, is rejected
	// all the same.
	AcceptUnsigned bool
	// SignatureGrace is how long a confirmation may wait in the folder for
	// its signature file before it is judged without one: a partner that
	// uploads the .json before the .asc is not rejected for the moment in
	// between. Measured on Wall against the file's modification time on
	// the partner's server.
	SignatureGrace time.Duration
	// Wall is the real clock for SignatureGrace (nil: time.Now); not the
	// injected business clock, which may run at demo speed.
	Wall func() time.Time
	// Trail, when set, makes the overdue check use what the verified audit
	// log proves (CheckedViews): a due date moved, or a confirmation
	// inserted, in the tables behind the log's back does not stop the
	// alert. Calendar computes a due date a batch_sent entry lacks (nil:
	// England and Wales).
	Trail    AuditTrail
	Calendar *workdays.Calendar
	// OpenUpdates, when set with Updates, connects to the partner's
	// updates folder (dispatch and returns, updates.go); each run handles
	// it after the confirmations, with the same signature rules.
	OpenUpdates func(ctx context.Context) (Inbox, error)
	Updates     UpdatesStore
	// Contact is who the partner should ask about a rejection
	// (PARTNER_CONTACT): the last line of every reason file, "Questions: "
	// and it. Empty: DefaultContact.
	Contact string
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
	Failed int `json:"failed"`
	// Waiting files are confirmations left in the folder for this run:
	// their signature file has not arrived and SignatureGrace has not
	// passed since they were written.
	Waiting int      `json:"waiting_for_signature,omitempty"`
	Overdue []string `json:"overdue"` // batch ids overdue now
	Raised  int      `json:"alerts_raised"`
	// Updates: the partner's dispatch and returns files; absent when the
	// updates folder is not configured.
	Updates *UpdatesSummary `json:"updates,omitempty"`
}

// Run is a run as recorded.
type Run struct {
	StartedAt, FinishedAt time.Time
	OK                    bool // no step failed
	Summary               Summary
	// Unmatched are the files that named no batch of ours, one by one, so
	// that auditors (and the partner, through its reason files) see which
	// and why, not only how many.
	Unmatched []UnmatchedFile
}

// UnmatchedFile is a file in the confirmations folder that named no batch
// of ours. Nothing in it is personal data: the name is the partner's file
// name, the batch id what the name claims.
type UnmatchedFile struct {
	SeenAt     time.Time // the run's start
	FileName   string
	FileSHA256 string // "" when the file was not read (oversized)
	Why        string // BadName, UnknownBatch or Oversized
	BatchID    string // the batch id its name claims; "" for a bad name
	Reason     string // as in its reason file
}

// unmatched is a file set aside to be summarised and moved at the end of
// the run, once the summary is recorded.
type unmatched struct {
	name   string
	file   *File  // nil when the file was not read (oversized)
	reason string // BadName, UnknownBatch or Oversized
	text   string // what was wrong and what to change, for the partner
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
	uerr := r.fetchUpdates(ctx, now, &sum)
	if uerr != nil {
		r.Log.Error().Err(uerr).Msg("fetching dispatch and returns files failed; overdue check continues")
	}
	oerr := r.overdue(ctx, now, &sum)
	// The run is recorded even when the context ended, so that a run cut
	// short at shutdown still counts (and fails) in the alerts.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	run := Run{StartedAt: now, FinishedAt: now.Add(time.Since(began)), OK: ferr == nil && uerr == nil && oerr == nil, Summary: sum}
	for _, u := range set {
		uf := UnmatchedFile{SeenAt: now, FileName: u.name, Why: u.reason, Reason: u.text}
		if u.file != nil {
			uf.FileSHA256 = u.file.SHA256
		}
		uf.BatchID, _ = BatchIDFromFileName(u.name)
		run.Unmatched = append(run.Unmatched, uf)
	}
	rerr := r.Store.RecordRun(rctx, run)
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
	return sum, errors.Join(ferr, uerr, oerr, rerr, merr)
}

// listByName lists an inbox's files in name order, and by name: a file
// and its .asc signature are handled together, whichever is listed first.
func listByName(ctx context.Context, inbox interface {
	List(context.Context) ([]Entry, error)
}) ([]Entry, map[string]Entry, error) {
	entries, err := inbox.List(ctx)
	if err != nil {
		return nil, nil, err
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name < entries[j].Name })
	byName := make(map[string]Entry, len(entries))
	for _, e := range entries {
		byName[e.Name] = e
	}
	return entries, byName, nil
}

func (r *Reconciler) fetch(ctx context.Context, now time.Time, sum *Summary, inboxp *Inbox, set *[]unmatched) error {
	inbox, err := r.Open(ctx)
	if err != nil {
		return fmt.Errorf("reconcile: connect to partner: %w", err)
	}
	*inboxp = inbox
	entries, waiting, err := listByName(ctx, inbox)
	if err != nil {
		return fmt.Errorf("reconcile: list confirmations: %w", err)
	}
	var errs []error
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		name := e.Name
		if base, ok := strings.CutSuffix(name, SigExt); ok {
			if _, ok := BatchIDFromFileName(base); ok {
				if _, ok := waiting[base]; ok {
					continue // handled with its confirmation
				}
				if r.fresh(e) {
					// Its confirmation may be on its way (a partner may
					// upload either first).
					continue
				}
				// Left alone past the grace: set aside as a file that is no
				// confirmation (bad_name).
				if err := r.loneSignature(ctx, inbox, e, sum, set); err != nil {
					sum.Failed++
					r.Log.Error().Err(err).Str("file", name).Msg("signature file not handled; will retry next run")
					errs = append(errs, err)
				}
				continue
			}
		}
		if err := r.one(ctx, inbox, e, waiting, now, sum, set); err != nil {
			// One bad file must not stop the others.
			sum.Failed++
			r.Log.Error().Err(err).Str("file", name).Msg("confirmation not handled; will retry next run")
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// fresh tells whether a file was written less than SignatureGrace ago.
func (r *Reconciler) fresh(e Entry) bool {
	wall := r.Wall
	if wall == nil {
		wall = time.Now
	}
	return r.SignatureGrace > 0 && wall().Sub(e.ModTime) < r.SignatureGrace
}

// signature reads and checks the signature file of a confirmation, if any,
// and says whether the confirmation must wait for it (wait true).
func (r *Reconciler) signature(ctx context.Context, inbox Inbox, e Entry, waiting map[string]Entry, f *File) (wait bool, err error) {
	sigName := e.Name + SigExt
	if r.Verify == nil && !r.AcceptUnsigned {
		// Safe by default: with nothing to check signatures against, only
		// the explicit transition setting lets a confirmation through.
		f.Sig.Problem = "signatures cannot be checked: no partner signing key is pinned (PARTNER_SIGNING_KEY_FILE)"
		return false, nil
	}
	if _, ok := waiting[sigName]; !ok {
		if r.Verify == nil {
			return false, nil // no key pinned: nothing to wait for
		}
		if r.fresh(e) {
			return true, nil
		}
		if !r.AcceptUnsigned {
			f.Sig.Problem = fmt.Sprintf("no signature: %s is missing (the partner signs each file it sends: gpg --armor --detach-sign %s)", sigName, e.Name)
		}
		return false, nil
	}
	data, err := inbox.Read(ctx, sigName)
	if errors.Is(err, ErrOversized) {
		f.Sig.Problem = fmt.Sprintf("signature %s is larger than the limit (%d bytes)", sigName, MaxFileSize)
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reconcile: read %s: %w", sigName, err)
	}
	f.Sig.Data, f.Sig.SHA256 = data, NewFile(sigName, data).SHA256
	if r.Verify == nil {
		return false, nil // kept as evidence, but not checked: unsigned
	}
	signer, verr := r.Verify(f.Data, data)
	if verr != nil {
		f.Sig.Problem = fmt.Sprintf("bad signature %s: %v", sigName, verr)
		return false, nil
	}
	f.Sig.Signer = signer
	return false, nil
}

// loneSignature sets aside a signature file whose confirmation never came.
func (r *Reconciler) loneSignature(ctx context.Context, inbox Inbox, e Entry, sum *Summary, set *[]unmatched) error {
	base := strings.TrimSuffix(e.Name, SigExt)
	data, err := inbox.Read(ctx, e.Name)
	if errors.Is(err, ErrOversized) {
		r.setAsideLater(sum, set, unmatched{name: e.Name, reason: Oversized, text: oversizedText})
		return nil
	}
	if err != nil {
		return fmt.Errorf("reconcile: read %s: %w", e.Name, err)
	}
	f := NewFile(e.Name, data)
	r.setAsideLater(sum, set, unmatched{name: e.Name, file: &f, reason: BadName,
		text: fmt.Sprintf("signature file with no %s beside it (waited %s). Upload the confirmation it signs, and this .asc again with it.", base, r.SignatureGrace)})
	return nil
}

const oversizedText = "the file is larger than 64 KiB, so it was not read. A deletion confirmation is one small JSON object (a few hundred bytes): send that alone, named deletion_<batch id>.json."

const badNameText = "the file name is not deletion_<batch id>.json, so it names no batch. Name each confirmation deletion_<batch id>.json, with the batch id as in the names of the files we sent (for example deletion_B20261125-K7QM2X.json), and put nothing else in this folder."

func (r *Reconciler) one(ctx context.Context, inbox Inbox, e Entry, waiting map[string]Entry, now time.Time, sum *Summary, set *[]unmatched) error {
	name := e.Name
	data, err := inbox.Read(ctx, name)
	if errors.Is(err, ErrOversized) {
		r.setAsideLater(sum, set, unmatched{name: name, reason: Oversized, text: oversizedText})
		return nil
	}
	if err != nil {
		return fmt.Errorf("reconcile: read %s: %w", name, err)
	}
	f := NewFile(name, data)
	if _, ok := BatchIDFromFileName(name); !ok {
		r.setAsideLater(sum, set, unmatched{name: name, file: &f, reason: BadName, text: badNameText})
		return nil
	}
	wait, err := r.signature(ctx, inbox, e, waiting, &f)
	if err != nil {
		return err
	}
	if wait {
		sum.Waiting++
		r.Log.Info().Str("file", name).Dur("grace", r.SignatureGrace).
			Msg("deletion confirmation waits for its signature file; judged without one once the grace has passed")
		return nil
	}
	rec, dup, err := r.Store.Record(ctx, f, now, func(b *Batch, accepted *Recorded) Recorded {
		return Judge(f, b, accepted, now)
	})
	if err != nil {
		return fmt.Errorf("reconcile: record %s: %w", name, err)
	}
	if rec.Unmatched && !dup {
		r.setAsideLater(sum, set, unmatched{name: name, file: &f, reason: UnknownBatch, text: rec.Reason})
		return nil
	}
	sum.Files++
	ev := r.Log.Info()
	to, reason := MoveProcessed, ""
	switch {
	case rec.Same:
		// A copy or a regeneration of the accepted confirmation: not a
		// rejection, and the accepted file stays as it is.
		sum.Duplicates++
		to = MoveRepeat
		ev = ev.Bool("duplicate", true).Bool("same_as_accepted", true)
	case dup:
		sum.Duplicates++
		ev = ev.Bool("duplicate", true)
	case rec.Accepted:
		sum.Accepted++
	default:
		sum.Rejected++
		ev = r.Log.Warn().Str("reason", rec.Reason)
	}
	if !rec.Accepted && !rec.Same {
		// A rejected file met again (dup) gets its reason file again.
		to, reason = MoveRejected, r.reasonText(name, rec.Reason, now)
	}
	if rec.Accepted {
		ev = ev.Bool("unsigned", rec.Unsigned()).Str("signer", rec.Signer)
	}
	ev.Str("file", name).Str("batch_id", rec.BatchID).Bool("accepted", rec.Accepted).Bool("early", rec.Early).
		Msg("deletion confirmation")
	if err := inbox.Done(ctx, f, to, reason); err != nil {
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
		text := r.reasonText(u.name, u.text, now)
		if u.file == nil {
			err = inbox.Quarantine(ctx, u.name, u.reason, now, text)
		} else {
			err = inbox.Done(ctx, *u.file, MoveRejected, text)
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
	var trail *Trail
	if r.Trail != nil {
		t, err := r.Trail.BatchTrail(ctx)
		if err != nil {
			// The tables' word is all there is: the check goes on with it.
			errs = append(errs, fmt.Errorf("reconcile: overdue check: read the audit log: %w", err))
		} else {
			trail = &t
		}
	}
	views := Views(states, now)
	if trail != nil {
		views = checkedAll(states, *trail, Filter{}, r.Calendar, now)
	}
	for _, v := range views {
		// Not the status: a batch whose last confirmation was rejected
		// shows as rejected but is overdue all the same once past its due
		// date.
		b, overdue, disagrees := v.Batch, v.Overdue, len(v.LogDisagreements) > 0
		if !overdue {
			continue
		}
		sum.Overdue = append(sum.Overdue, b.ID)
		raised, err := r.Store.RaiseOverdue(ctx, b, today, now)
		if err != nil {
			errs = append(errs, fmt.Errorf("reconcile: raise overdue alert for batch %s: %w", b.ID, err))
			continue
		}
		if raised {
			sum.Raised++
			r.Log.Error().Str("batch_id", b.ID).Str("due_date", b.DueDate.Format(time.DateOnly)).
				Str("delivery_date", b.DeliveryDate.Format(time.DateOnly)).Bool("disagrees_with_audit_log", disagrees).
				Msg("OVERDUE: the print partner has not confirmed deletion of this batch by its due date")
		}
	}
	return errors.Join(errs...)
}

// ViewOf is a state as shown to auditors on the London date of now.
func ViewOf(s State, now time.Time) View {
	v := View{Batch: s.Batch, Status: StatusOf(s.Batch, s.Accepted, s.LastRejected, now), LastRejection: s.LastReason,
		Overdue: IsOverdue(s.Batch, s.Accepted, now), Dispatched: s.Dispatched, Returned: s.Returned}
	if s.Accepted != nil {
		at, del := s.Accepted.ReceivedAt, s.Accepted.Conf.DeletedAt
		v.ConfirmedAt, v.DeletedAt = &at, &del
		v.Deviation = Deviation(s.Batch, s.Accepted)
		v.Unsigned, v.Signer = s.Accepted.Unsigned(), s.Accepted.Signer
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

// fetchUpdates handles the partner's updates folder: each dispatch and
// returns file is judged and recorded whole, or rejected with a reason
// file; one bad file does not stop the others.
func (r *Reconciler) fetchUpdates(ctx context.Context, now time.Time, sum *Summary) error {
	if r.OpenUpdates == nil || r.Updates == nil {
		return nil
	}
	us := &UpdatesSummary{}
	sum.Updates = us
	inbox, err := r.OpenUpdates(ctx)
	if err != nil {
		return fmt.Errorf("reconcile: connect to partner for updates: %w", err)
	}
	defer inbox.Close()
	entries, waiting, err := listByName(ctx, inbox)
	if err != nil {
		return fmt.Errorf("reconcile: list updates: %w", err)
	}
	var errs []error
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		var err error
		if base, ok := strings.CutSuffix(e.Name, SigExt); ok {
			if _, ok := waiting[base]; ok || r.fresh(e) {
				continue // handled with its file, or that file may be on its way
			}
			err = r.setAsideUpdates(ctx, inbox, e.Name, fmt.Sprintf("signature file with no %s beside it (waited %s). Upload the file it signs, and this .asc again with it.", base, r.SignatureGrace), now, us)
		} else {
			err = r.oneUpdates(ctx, inbox, e, waiting, now, us)
		}
		if err != nil {
			us.Failed++
			r.Log.Error().Err(err).Str("file", e.Name).Msg("updates file not handled; will retry next run")
			errs = append(errs, err)
		}
	}
	r.Log.Info().Int("files", us.Files).Int("accepted", us.Accepted).Int("rejected", us.Rejected).
		Int("duplicates", us.Duplicates).Int("failed", us.Failed).Msg("dispatch and returns files")
	return errors.Join(errs...)
}

const updatesOversizedText = "the file is larger than 4 MiB, so it was not read. Split it into several files (updates_<batch id>_<label>.csv), each with the header."

// setAsideUpdates moves a file that is not an updates file of any batch to
// the rejected folder with its reason file; nothing is recorded (the log
// says which, the partner reads why).
func (r *Reconciler) setAsideUpdates(ctx context.Context, inbox Inbox, name, why string, now time.Time, us *UpdatesSummary) error {
	data, err := inbox.Read(ctx, name)
	if errors.Is(err, ErrOversized) {
		err = inbox.Quarantine(ctx, name, Oversized, now, r.reasonText(name, updatesOversizedText, now))
	} else if err == nil {
		err = inbox.Done(ctx, NewFile(name, data), MoveRejected, r.reasonText(name, why, now))
	}
	if err != nil {
		return fmt.Errorf("reconcile: set aside %s: %w", name, err)
	}
	us.Files++
	us.Rejected++
	r.Log.Warn().Str("file", name).Msg("file in the updates folder is no updates file: moved to the rejected folder with its reason")
	return nil
}

func (r *Reconciler) oneUpdates(ctx context.Context, inbox Inbox, e Entry, waiting map[string]Entry, now time.Time, us *UpdatesSummary) error {
	name := e.Name
	batchID, ok := BatchIDFromUpdatesName(name)
	if !ok {
		return r.setAsideUpdates(ctx, inbox, name, JudgeUpdates(File{Name: name}, nil, problems{}, nil, nil, nil, now).Reason, now, us)
	}
	data, err := inbox.Read(ctx, name)
	if errors.Is(err, ErrOversized) {
		return r.setAsideUpdates(ctx, inbox, name, updatesOversizedText, now, us)
	}
	if err != nil {
		return fmt.Errorf("reconcile: read %s: %w", name, err)
	}
	f := NewFile(name, data)
	wait, err := r.signature(ctx, inbox, e, waiting, &f)
	if err != nil {
		return err
	}
	if wait {
		us.Waiting++
		r.Log.Info().Str("file", name).Str("batch_id", batchID).Dur("grace", r.SignatureGrace).
			Msg("updates file waits for its signature file; judged without one once the grace has passed")
		return nil
	}
	rows, parsed := ParseUpdates(f)
	seen := map[string]bool{}
	var refs []string
	for _, row := range rows {
		if !seen[row.Reference] {
			seen[row.Reference] = true
			refs = append(refs, row.Reference)
		}
	}
	out, dup, err := r.Updates.RecordUpdates(ctx, f, batchID, refs, now,
		func(b *Batch, orders map[string]OrderInfo, prior map[UpdateKey]PriorUpdate) UpdatesOutcome {
			return JudgeUpdates(f, rows, parsed, b, orders, prior, now)
		})
	if err != nil {
		return fmt.Errorf("reconcile: record %s: %w", name, err)
	}
	us.Files++
	ev := r.Log.Info()
	to, reason := MoveProcessed, ""
	switch {
	case dup:
		us.Duplicates++
		ev = ev.Bool("duplicate", true)
	case out.Accepted:
		us.Accepted++
	default:
		us.Rejected++
		ev = r.Log.Warn().Str("reason", out.Reason)
	}
	if !out.Accepted {
		to, reason = MoveRejected, r.reasonText(name, out.Reason, now)
	}
	ev.Str("file", name).Str("batch_id", batchID).Bool("accepted", out.Accepted).Int("dispatched", out.Dispatched).
		Int("returned", out.Returned).Bool("unsigned", out.Signer == "").Msg("dispatch and returns file")
	if err := inbox.Done(ctx, f, to, reason); err != nil {
		return fmt.Errorf("reconcile: move %s out of the updates folder (recorded; will move next run): %w", name, err)
	}
	return nil
}
