package migrations_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"booklets/migrations"
	"booklets/pkg/testenv"
)

func TestApplyIsRepeatable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, testenv.Database(t))
	testenv.Must(t, err)
	defer conn.Close(ctx)
	for range 2 {
		if err := migrations.Apply(ctx, conn); err != nil {
			t.Fatal(err)
		}
	}
	for _, table := range []string{"orders", "order_personal", "batches", "dead_letters"} {
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil {
			t.Errorf("table %s: %v", table, err)
		}
	}
}

func TestAllInOrder(t *testing.T) {
	t.Parallel()
	all, err := migrations.All()
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(all); i++ {
		if all[i].Number <= all[i-1].Number {
			t.Errorf("%s after %s", all[i].Name, all[i-1].Name)
		}
	}
}
