package auditors_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"booklets/pkg/adapter/postgres"
	"booklets/pkg/adapter/web/auditors"
	"booklets/pkg/domain/batchfile"
	"booklets/pkg/domain/businessday"
	"booklets/pkg/testkit/testenv"
)

// The auditors' page says, batch by batch, whether the file sent to the
// partner was encrypted to its key or plain CSV (issue 20), from what the
// batcher recorded when it assembled the batch.
func TestPageShowsBatchEncryption(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := testenv.Database(t)
	now := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	st, err := postgres.OpenOrders(ctx, url, func() time.Time { return now })
	testenv.Must(t, err)
	t.Cleanup(st.Close)
	testenv.Must(t, st.Migrate(ctx))
	for i, enc := range []string{batchfile.EncryptionOpenPGP, batchfile.EncryptionNone} {
		day := businessday.Date{Year: 2026, Month: 11, Day: 24 + i}
		id := batchfile.NewBatchID(day)
		name := batchfile.DataFileName(day, id)
		if enc == batchfile.EncryptionOpenPGP {
			name += ".gpg"
		}
		b, _, err := st.Assemble(ctx, postgres.Batch{ID: id, Date: day, CreatedAt: now, DataFile: name,
			ManifestFile: batchfile.ManifestFileName(day, id), Encryption: enc})
		testenv.Must(t, err)
		_, err = st.RecordSent(ctx, postgres.Sent{BatchID: b.ID, SHA256: "ab", SentAt: now, DeliveryDate: day, DueDate: day.AddDays(40)})
		testenv.Must(t, err)
	}
	srv, err := auditors.New(postgres.NewLedger(st.Pool()), auditors.Auth{Token: token}, func() time.Time { return now }, zerolog.Nop(), nil)
	testenv.Must(t, err)
	mux := http.NewServeMux()
	srv.Register(mux)
	req := httptest.NewRequest("GET", "/audit", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	body, _ := io.ReadAll(rec.Body)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, body)
	}
	for _, want := range []string{
		`(?s)data-batch="B20261124-[^"]+".*?data-encryption="openpgp">Encrypted \(OpenPGP\)</td>`,
		`(?s)data-batch="B20261125-[^"]+".*?data-encryption="none"><strong class="govuk-tag[^"]*">Plain CSV</strong></td>`,
		`<th scope="col" class="govuk-table__header">File sent</th>`,
	} {
		if !regexp.MustCompile(want).Match(body) {
			t.Errorf("page lacks %s:\n%s", want, body)
		}
	}
}
