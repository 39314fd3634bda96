// Package volunteerstore keeps user-research volunteers (pkg/volunteer) in
// PostgreSQL, in the research schema (migrations/030_volunteers.sql), apart
// from every table of orders.
//
// Deleting is a real DELETE, and each deletion or review decision appends
// its audit entry (pkg/auditlog) in the same transaction, naming the entry
// only by its opaque id. Errors name the step and, where there is one, the
// id; never a name or an email address.
package volunteerstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"booklets/pkg/audit"
	"booklets/pkg/auditlog"
	"booklets/pkg/businessday"
	"booklets/pkg/volunteer"
)

// How an entry came to be deleted, as recorded in the audit log.
const (
	ReasonWithdrawnByCode  = "withdrawn_by_code"
	ReasonWithdrawnByEmail = "withdrawn_by_email"
	ReasonReview           = "review"
)

// Store is the volunteers table.
type Store struct {
	db  *pgxpool.Pool
	now func() time.Time
	log auditlog.Appender
}

// New returns a store over the pool. now is the clock for sign-up and
// review dates and for audit entries (time.Now when nil).
func New(db *pgxpool.Pool, now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{db: db, now: now, log: auditlog.Appender{Now: now}}
}

// SignUp stores a valid sign-up and returns its id and withdrawal code.
// The code is returned here once; only its hash is stored.
func (s *Store) SignUp(ctx context.Context, v volunteer.SignUp) (volunteer.Receipt, error) {
	code := volunteer.NewCode()
	hash, _ := volunteer.HashCode(code)
	today := volunteer.Today(s.now())
	var id string
	err := s.db.QueryRow(ctx,
		`INSERT INTO research.volunteers (name, email, purpose, consent_version, withdrawal_code_sha256, signed_up_on, review_due_on)
		 VALUES (NULLIF($1, ''), NULLIF($2, ''), $3, $4, $5, $6, $7)
		 RETURNING volunteer_id::text`,
		v.Name, v.Email, volunteer.Purpose, v.ConsentVersion, hash, today.UTC(), volunteer.ReviewDue(today).UTC()).Scan(&id)
	if err != nil {
		return volunteer.Receipt{}, fmt.Errorf("volunteers: sign up: %w", dbErr(err))
	}
	return volunteer.Receipt{ID: id, Code: code}, nil
}

// WithdrawByCode deletes the entry whose withdrawal code this is, and
// reports how many entries were deleted (0 or 1). A string that is not a
// code deletes nothing.
func (s *Store) WithdrawByCode(ctx context.Context, code string) (int, error) {
	hash, ok := volunteer.HashCode(code)
	if !ok {
		return 0, nil
	}
	n, err := s.deleteWhere(ctx, "withdrawal_code_sha256 = $1", hash, ReasonWithdrawnByCode)
	if err != nil {
		return 0, fmt.Errorf("volunteers: withdraw by code: %w", err)
	}
	return n, nil
}

// WithdrawByEmail deletes every entry with this email address (a person
// may have signed up more than once) and reports how many.
func (s *Store) WithdrawByEmail(ctx context.Context, email string) (int, error) {
	norm, err := volunteer.NormaliseEmail(email)
	if err != nil {
		return 0, nil
	}
	n, err := s.deleteWhere(ctx, "email = $1", norm, ReasonWithdrawnByEmail)
	if err != nil {
		return 0, fmt.Errorf("volunteers: withdraw by email: %w", err)
	}
	return n, nil
}

func (s *Store) deleteWhere(ctx context.Context, cond string, arg any, reason string) (int, error) {
	n := 0
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, "DELETE FROM research.volunteers WHERE "+cond+" RETURNING volunteer_id::text", arg)
		if err != nil {
			return dbErr(err)
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return dbErr(err)
		}
		for _, id := range ids {
			if err := s.audit(ctx, tx, audit.VolunteerDeleted, map[string]any{"volunteer_id": id, "reason": reason}); err != nil {
				return err
			}
		}
		n = len(ids)
		return nil
	})
	return n, err
}

