// Package volunteerstore keeps user-research volunteers (pkg/stage/research) in
// PostgreSQL, in the research schema (migrations/030_volunteers.sql and
// 082_volunteer_contact_sealed.sql), apart from every table of orders.
//
// Each entry's name and email are sealed under a key of its own
// (seal.RecordKey), stored only wrapped by the KEK ring in the entry's row.
// Deleting is a real DELETE of the row, key and all: every copy of the
// contact details left in dead tuples, the WAL or a backup is then
// ciphertext whose key is gone from the database (docs/research.md,
// "Sealed contact details"). Each deletion or review decision appends its
// audit entry (pkg/adapter/postgres) in the same transaction, naming the entry
// only by its opaque id. Errors name the step and, where there is one, the
// id; never a name or an email address.
package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"booklets/pkg/domain/businessday"
	"booklets/pkg/domain/seal"
	"booklets/pkg/stage/audit"
	"booklets/pkg/stage/research"
)

// How an entry came to be deleted, as recorded in the audit log.
const (
	ReasonWithdrawnByCode  = "withdrawn_by_code"
	ReasonWithdrawnByEmail = "withdrawn_by_email"
	ReasonReview           = "review"
)

// Audit kinds of this package, besides pkg/stage/audit's volunteer kinds.
const (
	// KindContactSealed records that legacy entries stored in clear
	// (before migration 082) were sealed: how many, under which KEK.
	KindContactSealed audit.Kind = "volunteer_contacts_sealed"
	// KindKeysRewrapped records a KEK rotation step for the volunteers'
	// keys (`reconciler volunteers rewrap`): how many, under which KEK.
	KindKeysRewrapped audit.Kind = "volunteer_keys_rewrapped"
)

// keyKind names the volunteers' record keys; with the entry's id it is
// bound into each wrapped key and sealed value (seal.RecordKey).
const keyKind = "volunteer"

// contactAAD is the associated data of the sealed contact column, so that
// a value sealed for another purpose under the same key would not open
// as one.
var contactAAD = []byte("research.volunteers.contact v1")

// contactPad is the block the sealed contact details are padded to, so
// that the length of the ciphertext says little about the length of a
// name or an email address.
const contactPad = 64

// contact is the plaintext sealed into the contact column.
type contact struct {
	Name  string `json:"name,omitempty"`
	Email string `json:"email,omitempty"`
}

// Volunteers is the volunteers table.
type Volunteers struct {
	db   *pgxpool.Pool
	now  func() time.Time
	log  AuditAppender
	ring *seal.Ring
}

// VolunteerOption changes a Store's defaults.
type VolunteerOption func(*Volunteers)

// WithRing gives the store the key-encryption key ring that wraps each
// entry's key. Signing up, showing an entry, withdrawing by email and
// sealing or rewrapping need it; the review list, flagging, keeping,
// deleting and withdrawing by code do not (the reconciler's daily job runs
// without a KEK).
func WithRing(r *seal.Ring) VolunteerOption { return func(s *Volunteers) { s.ring = r } }

// NewVolunteers returns a store over the pool. now is the clock for sign-up and
// review dates and for audit entries (time.Now when nil).
func NewVolunteers(db *pgxpool.Pool, now func() time.Time, opts ...VolunteerOption) *Volunteers {
	if now == nil {
		now = time.Now
	}
	s := &Volunteers{db: db, now: now, log: AuditAppender{Now: now}}
	for _, o := range opts {
		o(s)
	}
	return s
}

// errNoRing is what an operation that needs the KEK says without one.
var errNoRing = fmt.Errorf("%w: set KEK_FILE or KEK", seal.ErrNoKEK)

// sealContact makes a key for the entry id, seals the contact details
// under it and wraps it under the ring's current KEK.
func (s *Volunteers) sealContact(id string, c contact) (sealed []byte, w seal.Wrapped, err error) {
	if s.ring == nil {
		return nil, seal.Wrapped{}, errNoRing
	}
	k, err := seal.NewRecordKey(keyKind, id)
	if err != nil {
		return nil, seal.Wrapped{}, err
	}
	pt, err := json.Marshal(c)
	if err != nil {
		return nil, seal.Wrapped{}, fmt.Errorf("encode contact details: %w", err)
	}
	// Spaces after a JSON value are allowed, so the padding needs no
	// length prefix.
	if r := len(pt) % contactPad; r != 0 {
		pt = append(pt, bytes.Repeat([]byte(" "), contactPad-r)...)
	}
	sealed = k.Seal(pt, contactAAD)
	clear(pt)
	return sealed, s.ring.WrapRecordKey(k), nil
}

