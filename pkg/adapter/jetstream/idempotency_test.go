package jetstream_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"booklets/pkg/adapter/jetstream"
	"booklets/pkg/domain/reference"
	"booklets/pkg/stage/placeorder"
	"booklets/pkg/testkit/testenv"
)

// idempotencyBucket makes the stream's idempotency bucket and deletes it
// when the test ends (testenv deletes only the stream).
func idempotencyBucket(t *testing.T, s *jetstream.Orders) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	testenv.Must(t, s.EnsureIdempotency(ctx))
	js := testenv.JetStream(t)
	t.Cleanup(func() {
		_ = js.DeleteKeyValue(context.Background(), jetstream.IdempotencyBucket(s.Config()))
	})
}

// TestClaimIsAtomic: of many concurrent claims of one key, over separate
// connections (as separate intake replicas), exactly one creates the
// record and every other one reads it back; MarkPublished is kept.
func TestClaimIsAtomic(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := testenv.Orders(t)
	idempotencyBucket(t, s)
	kv, err := testenv.JetStream(t).KeyValue(ctx, jetstream.IdempotencyBucket(s.Config()))
	testenv.Must(t, err)
	cfg, err := kv.Status(ctx)
	testenv.Must(t, err)
	if cfg.TTL() != s.Config().DupeWindow || cfg.History() != 1 {
		t.Errorf("bucket TTL %s history %d, want the dupe window %s and 1", cfg.TTL(), cfg.History(), s.Config().DupeWindow)
	}

	const n = 8
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		created []placeorder.Claim
		read    []placeorder.Claim
	)
	for i := range n {
		nc, err := jetstream.Connect(testenv.NATSURL(), "replica")
		testenv.Must(t, err)
		defer nc.Close()
		r, err := jetstream.New(nc, s.Config())
		testenv.Must(t, err)
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := placeorder.Claim{Fingerprint: "fp", OrderID: string(rune('a' + i)), Reference: reference.New(), ReceivedAt: time.Now().UTC()}
			got, ok, err := r.Claim(ctx, "k1", c)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if ok {
				created = append(created, got)
			} else {
				read = append(read, got)
			}
		}()
	}
	wg.Wait()
	if len(created) != 1 || len(read) != n-1 {
		t.Fatalf("%d created, %d read; want 1 and %d", len(created), len(read), n-1)
	}
	for _, r := range read {
		if r.OrderID != created[0].OrderID || r.Reference != created[0].Reference || r.Published {
			t.Errorf("read %+v, want the created %+v", r, created[0])
		}
	}
	testenv.Must(t, s.MarkPublished(ctx, "k1", read[0]))
	testenv.Must(t, s.MarkPublished(ctx, "k1", read[1])) // a stale revision: already marked, no error
	got, ok, err := s.Claim(ctx, "k1", placeorder.Claim{Fingerprint: "fp", OrderID: "z", Reference: reference.New()})
	if err != nil || ok || !got.Published || got.OrderID != created[0].OrderID {
		t.Fatalf("after MarkPublished: %+v %v %v", got, ok, err)
	}
}

// TestClaimWithNATSDown: a claim that cannot reach JetStream is
// ErrUnavailable (the order is answered 503, nothing stored).
func TestClaimWithNATSDown(t *testing.T) {
	t.Parallel()
	nc, err := jetstream.Connect(testenv.NATSURL(), "down")
	testenv.Must(t, err)
	nc.Close()
	s, err := jetstream.New(nc, testenv.Stream(t))
	testenv.Must(t, err)
	_, _, err = s.Claim(context.Background(), "k", placeorder.Claim{Fingerprint: "fp", OrderID: "a"})
	if !errors.Is(err, jetstream.ErrUnavailable) {
		t.Fatalf("Claim = %v, want ErrUnavailable", err)
	}
}