// FlagResult is what one run of the review job found.
type FlagResult struct {
	NewlyFlagged int // reviews that fell due since the last run
	Due          int // every entry whose review is due and not yet decided
}

// FlagDue marks every entry whose review date has come and that is not
// marked yet, and counts the entries awaiting review. It is the daily job:
// running it again the same day changes nothing.
func (s *Store) FlagDue(ctx context.Context) (FlagResult, error) {
	now := s.now()
	today := volunteer.Today(now).UTC()
	var r FlagResult
	tag, err := s.db.Exec(ctx,
		`UPDATE research.volunteers SET review_flagged_at = $2
		 WHERE review_due_on <= $1 AND review_flagged_at IS NULL`, today, now)
	if err != nil {
		return r, fmt.Errorf("volunteers: flag due reviews: %w", dbErr(err))
	}
	r.NewlyFlagged = int(tag.RowsAffected())
	if err := s.db.QueryRow(ctx, `SELECT count(*) FROM research.volunteers WHERE review_due_on <= $1`, today).Scan(&r.Due); err != nil {
		return r, fmt.Errorf("volunteers: count due reviews: %w", dbErr(err))
	}
	return r, nil
}

const selectSummary = `SELECT volunteer_id::text, consent_version, signed_up_on, review_due_on,
	coalesce(last_reviewed_on, 'epoch'::date), review_flagged_at, name IS NOT NULL, email IS NOT NULL
	FROM research.volunteers`

func scanSummary(row pgx.CollectableRow) (volunteer.Summary, error) {
	var v volunteer.Summary
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
func (s *Store) Due(ctx context.Context) ([]volunteer.Summary, error) {
	return s.summaries(ctx, "review_due_on <= $1", "due reviews")
}

// Overdue lists the entries whose review date has passed (before today)
// without a decision: what the auditors' page shows.
func (s *Store) Overdue(ctx context.Context) ([]volunteer.Summary, error) {
	return s.summaries(ctx, "review_due_on < $1", "overdue reviews")
}

func (s *Store) summaries(ctx context.Context, cond, what string) ([]volunteer.Summary, error) {
	rows, err := s.db.Query(ctx, selectSummary+" WHERE "+cond+" ORDER BY review_due_on, volunteer_id",
		volunteer.Today(s.now()).UTC())
	if err != nil {
		return nil, fmt.Errorf("volunteers: list %s: %w", what, dbErr(err))
	}
	out, err := pgx.CollectRows(rows, scanSummary)
	if err != nil {
		return nil, fmt.Errorf("volunteers: list %s: %w", what, dbErr(err))
	}
	return out, nil
}

// Count returns how many entries are kept.
func (s *Store) Count(ctx context.Context) (int, error) {
	var n int
	if err := s.db.QueryRow(ctx, "SELECT count(*) FROM research.volunteers").Scan(&n); err != nil {
		return 0, fmt.Errorf("volunteers: count: %w", dbErr(err))
	}
	return n, nil
}

// Show returns one entry with its name and email, and records in the audit
// log that it was viewed, in the same transaction: an entry's personal data
// is never read without a trace. why is a short reason kept with the audit
// entry (not personal data: "review", say).
func (s *Store) Show(ctx context.Context, id, why string) (volunteer.Entry, error) {
	var e volunteer.Entry
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		var name, email, decision *string
		var signed, due time.Time
		var reviewed *time.Time
		err := tx.QueryRow(ctx,
			`SELECT volunteer_id::text, name, email, purpose, consent_version, signed_up_on, review_due_on,
			        last_reviewed_on, last_decision, review_flagged_at
			 FROM research.volunteers WHERE volunteer_id = $1`, id).
			Scan(&e.ID, &name, &email, &e.Purpose, &e.ConsentVersion, &signed, &due, &reviewed, &decision, &e.FlaggedAt)
		if err != nil {
			return dbErr(err)
		}
		e.Name, e.Email = deref(name), deref(email)
		e.SignedUpOn, e.ReviewDueOn = businessday.FromTime(signed), businessday.FromTime(due)
		if reviewed != nil {
			e.LastReviewOn = businessday.FromTime(*reviewed)
		}
		e.LastDecision = volunteer.Decision(deref(decision))
		return s.audit(ctx, tx, audit.VolunteerViewed, map[string]any{"volunteer_id": e.ID, "reason": why})
	})
	if err != nil {
		return volunteer.Entry{}, fmt.Errorf("volunteers: show %s: %w", safeID(id), err)
	}
	return e, nil
}