// openContact unwraps an entry's key and opens its contact details.
func (s *Volunteers) openContact(id string, sealed []byte, w seal.Wrapped) (contact, error) {
	if s.ring == nil {
		return contact{}, errNoRing
	}
	k, err := s.ring.UnwrapRecordKey(keyKind, id, w)
	if err != nil {
		return contact{}, err // names the entry and the KEK
	}
	pt, err := k.Open(sealed, contactAAD)
	if err != nil {
		return contact{}, err
	}
	defer clear(pt)
	var c contact
	if err := json.Unmarshal(pt, &c); err != nil {
		// Not echoed: the plaintext is personal data.
		return contact{}, fmt.Errorf("open volunteer %s: %w: contact details are not JSON", id, seal.ErrMalformed)
	}
	return c, nil
}

// SignUp stores a valid sign-up, its name and email sealed under a new key
// of its own, and returns its id and withdrawal code. The code is returned
// here once; only its hash is stored. Without a KEK ring nothing is
// stored: there is no plain-text fallback.
func (s *Volunteers) SignUp(ctx context.Context, v research.SignUp) (research.Receipt, error) {
	// The id is made here, not by the database, because the key and the
	// sealed value are bound to it.
	id := uuid.NewString()
	sealed, w, err := s.sealContact(id, contact{Name: v.Name, Email: v.Email})
	if err != nil {
		return research.Receipt{}, fmt.Errorf("volunteers: sign up: %w", err)
	}
	code := research.NewCode()
	hash, _ := research.HashCode(code)
	today := research.Today(s.now())
	_, err = s.db.Exec(ctx,
		`INSERT INTO research.volunteers (volunteer_id, contact, kek_id, wrapped_key, has_name, has_email,
		     purpose, consent_version, withdrawal_code_sha256, signed_up_on, review_due_on)
		 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		id, sealed, w.KEKID, w.Data, v.Name != "", v.Email != "",
		research.Purpose, v.ConsentVersion, hash, today.UTC(), research.ReviewDue(today).UTC())
	if err != nil {
		return research.Receipt{}, fmt.Errorf("volunteers: sign up: %w", volunteerErr(err))
	}
	return research.Receipt{ID: id, Code: code}, nil
}

// WithdrawByCode deletes the entry whose withdrawal code this is, and
// reports how many entries were deleted (0 or 1). A string that is not a
// code deletes nothing.
func (s *Volunteers) WithdrawByCode(ctx context.Context, code string) (int, error) {
	hash, ok := research.HashCode(code)
	if !ok {
		return 0, nil
	}
	n, err := s.deleteWhere(ctx, "withdrawal_code_sha256 = $1", []any{hash}, ReasonWithdrawnByCode)
	if err != nil {
		return 0, fmt.Errorf("volunteers: withdraw by code: %w", err)
	}
	return n, nil
}

// WithdrawByEmail deletes every entry with this email address (a person
// may have signed up more than once) and reports how many.
//
// The addresses are sealed, each under its own key, and no hash or index
// of them is kept (it would outlive a deletion in every backup, and tell
// anyone holding one whether an address had signed up), so every entry
// with an email is opened and compared. That is some microseconds an
// entry, and the same work whether anything matches or not. An entry that
// cannot be opened (its KEK no longer configured, its data changed) does
// not stop the others being deleted; it is reported in the error, by id.
func (s *Volunteers) WithdrawByEmail(ctx context.Context, email string) (int, error) {
	norm, err := research.NormaliseEmail(email)
	if err != nil {
		return 0, nil
	}
	ids, scanErr := s.idsWithEmail(ctx, norm)
	n := 0
	if len(ids) > 0 {
		if n, err = s.deleteWhere(ctx, "volunteer_id = ANY($1::uuid[])", []any{ids}, ReasonWithdrawnByEmail); err != nil {
			return 0, fmt.Errorf("volunteers: withdraw by email: %w", err)
		}
	}
	if scanErr != nil {
		return n, fmt.Errorf("volunteers: withdraw by email: %w", scanErr)
	}
	return n, nil
}

// idsWithEmail returns the ids of the entries whose email is norm.
func (s *Volunteers) idsWithEmail(ctx context.Context, norm string) ([]string, error) {
	rows, err := s.db.Query(ctx,
		`SELECT volunteer_id::text, contact, coalesce(kek_id, ''), wrapped_key, email
		 FROM research.volunteers WHERE has_email`)
	if err != nil {
		return nil, volunteerErr(err)
	}
	defer rows.Close()
	var (
		ids  []string
		errs []error
		id   string
		kek  string
		ct   []byte
		wk   []byte
		old  *string
	)
	for rows.Next() {
		if err := rows.Scan(&id, &ct, &kek, &wk, &old); err != nil {
			return nil, volunteerErr(err)
		}
		if ct == nil { // a legacy entry, not sealed yet
			if old != nil && *old == norm {
				ids = append(ids, id)
			}
			continue
		}
		c, err := s.openContact(id, ct, seal.Wrapped{KEKID: kek, Data: wk})
		if errors.Is(err, seal.ErrNoKEK) {
			return nil, err
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if c.Email == norm {
			ids = append(ids, id)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, volunteerErr(err)
	}
	if len(errs) > 0 {
		return ids, fmt.Errorf("%d entries could not be opened to compare: %w", len(errs), errors.Join(errs...))
	}
	return ids, nil
}

// deleteWhere deletes the entries matching cond, each with its key (the
// key is a column of the entry's row), and appends a volunteer_deleted
// audit entry for each in the same transaction.
func (s *Volunteers) deleteWhere(ctx context.Context, cond string, args []any, reason string) (int, error) {
	n := 0
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		ids, err := deleteRows(ctx, tx, cond, args)
		if err != nil {
			return err
		}
		for _, d := range ids {
			if err := s.audit(ctx, tx, audit.VolunteerDeleted, d.details(reason)); err != nil {
				return err
			}
		}
		n = len(ids)
		return nil
	})
	return n, err
}

// deleted is one deleted entry: its id, and whether a key went with it (a
// legacy entry, stored in clear before migration 082, had none).
type deleted struct {
	id     string
	sealed bool
}

func (d deleted) details(reason string) map[string]any {
	return map[string]any{"volunteer_id": d.id, "reason": reason, "key_destroyed": d.sealed}
}

func deleteRows(ctx context.Context, tx pgx.Tx, cond string, args []any) ([]deleted, error) {
	rows, err := tx.Query(ctx, "DELETE FROM research.volunteers WHERE "+cond+" RETURNING volunteer_id::text, wrapped_key IS NOT NULL", args...)
	if err != nil {
		return nil, volunteerErr(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (deleted, error) {
		var d deleted
		err := r.Scan(&d.id, &d.sealed)
		return d, err
	})
	if err != nil {
		return nil, volunteerErr(err)
	}
	return out, nil
}

// FlagResult is what one run of the review job found.
type FlagResult struct {
	NewlyFlagged int // reviews that fell due since the last run
	Due          int // every entry whose review is due and not yet decided
}

// FlagDue marks every entry whose review date has come and that is not
// marked yet, and counts the entries awaiting review. It is the daily job:
// running it again the same day changes nothing.
func (s *Volunteers) FlagDue(ctx context.Context) (FlagResult, error) {
	now := s.now()
	today := research.Today(now).UTC()
	var r FlagResult
	tag, err := s.db.Exec(ctx,
		`UPDATE research.volunteers SET review_flagged_at = $2
		 WHERE review_due_on <= $1 AND review_flagged_at IS NULL`, today, now)
	if err != nil {
		return r, fmt.Errorf("volunteers: flag due reviews: %w", volunteerErr(err))
	}
	r.NewlyFlagged = int(tag.RowsAffected())
	if err := s.db.QueryRow(ctx, `SELECT count(*) FROM research.volunteers WHERE review_due_on <= $1`, today).Scan(&r.Due); err != nil {
		return r, fmt.Errorf("volunteers: count due reviews: %w", volunteerErr(err))
	}
	return r, nil
}

const selectSummary = `SELECT volunteer_id::text, consent_version, signed_up_on, review_due_on,
	coalesce(last_reviewed_on, 'epoch'::date), review_flagged_at, has_name, has_email
	FROM research.volunteers`

func scanSummary(row pgx.CollectableRow) (research.Summary, error) {
	var v research.Summary
	var signed, due, reviewed time.Time
	if err := row.Scan(&v.ID, &v.ConsentVersion, &signed, &due, &reviewed, &v.FlaggedAt, &v.HasName, &v.HasEmail); err != nil {
		return v, err
	}
	v.SignedUpOn, v.ReviewDueOn = businessday.FromTime(signed), businessday.FromTime(due)
	if reviewed.Unix() != 0 {
		v.LastReviewOn = businessday.FromTime(reviewed)
	}
	return v, nil
}

// Due lists the entries whose review date is today or earlier, oldest
// first, without their personal data.
func (s *Volunteers) Due(ctx context.Context) ([]research.Summary, error) {
	return s.summaries(ctx, "review_due_on <= $1", "due reviews")
}

// Overdue lists the entries whose review date has passed (before today)
// without a decision: what the auditors' page shows.
func (s *Volunteers) Overdue(ctx context.Context) ([]research.Summary, error) {
	return s.summaries(ctx, "review_due_on < $1", "overdue reviews")
}

func (s *Volunteers) summaries(ctx context.Context, cond, what string) ([]research.Summary, error) {
	rows, err := s.db.Query(ctx, selectSummary+" WHERE "+cond+" ORDER BY review_due_on, volunteer_id",
		research.Today(s.now()).UTC())
	if err != nil {
		return nil, fmt.Errorf("volunteers: list %s: %w", what, volunteerErr(err))
	}
	out, err := pgx.CollectRows(rows, scanSummary)
	if err != nil {
		return nil, fmt.Errorf("volunteers: list %s: %w", what, volunteerErr(err))
	}
	return out, nil
}

// Count returns how many entries are kept.
func (s *Volunteers) Count(ctx context.Context) (int, error) {
	var n int
	if err := s.db.QueryRow(ctx, "SELECT count(*) FROM research.volunteers").Scan(&n); err != nil {
		return 0, fmt.Errorf("volunteers: count: %w", volunteerErr(err))
	}
	return n, nil
}

// Show returns one entry with its name and email, and records in the audit
// log that it was viewed, in the same transaction: an entry's personal data
// is never read without a trace. why is a short reason kept with the audit
// entry (not personal data: "review", say). It needs the KEK ring to open
// the sealed contact details.
func (s *Volunteers) Show(ctx context.Context, id, why string) (research.Entry, error) {
	var e research.Entry
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		var name, email, decision, kekID *string
		var sealed, wrapped []byte
		var signed, due time.Time
		var reviewed *time.Time
		err := tx.QueryRow(ctx,
			`SELECT volunteer_id::text, contact, kek_id, wrapped_key, name, email, purpose, consent_version,
			        signed_up_on, review_due_on, last_reviewed_on, last_decision, review_flagged_at
			 FROM research.volunteers WHERE volunteer_id = $1`, id).
			Scan(&e.ID, &sealed, &kekID, &wrapped, &name, &email, &e.Purpose, &e.ConsentVersion,
				&signed, &due, &reviewed, &decision, &e.FlaggedAt)
		if err != nil {
			return volunteerErr(err)
		}
		if sealed != nil {
			c, err := s.openContact(e.ID, sealed, seal.Wrapped{KEKID: deref(kekID), Data: wrapped})
			if err != nil {
				return err
			}
			e.Name, e.Email = c.Name, c.Email
		} else {
			e.Name, e.Email = deref(name), deref(email) // a legacy entry, not sealed yet
		}
		e.SignedUpOn, e.ReviewDueOn = businessday.FromTime(signed), businessday.FromTime(due)
		if reviewed != nil {
			e.LastReviewOn = businessday.FromTime(*reviewed)
		}
		e.LastDecision = research.Decision(deref(decision))
		return s.audit(ctx, tx, audit.VolunteerViewed, map[string]any{"volunteer_id": e.ID, "reason": why})
	})
	if err != nil {
		return research.Entry{}, fmt.Errorf("volunteers: show %s: %w", safeID(id), err)
	}
	return e, nil
}

// Review records a review decision. Keep sets the next review ReviewYears
// from today; Delete deletes the entry. Either way a "volunteer_review"
// entry is appended (and, for Delete, "volunteer_deleted") in the same
// transaction. It returns the entry's next review date (zero after Delete).
func (s *Volunteers) Review(ctx context.Context, id string, d research.Decision) (businessday.Date, error) {
	now := s.now()
	today := research.Today(now)
	var next businessday.Date
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		details := map[string]any{"volunteer_id": id, "decision": string(d)}
		switch d {
		case research.Keep:
			next = research.ReviewDue(today)
			tag, err := tx.Exec(ctx,
				`UPDATE research.volunteers
				 SET last_reviewed_on = $2, last_decision = 'keep', review_due_on = $3, review_flagged_at = NULL
				 WHERE volunteer_id = $1`, id, today.UTC(), next.UTC())
			if err != nil {
				return volunteerErr(err)
			}
			if tag.RowsAffected() == 0 {
				return research.ErrNotFound
			}
			details["next_review_on"] = next.String()
			return s.audit(ctx, tx, audit.VolunteerReview, details)
		case research.Delete:
			// The row holds the entry's wrapped key: deleting it destroys
			// the key with the sealed details.
			gone, err := deleteRows(ctx, tx, "volunteer_id = $1", []any{id})
			if err != nil {
				return err
			}
			if len(gone) == 0 {
				return research.ErrNotFound
			}
			if err := s.audit(ctx, tx, audit.VolunteerReview, details); err != nil {
				return err
			}
			return s.audit(ctx, tx, audit.VolunteerDeleted, gone[0].details(ReasonReview))
		}
		return fmt.Errorf("decision %q is not keep or delete", d)
	})
	if err != nil {
		return businessday.Date{}, fmt.Errorf("volunteers: review %s: %w", safeID(id), err)
	}
	if d == research.Delete {
		return businessday.Date{}, nil
	}
	return next, nil
}

// sealBatch is how many legacy entries SealPlaintext seals per
// transaction.
const sealBatch = 200

// SealPlaintext seals the entries stored in clear before migration 082
// (which cannot seal them: the KEK is never in the database), each under a
// new key of its own, and clears their plaintext columns. It appends one
// volunteer_contacts_sealed audit entry (count, KEK id) per batch it seals
// and returns how many it sealed. The intake runs it at start-up, and
// `reconciler volunteers seal` on demand; once nothing is left it only
// asks the database, so running it again is harmless, and several
// processes may run it at once (each takes rows the others have not
// locked).
//
// The old row versions still hold the plaintext until VACUUM reclaims
// them, and the WAL and backups taken before hold it for their retention
// period: docs/research.md says what to do.
func (s *Volunteers) SealPlaintext(ctx context.Context) (int, error) {
	if s.ring == nil {
		return 0, fmt.Errorf("volunteers: seal legacy entries: %w", errNoRing)
	}
	total := 0
	for {
		n := 0
		err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
			rows, err := tx.Query(ctx,
				`SELECT volunteer_id::text, coalesce(name, ''), coalesce(email, '')
				 FROM research.volunteers WHERE contact IS NULL
				 ORDER BY volunteer_id LIMIT $1 FOR UPDATE SKIP LOCKED`, sealBatch)
			if err != nil {
				return volunteerErr(err)
			}
			type legacy struct {
				id string
				c  contact
			}
			todo, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (legacy, error) {
				var l legacy
				err := r.Scan(&l.id, &l.c.Name, &l.c.Email)
				return l, err
			})
			if err != nil {
				return volunteerErr(err)
			}
			for _, l := range todo {
				sealed, w, err := s.sealContact(l.id, l.c)
				if err != nil {
					return fmt.Errorf("entry %s: %w", l.id, err)
				}
				if _, err := tx.Exec(ctx,
					`UPDATE research.volunteers SET contact = $2, kek_id = $3, wrapped_key = $4, name = NULL, email = NULL
					 WHERE volunteer_id = $1`, l.id, sealed, w.KEKID, w.Data); err != nil {
					return fmt.Errorf("entry %s: %w", l.id, volunteerErr(err))
				}
			}
			n = len(todo)
			if n == 0 {
				return nil
			}
			return s.audit(ctx, tx, KindContactSealed, map[string]any{"count": n, "kek_id": s.ring.Current()})
		})
		if err != nil {
			return total, fmt.Errorf("volunteers: seal legacy entries: %w", err)
		}
		total += n
		if n < sealBatch {
			return total, nil
		}
	}
}

// Rewrap wraps every entry's key that is not under the ring's current KEK
// again under it, in one transaction with a volunteer_keys_rewrapped audit
// entry (count, new KEK id, old KEK ids), and returns how many it
// rewrapped: the volunteers' step of the KEK rotation (docs/privacy.md).
// Keys it cannot unwrap (their KEK already removed from the ring) are
// reported together, by entry id and KEK id; the others are still
// rewrapped.
func (s *Volunteers) Rewrap(ctx context.Context) (int, error) {
	if s.ring == nil {
		return 0, fmt.Errorf("volunteers: rewrap keys: %w", errNoRing)
	}
	n := 0
	var errs []error
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx,
			`SELECT volunteer_id::text, kek_id, wrapped_key FROM research.volunteers
			 WHERE wrapped_key IS NOT NULL AND kek_id <> $1 ORDER BY volunteer_id FOR UPDATE`, s.ring.Current())
		if err != nil {
			return volunteerErr(err)
		}
		type row struct {
			id string
			w  seal.Wrapped
		}
		todo, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
			var x row
			err := r.Scan(&x.id, &x.w.KEKID, &x.w.Data)
			return x, err
		})
		if err != nil {
			return volunteerErr(err)
		}
		old := map[string]bool{}
		for _, x := range todo {
			nw, err := s.ring.RewrapRecordKey(keyKind, x.id, x.w)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if _, err := tx.Exec(ctx, `UPDATE research.volunteers SET kek_id = $2, wrapped_key = $3 WHERE volunteer_id = $1`,
				x.id, nw.KEKID, nw.Data); err != nil {
				return fmt.Errorf("entry %s: %w", x.id, volunteerErr(err))
			}
			old[x.w.KEKID] = true
			n++
		}
		if n == 0 {
			return nil
		}
		oldIDs := make([]string, 0, len(old))
		for id := range old {
			oldIDs = append(oldIDs, id)
		}
		sort.Strings(oldIDs)
		return s.audit(ctx, tx, KindKeysRewrapped, map[string]any{"count": n, "kek_id": s.ring.Current(), "old_kek_ids": oldIDs})
	})
	if err != nil {
		return 0, fmt.Errorf("volunteers: rewrap keys: %w", err)
	}
	if err := errors.Join(errs...); err != nil {
		return n, fmt.Errorf("volunteers: rewrap keys: %w", err)
	}
	return n, nil
}

// KeysPerKEK counts the entries' keys per KEK id that wraps them, and the
// legacy entries not sealed yet under "": what an operator checks before
// removing an old KEK from the ring.
func (s *Volunteers) KeysPerKEK(ctx context.Context) (map[string]int, error) {
	rows, err := s.db.Query(ctx, `SELECT coalesce(kek_id, ''), count(*) FROM research.volunteers GROUP BY 1`)
	if err != nil {
		return nil, fmt.Errorf("volunteers: count keys: %w", volunteerErr(err))
	}
	out := map[string]int{}
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			return nil, fmt.Errorf("volunteers: count keys: %w", volunteerErr(err))
		}
		out[id] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("volunteers: count keys: %w", volunteerErr(err))
	}
	return out, nil
}

// Ready reports whether the database answers.
func (s *Volunteers) Ready(ctx context.Context) error {
	if err := s.db.Ping(ctx); err != nil {
		return fmt.Errorf("volunteers: ping database: %w", err)
	}
	return nil
}

func (s *Volunteers) audit(ctx context.Context, tx pgx.Tx, kind audit.Kind, details map[string]any) error {
	_, err := s.log.Append(ctx, tx, audit.Event{Kind: kind, Details: details})
	return err
}

// safeID keeps an id for an error message only if it looks like one: an
// operator may paste something else by mistake.
func safeID(id string) string {
	if len(id) == 36 {
		for _, r := range id {
			if !(r == '-' || '0' <= r && r <= '9' || 'a' <= r && r <= 'f' || 'A' <= r && r <= 'F') {
				return "(malformed id)"
			}
		}
		return id
	}
	return "(malformed id)"
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
