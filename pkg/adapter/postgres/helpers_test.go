package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"booklets/pkg/adapter/postgres"
	"booklets/pkg/domain/businessday"
	"booklets/pkg/domain/order"
	"booklets/pkg/domain/reference"
	"booklets/pkg/domain/seal"
	"booklets/pkg/testkit/testenv"
)

// migratedStore opens a store on a database of the test's own, migrated;
// it is closed when the test ends.
func migratedStore(t *testing.T) *postgres.Orders {
	t.Helper()
	ctx := context.Background()
	st, err := postgres.OpenOrders(ctx, testenv.Database(t), nil)
	testenv.Must(t, err)
	t.Cleanup(st.Close)
	testenv.Must(t, st.Migrate(ctx))
	return st
}

// sealedOrder makes a new order of business date d in Kent with the
// formats, its personal part sealed under a day key of d (each call its
// own key: the store never opens it).
func sealedOrder(t *testing.T, d businessday.Date, formats ...order.Format) order.SealedOrder {
	t.Helper()
	key, err := seal.NewDayKey(d.String())
	testenv.Must(t, err)
	so, err := order.Seal(order.Order{ID: uuid.NewString(), Reference: reference.New(), ReceivedAt: time.Now(),
		Area: "kent", Formats: formats}, d, key)
	testenv.Must(t, err)
	return so
}
