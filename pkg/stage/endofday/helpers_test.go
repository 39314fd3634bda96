package endofday_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"os"
	"sort"
	"testing"

	"booklets/pkg/adapter/openpgp"
	"booklets/pkg/domain/batchfile"
	"booklets/pkg/domain/order"
	"booklets/pkg/stage/endofday"
	"booklets/pkg/testkit/batcherday"
	"booklets/pkg/testkit/testenv"
)

// env is one test's stored day (pkg/testkit/batcherday, which the ingest
// tests share) and what only these tests do with it.
type env struct{ *batcherday.Env }

func newEnv(t *testing.T) *env { return &env{batcherday.New(t)} }

// The fixture's orders and times, by the short names the tests use.
var date, at, newOrder, person = batcherday.Date, batcherday.At, batcherday.NewOrder, batcherday.Person

// pgpSender encrypts to rec (PARTNER_PGP_KEY_FILE).
func (e *env) pgpSender(rec *openpgp.Recipient, opts ...endofday.Option) *endofday.Sender {
	return e.NewSender(append([]endofday.Option{endofday.WithRecipient(rec)}, opts...)...)
}

// save stores an order as the consumer would: sealed.
func (e *env) save(o order.Order) {
	e.T.Helper()
	_, err := e.Store.SaveOrder(context.Background(), e.Seal(o))
	testenv.Must(e.T, err)
}

// files lists the batch folder, hidden files included.
func (e *env) files() []string {
	e.T.Helper()
	entries, err := os.ReadDir(e.Server.Path("outbox"))
	if err != nil && !os.IsNotExist(err) {
		e.T.Fatal(err)
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
	e.T.Helper()
	raw, err := os.ReadFile(e.Server.Path("outbox", b.DataFile))
	testenv.Must(e.T, err)
	mraw, err := os.ReadFile(e.Server.Path("outbox", b.ManifestFile))
	testenv.Must(e.T, err)
	m, err := batchfile.ParseManifest(mraw)
	testenv.Must(e.T, err)
	sum := sha256.Sum256(raw)
	if m.SHA256 != hex.EncodeToString(sum[:]) || m.SHA256 != b.SHA256 || m.Bytes != int64(len(raw)) {
		e.T.Errorf("manifest checksum %s, file %x, recorded %s", m.SHA256, sum, b.SHA256)
	}
	rows, err := csv.NewReader(bytes.NewReader(raw)).ReadAll()
	testenv.Must(e.T, err)
	if m.RecordCount != len(rows)-1 || b.RecordCount != m.RecordCount || m.BatchID != b.ID || m.DataFile != b.DataFile {
		e.T.Errorf("manifest %+v for %d data rows, batch %+v", m, len(rows)-1, b)
	}
	return rows, m
}
