package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"booklets/pkg/stage/endofday"
	"booklets/pkg/stage/ingest"
	"booklets/pkg/stage/research"
)

// The one place where driver errors become the errors callers see. A
// driver error's message may quote a row, so only the SQLSTATE and the
// constraint's name ever leave this package.

// Errors callers tell apart with errors.Is.
var (
	// ErrUnavailable means PostgreSQL could not be reached or the operation
	// failed for a reason a retry may cure.
	ErrUnavailable = errors.New("database unavailable")
	// ErrNotFound means the row asked for does not exist. It is the
	// end-of-day stage's, which tells a missing batch or order apart.
	ErrNotFound = endofday.ErrNotFound
	// ErrConflict means the data contradicts what is stored (an order id
	// reused with another reference, say). It is the ingest stage's, which
	// gives up on such an order.
	ErrConflict = ingest.ErrConflict
)

// dbErr turns a driver error into a domain one. Errors with a SQLSTATE
// class of data or integrity problems are not cured by retrying; anything
// else (connection lost, timeout, shutdown, serialisation) may be.
func dbErr(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code[:2] {
		case "22", "23":
			return fmt.Errorf("%w: SQLSTATE %s", ErrConflict, pgErr.Code)
		}
		return fmt.Errorf("%w: SQLSTATE %s", ErrUnavailable, pgErr.Code)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("%w: %v", ErrUnavailable, err)
}

// volunteerErr turns the driver's errors into the domain's. A malformed id is
// "not found": to the caller there is no such entry.
func volunteerErr(err error) error {
	var pgErr *pgconn.PgError
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return research.ErrNotFound
	case errors.As(err, &pgErr) && pgErr.Code == "22P02": // invalid_text_representation (not a uuid)
		return research.ErrNotFound
	case errors.As(err, &pgErr):
		// The message of a constraint violation may quote the row; keep
		// the code and the constraint only.
		if pgErr.Code[:2] == "23" {
			return fmt.Errorf("constraint %s violated (SQLSTATE %s)", pgErr.ConstraintName, pgErr.Code)
		}
	}
	return err
}