// Review records a review decision. Keep sets the next review ReviewYears
// from today; Delete deletes the entry. Either way a "volunteer_review"
// entry is appended (and, for Delete, "volunteer_deleted") in the same
// transaction. It returns the entry's next review date (zero after Delete).
func (s *Store) Review(ctx context.Context, id string, d volunteer.Decision) (businessday.Date, error) {
	now := s.now()
	today := volunteer.Today(now)
	var next businessday.Date
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		var tag pgconn.CommandTag
		var err error
		details := map[string]any{"volunteer_id": id, "decision": string(d)}
		switch d {
		case volunteer.Keep:
			next = volunteer.ReviewDue(today)
			tag, err = tx.Exec(ctx,
				`UPDATE research.volunteers
				 SET last_reviewed_on = $2, last_decision = 'keep', review_due_on = $3, review_flagged_at = NULL
				 WHERE volunteer_id = $1`, id, today.UTC(), next.UTC())
			details["next_review_on"] = next.String()
		case volunteer.Delete:
			tag, err = tx.Exec(ctx, `DELETE FROM research.volunteers WHERE volunteer_id = $1`, id)
		default:
			return fmt.Errorf("decision %q is not keep or delete", d)
		}
		if err != nil {
			return dbErr(err)
		}
		if tag.RowsAffected() == 0 {
			return volunteer.ErrNotFound
		}
		if err := s.audit(ctx, tx, audit.VolunteerReview, details); err != nil {
			return err
		}
		if d == volunteer.Delete {
			return s.audit(ctx, tx, audit.VolunteerDeleted, map[string]any{"volunteer_id": id, "reason": ReasonReview})
		}
		return nil
	})
	if err != nil {
		return businessday.Date{}, fmt.Errorf("volunteers: review %s: %w", safeID(id), err)
	}
	if d == volunteer.Delete {
		return businessday.Date{}, nil
	}
	return next, nil
}

// Ready reports whether the database answers.
func (s *Store) Ready(ctx context.Context) error {
	if err := s.db.Ping(ctx); err != nil {
		return fmt.Errorf("volunteers: ping database: %w", err)
	}
	return nil
}

func (s *Store) audit(ctx context.Context, tx pgx.Tx, kind audit.Kind, details map[string]any) error {
	_, err := s.log.Append(ctx, tx, audit.Event{Kind: kind, Details: details})
	return err
}

// dbErr turns the driver's errors into the domain's. A malformed id is
// "not found": to the caller there is no such entry.
func dbErr(err error) error {
	var pgErr *pgconn.PgError
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return volunteer.ErrNotFound
	case errors.As(err, &pgErr) && pgErr.Code == "22P02": // invalid_text_representation (not a uuid)
		return volunteer.ErrNotFound
	case errors.As(err, &pgErr):
		// The message of a constraint violation may quote the row; keep
		// the code and the constraint only.
		if pgErr.Code[:2] == "23" {
			return fmt.Errorf("constraint %s violated (SQLSTATE %s)", pgErr.ConstraintName, pgErr.Code)
		}
	}
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
