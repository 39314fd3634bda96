package postgres_test

import (
	"context"
	"errors"
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

func TestSaveOrderIdempotentAndConflicts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := postgres.OpenOrders(ctx, testenv.Database(t), nil)
	testenv.Must(t, err)
	defer st.Close()
	testenv.Must(t, st.Migrate(ctx))
	o := order.Order{ID: uuid.NewString(), Reference: reference.New(), ReceivedAt: time.Now(), Area: "kent",
		Formats: []order.Format{order.Braille}}
	d := businessday.DefaultCutoff.DateOf(o.ReceivedAt)
	key, err := seal.NewDayKey(d.String())
	testenv.Must(t, err)
	so, err := order.Seal(o, d, key)
	testenv.Must(t, err)
	for i, want := range []bool{true, false} {
		inserted, err := st.SaveOrder(ctx, so)
		if err != nil || inserted != want {
			t.Errorf("save %d: inserted %v, %v", i, inserted, err)
		}
	}
	other := so
	other.ID = uuid.NewString() // same reference, another order
	if _, err := st.SaveOrder(ctx, other); !errors.Is(err, postgres.ErrConflict) {
		t.Errorf("reused reference: %v", err)
	}
	if _, err := st.BatchFor(ctx, d); !errors.Is(err, postgres.ErrNotFound) {
		t.Errorf("BatchFor with no batch: %v", err)
	}
	lock, ok, err := st.TryLockSending(ctx)
	if err != nil || !ok {
		t.Fatalf("lock: %v %v", ok, err)
	}
	if _, ok2, _ := st.TryLockSending(ctx); ok2 {
		t.Error("the sending lock was taken twice")
	}
	lock.Release()
	lock, ok, err = st.TryLockSending(ctx)
	if err != nil || !ok {
		t.Fatalf("lock after release: %v %v", ok, err)
	}
	lock.Release()
}
