package endofday_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/csv"
	"encoding/hex"
	"os"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"booklets/pkg/adapter/openpgp"
	"booklets/pkg/adapter/postgres"
	"booklets/pkg/adapter/sftp"
	"booklets/pkg/domain/batchfile"
	"booklets/pkg/domain/businessday"
	"booklets/pkg/domain/order"
	"booklets/pkg/domain/reference"
	"booklets/pkg/domain/seal"
	"booklets/pkg/stage/endofday"
	"booklets/pkg/testkit/sftptest"
	"booklets/pkg/testkit/testenv"
)

// env is one test's database, SFTP server and clock.
type env struct {
	t     *testing.T
	url   string
	st    *postgres.Orders
	srv   *sftptest.Server
	sftp  sftp.Config
	ring  *seal.Ring
	keys  *postgres.DayKeys
	mu    sync.Mutex
	clock time.Time
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, url: testenv.Database(t), clock: time.Date(2026, 11, 25, 23, 0, 0, 0, time.UTC)}
	e.st = e.openStore()
	testenv.Must(t, e.st.Migrate(context.Background()))
	e.ring = newRing(t, "test-kek")
	e.keys = postgres.NewDayKeys(e.st.Pool(), e.ring)
	e.srv = sftptest.Start(t)
	e.sftp = sftp.Config{Addr: e.srv.Addr, User: e.srv.User, KeyFile: e.srv.KeyFile, KnownHosts: e.srv.KnownHosts, Dir: "outbox"}
	return e
}

func (e *env) openStore() *postgres.Orders {
	st, err := postgres.OpenOrders(context.Background(), e.url, e.now)
	testenv.Must(e.t, err)
	e.t.Cleanup(st.Close)
	return st
}

func (e *env) now() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.clock
}

func (e *env) setNow(t time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.clock = t
}

// sender sends plain CSV (PARTNER_PLAINTEXT), as most tests read the file.
func (e *env) sender(opts ...endofday.Option) *endofday.Sender {
	return e.newSender(append([]endofday.Option{endofday.WithPlaintext()}, opts...)...)
}

// pgpSender encrypts to rec (PARTNER_PGP_KEY_FILE).
func (e *env) pgpSender(rec *openpgp.Recipient, opts ...endofday.Option) *endofday.Sender {
	return e.newSender(append([]endofday.Option{endofday.WithRecipient(rec)}, opts...)...)
}

func (e *env) newSender(opts ...endofday.Option) *endofday.Sender {
	base := []endofday.Option{
		endofday.WithClock(e.now), endofday.WithRetries(0, time.Millisecond), endofday.WithKeys(e.keys),
	}
	return endofday.NewSender(postgres.EndOfDayStore{Orders: e.st, Keys: e.keys}, sftp.Outbox{Config: e.sftp}, append(base, opts...)...)
}

func date(s string) businessday.Date {
	d, err := businessday.ParseDate(s)
	if err != nil {
		panic(err)
	}
	return d
}

// newOrder makes a valid order received at the given time.
func newOrder(received time.Time, p order.Personal, formats ...order.Format) order.Order {
	if len(formats) == 0 {
		formats = []order.Format{order.StandardPrint}
	}
	return order.Order{
		ID: uuid.NewString(), Reference: reference.New(), ReceivedAt: received,
		Area: "kent", Formats: formats, Personal: p,
	}
}

func person(name string) order.Personal {
	return order.Personal{Name: name, AddressLine1: "1 High Street", Town: "Canterbury", Postcode: "CT1 1AA"}
}

// newRing returns a KEK ring with one fresh key under id.
func newRing(t testing.TB, id string) *seal.Ring {
	t.Helper()
	r, err := seal.ParseRing(kekEntry(id))
	testenv.Must(t, err)
	return r
}

func kekEntry(id string) string {
	k := make([]byte, seal.KeySize)
	rand.Read(k)
	return id + ":" + base64.StdEncoding.EncodeToString(k)
}

// seal seals an order as the intake would, under its business day's key.
func (e *env) seal(o order.Order) order.SealedOrder {
	e.t.Helper()
	d := businessday.DefaultCutoff.DateOf(o.ReceivedAt)
	k, err := e.keys.GetOrCreate(context.Background(), d)
	testenv.Must(e.t, err)
	so, err := order.Seal(o, d, k)
	testenv.Must(e.t, err)
	return so
}

// save stores an order as the consumer would: sealed.
func (e *env) save(o order.Order) {
	e.t.Helper()
	_, err := e.st.SaveOrder(context.Background(), e.seal(o))
	testenv.Must(e.t, err)
}

// files lists the batch folder, hidden files included.
func (e *env) files() []string {
	e.t.Helper()
	entries, err := os.ReadDir(e.srv.Path("outbox"))
	if err != nil && !os.IsNotExist(err) {
		e.t.Fatal(err)
	}
	var names []string
	for _, en := range entries {
		names = append(names, en.Name())
	}
	sort.Strings(names)
	return names
}

// remote reads a batch's data file and manifest at the partner, checking
// that the manifest's checksum and counts are the data file's.
func (e *env) remote(b endofday.Batch) ([][]string, batchfile.Manifest) {
	e.t.Helper()
	raw, err := os.ReadFile(e.srv.Path("outbox", b.DataFile))
	testenv.Must(e.t, err)
	mraw, err := os.ReadFile(e.srv.Path("outbox", b.ManifestFile))
	testenv.Must(e.t, err)
	m, err := batchfile.ParseManifest(mraw)
	testenv.Must(e.t, err)
	sum := sha256.Sum256(raw)
	if m.SHA256 != hex.EncodeToString(sum[:]) || m.SHA256 != b.SHA256 || m.Bytes != int64(len(raw)) {
		e.t.Errorf("manifest checksum %s, file %x, recorded %s", m.SHA256, sum, b.SHA256)
	}
	rows, err := csv.NewReader(bytes.NewReader(raw)).ReadAll()
	testenv.Must(e.t, err)
	if m.RecordCount != len(rows)-1 || b.RecordCount != m.RecordCount || m.BatchID != b.ID || m.DataFile != b.DataFile {
		e.t.Errorf("manifest %+v for %d data rows, batch %+v", m, len(rows)-1, b)
	}
	return rows, m
}

func (e *env) count(sql string, args ...any) int {
	e.t.Helper()
	var n int
	testenv.Must(e.t, e.st.Pool().QueryRow(context.Background(), sql, args...).Scan(&n))
	return n
}

// pending is the number of messages left in a work-queue stream (each is
// removed when acknowledged).
func pending(t *testing.T, ctx context.Context, js jetstream.JetStream, name string) uint64 {
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
