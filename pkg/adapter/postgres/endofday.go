package postgres

import (
	"context"

	"booklets/pkg/stage/endofday"
	"booklets/pkg/stage/ingest"
)

// *Orders is the database of the ingest stage and, with the types and
// sentinels of pkg/stage/endofday as its own, all the end-of-day stage
// reads and records; *DayKeys is that stage's DayKeys.
var (
	_ ingest.Store            = (*Orders)(nil)
	_ endofday.Store          = (*Orders)(nil)
	_ endofday.RetentionStore = (*Orders)(nil)
	_ endofday.RightsStore    = (*Orders)(nil)
	_ endofday.DayKeys        = (*DayKeys)(nil)
)

// EndOfDayStore is the database as the end-of-day stage sends batches
// with it: Orders, except that recording a sent batch, when Keys is set,
// destroys its day keys too (crypto-shredding), in one transaction across
// orders, day keys and the audit log, inside this package.
type EndOfDayStore struct {
	*Orders
	Keys *DayKeys
}

var _ endofday.Store = EndOfDayStore{}

// RecordSent implements endofday.Store: Orders.RecordSent, destroying the
// day keys of the batch's dates when Keys is set.
func (s EndOfDayStore) RecordSent(ctx context.Context, r Sent) (Deleted, error) {
	return s.Orders.recordSent(ctx, r, s.Keys)
}
