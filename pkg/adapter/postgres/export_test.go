package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// EachOrderPlan is PostgreSQL's plan (EXPLAIN, text) for EachOrder's query
// over the business dates first to last, under EachOrder's settings.
func EachOrderPlan(ctx context.Context, s *Orders, first, last time.Time) (string, error) {
	var plan string
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, eachOrderSettings); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, "EXPLAIN "+eachOrderQuery, first, last)
		if err != nil {
			return err
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		for _, l := range lines {
			plan += l + "\n"
		}
		return err
	})
	return plan, err
}

// DayKeyDestroyedDetails are the details of the "day_key_destroyed" audit
// entry of a destruction.
var DayKeyDestroyedDetails = dayKeyDestroyedDetails
