package jetstream_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	natsjs "github.com/nats-io/nats.go/jetstream"

	"booklets/pkg/adapter/jetstream"
	"booklets/pkg/domain/businessday"
	"booklets/pkg/domain/order"
	"booklets/pkg/domain/reference"
	"booklets/pkg/domain/seal"
	"booklets/pkg/testkit/testenv"
)

func sampleOrder(t testing.TB) order.SealedOrder {
	t.Helper()
	day := businessday.DefaultCutoff.DateOf(time.Now())
	key, err := seal.NewDayKey(day.String())
	testenv.Must(t, err)
	so, err := order.Seal(order.Order{
		ID:         "0193a7e0-0000-7000-8000-000000000001",
		Reference:  reference.New(),
		ReceivedAt: time.Now().UTC(),
		Area:       "staffordshire",
		Formats:    []order.Format{order.Braille},
		Personal:   order.Personal{Name: "Nguyễn Văn An", AddressLine1: "1 High St", Town: "Stafford", Postcode: "ST18 0YY"},
	}, day, key)
	testenv.Must(t, err)
	return so
}

func TestPublishReadBackAndDeduplicate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := testenv.Orders(t)
	// Not ready until the idempotency bucket exists too.
	if err := s.Ready(ctx); !errors.Is(err, jetstream.ErrUnavailable) {
		t.Fatalf("Ready without the idempotency bucket = %v", err)
	}
	idempotencyBucket(t, s)
	if err := s.Ready(ctx); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	o := sampleOrder(t)
	first, err := s.Publish(ctx, o, "key-1")
	if err != nil || first.Duplicate {
		t.Fatalf("Publish = %+v, %v", first, err)
	}
	again, err := s.Publish(ctx, o, "key-1")
	if err != nil || !again.Duplicate || again.Sequence != first.Sequence {
		t.Fatalf("second Publish = %+v, %v; want a duplicate of seq %d", again, err, first.Sequence)
	}

	str, err := testenv.JetStream(t).Stream(ctx, s.Config().Stream)
	testenv.Must(t, err)
	info, err := str.Info(ctx)
	testenv.Must(t, err)
	if info.State.Msgs != 1 {
		t.Fatalf("stream holds %d messages, want 1", info.State.Msgs)
	}
	raw, err := str.GetMsg(ctx, first.Sequence)
	testenv.Must(t, err)
	if raw.Subject != s.Config().Subject {
		t.Fatalf("subject = %q, want the fixed %q", raw.Subject, s.Config().Subject)
	}
	if bytes.Contains(raw.Data, []byte("High St")) {
		t.Fatalf("the stream holds personal data in clear: %s", raw.Data)
	}
	got, err := order.UnmarshalSealed(raw.Data)
	if err != nil {
		t.Fatalf("read back: %v", err)
	}
	if got.Reference != o.Reference || string(got.Personal.Ciphertext) != string(o.Personal.Ciphertext) {
		t.Fatalf("read back %+v, want %+v", got, o)
	}
	if info.Config.Storage != natsjs.FileStorage || info.Config.Retention != natsjs.WorkQueuePolicy {
		t.Fatalf("stream config = %+v", info.Config)
	}
}

func TestPublishWhenNATSIsDown(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := testenv.Orders(t)
	// A second connection we can close: the state of a NATS outage.
	nc, err := jetstream.Connect(testenv.NATSURL(), "down")
	testenv.Must(t, err)
	down, err := jetstream.New(nc, s.Config())
	testenv.Must(t, err)
	nc.Close()

	if err := down.Ready(ctx); !errors.Is(err, jetstream.ErrUnavailable) {
		t.Fatalf("Ready = %v, want ErrUnavailable", err)
	}
	_, err = down.Publish(ctx, sampleOrder(t), "key-down")
	if !errors.Is(err, jetstream.ErrUnavailable) {
		t.Fatalf("Publish = %v, want ErrUnavailable", err)
	}
	info, err := testenv.JetStream(t).Stream(ctx, s.Config().Stream)
	testenv.Must(t, err)
	st, _ := info.Info(ctx)
	if st.State.Msgs != 0 {
		t.Fatalf("stream holds %d messages after a failed publish", st.State.Msgs)
	}
}

func TestReadyWithoutStream(t *testing.T) {
	t.Parallel()
	nc, err := jetstream.Connect(testenv.NATSURL(), "nostream")
	testenv.Must(t, err)
	defer nc.Close()
	s, err := jetstream.New(nc, testenv.Stream(t))
	testenv.Must(t, err)
	if err := s.Ready(context.Background()); !errors.Is(err, jetstream.ErrUnavailable) {
		t.Fatalf("Ready = %v, want ErrUnavailable for a missing stream", err)
	}
}
