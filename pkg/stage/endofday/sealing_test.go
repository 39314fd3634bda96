package endofday_test

import (
	"context"
	"testing"

	"booklets/pkg/adapter/postgres"
	"booklets/pkg/domain/businessday"
	"booklets/pkg/domain/seal"
	"booklets/pkg/testkit/testenv"
)

// sealingStore opens a migrated store on a database of the test's own, with
// a keystore under a fresh KEK, and makes the day key of date: what the
// intake would have sealed the day's orders under. The store is closed
// when the test ends.
func sealingStore(tb testing.TB, ctx context.Context, date businessday.Date) (*postgres.Orders, *postgres.DayKeys, *seal.DayKey) {
	tb.Helper()
	st, err := postgres.OpenOrders(ctx, testenv.Database(tb), nil)
	testenv.Must(tb, err)
	tb.Cleanup(st.Close)
	testenv.Must(tb, st.Migrate(ctx))
	keys := postgres.NewDayKeys(st.Pool(), testenv.Ring(tb, testenv.KEKEntry("test-kek")))
	key, err := keys.GetOrCreate(ctx, date)
	testenv.Must(tb, err)
	return st, keys, key
}
