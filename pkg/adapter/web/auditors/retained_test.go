package auditors_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"booklets/pkg/adapter/postgres"
	"booklets/pkg/adapter/web/auditors"
	"booklets/pkg/domain/batchfile"
	"booklets/pkg/domain/businessday"
	"booklets/pkg/stage/endofday"
	"booklets/pkg/testkit/testenv"
)

// Issue 16: each batch's evidence trail says, from the audit log, whether
// an encrypted copy is kept for a resend and until when, when it was
// resent, and when the copy was deleted; a plain CSV batch has none.
func TestBatchPageShowsTheRetainedCopy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := testenv.NewClock(time.Date(2026, 11, 26, 23, 5, 0, 0, time.UTC))
	st, err := postgres.OpenOrders(ctx, testenv.Database(t), clock.Now)
	testenv.Must(t, err)
	t.Cleanup(st.Close)
	testenv.Must(t, st.Migrate(ctx))
	sha := strings.Repeat("cd", 32)
	ids := map[string]string{}
	for i, name := range []string{"kept", "gone", "plain"} {
		day := businessday.Date{Year: 2026, Month: 11, Day: 23 + i}
		id := batchfile.NewBatchID(day)
		enc, data := batchfile.EncryptionOpenPGP, batchfile.DataFileName(day, id)+".gpg"
		if name == "plain" {
			enc, data = batchfile.EncryptionNone, batchfile.DataFileName(day, id)
		}
		_, _, err := st.Assemble(ctx, postgres.Batch{ID: id, Date: day, CreatedAt: clock.Now(), DataFile: data,
			ManifestFile: batchfile.ManifestFileName(day, id), Encryption: enc})
		testenv.Must(t, err)
		sent := postgres.Sent{BatchID: id, SHA256: sha, Records: 1, Orders: 1, SentAt: clock.Now(),
			DeliveryDate: day.AddDays(1), DueDate: day.AddDays(43)}
		if name != "plain" {
			sent.Retained = &endofday.Retention{RetainedAt: clock.Now(), Until: clock.Now().Add(7 * 24 * time.Hour),
				Files: []endofday.RetainedFile{{Name: data, Bytes: 1234, SHA256: sha}, {Name: batchfile.ManifestFileName(day, id), Bytes: 300, SHA256: strings.Repeat("ef", 32)}}}
		}
		_, err = st.RecordSent(ctx, sent)
		testenv.Must(t, err)
		ids[name] = id
	}
	clock.Set(time.Date(2026, 11, 28, 9, 30, 0, 0, time.UTC))
	r, err := st.RetentionOf(ctx, ids["kept"])
	testenv.Must(t, err)
	testenv.Must(t, st.RecordResent(ctx, ids["kept"], r.Retention.Files))
	clock.Set(time.Date(2026, 12, 4, 23, 10, 0, 0, time.UTC))
	ok, err := st.RecordRetainedDeleted(ctx, ids["gone"], endofday.ReasonWindowEnded)
	testenv.Must(t, err)
	if !ok {
		t.Fatal("not recorded deleted")
	}
	if ok, err := st.RecordRetainedDeleted(ctx, ids["gone"], endofday.ReasonWindowEnded); err != nil || ok {
		t.Fatalf("deleted twice: %v %v", ok, err)
	}

	led := postgres.NewLedger(st.Pool())
	srv, err := auditors.New(led, auditors.Auth{Token: token}, clock.Now, zerolog.Nop(), nil)
	testenv.Must(t, err)
	srv.Trail = postgres.AuditTrail{DB: st.Pool()}
	srv.AuditLog = postgres.AuditTree{DB: st.Pool()}
	e := &pageEnv{mux: http.NewServeMux()}
	srv.Register(e.mux)

	_, page := e.get(t, "/audit/batches/"+ids["kept"], true)
	mustMatch(t, "kept batch", page, `id="retained-until">Retained until 3 Dec 2026 23:05 UTC</dd>`,
		`id="resent">28 Nov 2026 09:30 UTC</dd>`, `data-kind="batch_retained"`, `data-kind="batch_resent"`)
	_, page = e.get(t, "/audit/batches/"+ids["gone"], true)
	mustMatch(t, "deleted copy", page, `id="retained-until">Deleted 4 Dec 2026 23:10 UTC \(its resend window ended\)</dd>`,
		`id="resent">Never</dd>`, `data-kind="retained_copy_deleted"`)
	_, page = e.get(t, "/audit/batches/"+ids["plain"], true)
	mustMatch(t, "plain CSV batch", page, `id="retained-none">No copy kept for a resend.`)
}
