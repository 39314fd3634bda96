package batcher

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"testing"

	"booklets/pkg/domain/businessday"
	"booklets/pkg/domain/seal"
	"booklets/pkg/keystore"
	"booklets/pkg/store"
	"booklets/pkg/testkit/testenv"
)

// sealingStore opens a migrated store on a database of the test's own, with
// a keystore under a fresh KEK, and makes the day key of date: what the
// intake would have sealed the day's orders under. The store is closed
// when the test ends.
func sealingStore(tb testing.TB, ctx context.Context, date businessday.Date) (*store.Store, *keystore.Store, *seal.DayKey) {
	tb.Helper()
	st, err := store.Open(ctx, testenv.Database(tb), nil)
	testenv.Must(tb, err)
	tb.Cleanup(st.Close)
	testenv.Must(tb, st.Migrate(ctx))
	kek := make([]byte, seal.KeySize)
	rand.Read(kek)
	ring, err := seal.ParseRing("test-kek:" + base64.StdEncoding.EncodeToString(kek))
	testenv.Must(tb, err)
	keys := keystore.New(st.Pool(), ring)
	key, err := keys.GetOrCreate(ctx, date)
	testenv.Must(tb, err)
	return st, keys, key
}
