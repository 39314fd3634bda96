// Package batcherday is the fixture the tests of the batcher's stages
// (pkg/stage/ingest and pkg/stage/endofday) share: a migrated database of
// their own with its day keys, a real SFTP server standing in for the
// partner, a clock the test sets, and valid orders sealed as the intake
// seals them. It lives here, once, because both stages run against the
// same stored day: the ingest tests store orders and send them with the
// end-of-day sender, the end-of-day tests do the same the other way round.
package batcherday

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"booklets/pkg/adapter/postgres"
	"booklets/pkg/adapter/sftp"
	"booklets/pkg/domain/businessday"
	"booklets/pkg/domain/order"
	"booklets/pkg/domain/reference"
	"booklets/pkg/domain/seal"
	"booklets/pkg/stage/endofday"
	"booklets/pkg/testkit/sftptest"
	"booklets/pkg/testkit/testenv"
)

// Env is one test's database, SFTP server and clock.
type Env struct {
	T      *testing.T
	URL    string // the test's own database
	Store  *postgres.Orders
	Server *sftptest.Server
	SFTP   sftp.Config // the server's batch folder, "outbox"
	Ring   *seal.Ring  // one key-encryption key, "test-kek"
	Keys   *postgres.DayKeys

	clock *testenv.Clock
}

// New migrates a fresh database and starts an SFTP server for t; the clock
// stands at 23:00 UTC on 25 November 2026, after that day's cut-off.
func New(t *testing.T) *Env {
	t.Helper()
	e := &Env{T: t, URL: testenv.Database(t), clock: testenv.NewClock(time.Date(2026, 11, 25, 23, 0, 0, 0, time.UTC))}
	e.Store = e.OpenStore()
	testenv.Must(t, e.Store.Migrate(context.Background()))
	e.Ring = testenv.Ring(t, testenv.KEKEntry("test-kek"))
	e.Keys = postgres.NewDayKeys(e.Store.Pool(), e.Ring)
	e.Server = sftptest.Start(t)
	e.SFTP = sftp.Config{Addr: e.Server.Addr, User: e.Server.User, KeyFile: e.Server.KeyFile,
		KnownHosts: e.Server.KnownHosts, Dir: "outbox"}
	return e
}

// OpenStore opens another connection pool on the test's database, on the
// test's clock, closed when the test ends.
func (e *Env) OpenStore() *postgres.Orders {
	st, err := postgres.OpenOrders(context.Background(), e.URL, e.Now)
	testenv.Must(e.T, err)
	e.T.Cleanup(st.Close)
	return st
}

// Now is the test's clock.
func (e *Env) Now() time.Time { return e.clock.Now() }

// SetNow sets the test's clock.
func (e *Env) SetNow(t time.Time) { e.clock.Set(t) }

// Sender sends plain CSV (PARTNER_PLAINTEXT), as most tests read the file.
func (e *Env) Sender(opts ...endofday.Option) *endofday.Sender {
	return e.NewSender(append([]endofday.Option{endofday.WithPlaintext()}, opts...)...)
}

// NewSender is the batcher's sender over the test's database (destroying
// the day keys of what it records) and SFTP server, on the test's clock,
// retrying nothing; opts come last and so win.
func (e *Env) NewSender(opts ...endofday.Option) *endofday.Sender {
	base := []endofday.Option{
		endofday.WithClock(e.Now), endofday.WithRetries(0, time.Millisecond), endofday.WithKeys(e.Keys),
	}
	return endofday.NewSender(postgres.EndOfDayStore{Orders: e.Store, Keys: e.Keys}, sftp.Outbox{Config: e.SFTP},
		append(base, opts...)...)
}

// Seal seals an order as the intake would, under its business day's key.
func (e *Env) Seal(o order.Order) order.SealedOrder {
	e.T.Helper()
	d := businessday.DefaultCutoff.DateOf(o.ReceivedAt)
	k, err := e.Keys.GetOrCreate(context.Background(), d)
	testenv.Must(e.T, err)
	so, err := order.Seal(o, d, k)
	testenv.Must(e.T, err)
	return so
}

// Count runs a query that counts something in the test's database.
func (e *Env) Count(sql string, args ...any) int {
	e.T.Helper()
	var n int
	testenv.Must(e.T, e.Store.Pool().QueryRow(context.Background(), sql, args...).Scan(&n))
	return n
}

// Date parses a business date; a malformed one is a mistake in the test.
func Date(s string) businessday.Date {
	d, err := businessday.ParseDate(s)
	if err != nil {
		panic(err)
	}
	return d
}

// London is the time zone of the business day.
var London = func() *time.Location { l, _ := time.LoadLocation("Europe/London"); return l }()

// At is a London wall-clock time, "2006-01-02 15:04:05".
func At(s string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04:05", s, London)
	if err != nil {
		panic(err)
	}
	return t
}

// NewOrder makes a valid order received at the given time, in standard
// print unless formats are given.
func NewOrder(received time.Time, p order.Personal, formats ...order.Format) order.Order {
	if len(formats) == 0 {
		formats = []order.Format{order.StandardPrint}
	}
	return order.Order{
		ID: uuid.NewString(), Reference: reference.New(), ReceivedAt: received,
		Area: "kent", Formats: formats, Personal: p,
	}
}

// Person is a valid personal part under a name.
func Person(name string) order.Personal {
	return order.Personal{Name: name, AddressLine1: "1 High Street", Town: "Canterbury", Postcode: "CT1 1AA"}
}

// Pending is the number of messages left in a work-queue stream (each is
// removed when acknowledged).
func Pending(t *testing.T, ctx context.Context, js jetstream.JetStream, name string) uint64 {
	t.Helper()
	s, err := js.Stream(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}
