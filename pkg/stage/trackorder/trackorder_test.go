package trackorder_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"booklets/pkg/adapter/postgres"
	"booklets/pkg/domain/batchfile"
	"booklets/pkg/domain/businessday"
	"booklets/pkg/domain/order"
	"booklets/pkg/domain/reference"
	"booklets/pkg/stage/audit"
	"booklets/pkg/stage/reconcile"
	"booklets/pkg/stage/trackorder"
	"booklets/pkg/testkit/batcherday"
	"booklets/pkg/testkit/partnersim"
	"booklets/pkg/testkit/testenv"
)

var date, at, newOrder, person = batcherday.Date, batcherday.At, batcherday.NewOrder, batcherday.Person

// env is a stored day (pkg/testkit/batcherday: database, day keys, the
// partner's SFTP server, the clock) with the tracking service over it.
type env struct {
	*batcherday.Env
	svc *trackorder.Service
}

func newEnv(t *testing.T) *env {
	e := &env{Env: batcherday.New(t)}
	svc, err := trackorder.New(trackorder.Config{Store: e.Store, Keys: e.Keys, Cutoff: businessday.DefaultCutoff, Clock: e.Now})
	testenv.Must(t, err)
	e.svc = svc
	return e
}

// save stores an order as the batcher's consumer does: sealed.
func (e *env) save(o order.Order) string {
	e.T.Helper()
	_, err := e.Store.SaveOrder(context.Background(), e.Seal(o))
	testenv.Must(e.T, err)
	return o.Reference.String()
}

func (e *env) status(ref string) trackorder.Status {
	e.T.Helper()
	st, err := e.svc.Status(context.Background(), ref)
	testenv.Must(e.T, err)
	return st
}

// mistyped changes one character of a reference (not the check
// character), which the check character catches.
func mistyped(ref string) string {
	b := []byte(ref)
	i := strings.IndexByte(reference.Alphabet, b[0])
	b[0] = reference.Alphabet[(i+1)%len(reference.Alphabet)]
	return string(b)
}

// The whole life of three orders, against PostgreSQL, the day keys, the
// end-of-day sender and SFTP, and the reconciler's ledger: received and
// cancellable; one cancelled before the cut-off (personal row gone, audit
// entry with the reference only, left out of the batch file); after the
// cut-off too late; sent; deletion due, then overdue; dispatched;
// returned; deletion confirmed; and the status that wins for each.
func TestLifeOfAnOrder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	e.SetNow(at("2026-11-25 12:00:00"))
	cancelled := e.save(newOrder(at("2026-11-25 10:00:00"), person("Cancelling Person")))
	kept := e.save(newOrder(at("2026-11-25 10:05:00"), person("Keeping Person"), order.StandardPrint, order.Audio))
	back := e.save(newOrder(at("2026-11-25 10:10:00"), person("Moved Away")))

	// The reference as typed: errors a person can act on.
	for in, want := range map[string]error{"": trackorder.ErrNoReference, "  - ": trackorder.ErrNoReference,
		"ABC": trackorder.ErrReferenceFormat, "K0QM-X9PA-C4T": trackorder.ErrReferenceFormat,
		mistyped(kept): trackorder.ErrReferenceCheck, reference.New().String(): trackorder.ErrUnknown} {
		if _, err := e.svc.Status(ctx, in); !errors.Is(err, want) {
			t.Errorf("Status(%q): %v, want %v", in, err, want)
		}
	}

	// Received, before the cut-off: cancellable until it.
	cutoff := time.Date(2026, 11, 25, 23, 0, 0, 0, batcherday.London)
	st := e.status(strings.ToLower(strings.ReplaceAll(kept, "-", " ")))
	if st.Status != trackorder.Received || st.Reference != kept || st.ReceivedOn != date("2026-11-25") ||
		!st.CancellableUntil.Equal(cutoff) || !st.GoesToPrinterAt.Equal(cutoff) || st.Sending || !st.SentOn.IsZero() {
		t.Errorf("received: %+v", st)
	}

	// Cancel: the postcode must match; an unknown reference and a wrong
	// postcode are the same error.
	for _, c := range []struct {
		ref, pc string
		want    error
	}{
		{cancelled, "CT1 9ZZ", trackorder.ErrUnknown},
		{reference.New().String(), "CT1 1AA", trackorder.ErrUnknown},
		{cancelled, "", trackorder.ErrNoPostcode},
		{cancelled, "not a postcode", trackorder.ErrPostcodeFormat},
		{mistyped(cancelled), "CT1 1AA", trackorder.ErrReferenceCheck},
	} {
		_, err := e.svc.Cancel(ctx, c.ref, c.pc)
		if !errors.Is(err, c.want) {
			t.Errorf("Cancel(%s, %q): %v, want %v", c.ref, c.pc, err, c.want)
		}
		if err != nil && c.pc != "" && strings.Contains(err.Error(), c.pc) {
			t.Errorf("the error repeats the postcode: %v", err)
		}
	}
	got, err := e.svc.Cancel(ctx, cancelled, "ct11aa") // as typed: any case, no space
	if err != nil || got.Already || got.Reference != cancelled {
		t.Fatalf("cancel: %+v %v", got, err)
	}
	// Twice: not an error for the person, and nothing more happens.
	if got, err := e.svc.Cancel(ctx, cancelled, "CT1 9ZZ"); err != nil || !got.Already {
		t.Errorf("cancel again: %+v %v", got, err)
	}
	st = e.status(cancelled)
	if st.Status != trackorder.Cancelled || st.CancelledOn != date("2026-11-25") || st.PersonalDataDeletedOn != date("2026-11-25") ||
		!st.CancellableUntil.IsZero() {
		t.Errorf("cancelled: %+v", st)
	}
	if n := e.Count(`SELECT count(*) FROM order_personal p JOIN orders o USING (order_id) WHERE o.reference = $1`, cancelled); n != 0 {
		t.Errorf("the cancelled order's personal part is still held (%d rows)", n)
	}
	var details []string
	rows, err := e.Store.Pool().Query(ctx, `SELECT details::text FROM audit_log WHERE kind = $1 ORDER BY seq`, string(audit.OrderCancelled))
	testenv.Must(t, err)
	details, err = pgx.CollectRows(rows, pgx.RowTo[string])
	testenv.Must(t, err)
	if want := fmt.Sprintf(`{"reference": "%s"}`, cancelled); len(details) != 1 || details[0] != want {
		t.Errorf("order_cancelled entries %q, want one %s", details, want)
	}
	if n := e.Count(`SELECT count(*) FROM audit_log WHERE details::text ~* 'CT1|Cancelling'`); n != 0 {
		t.Errorf("%d audit entries hold personal data", n)
	}
	// The log with the new kind still verifies: chain and tree.
	if res, err := postgres.VerifyAudit(ctx, e.Store.Pool()); err != nil || !res.OK || res.Entries == 0 {
		t.Errorf("audit chain: %+v %v", res, err)
	}
	if size, err := (postgres.AuditTree{DB: e.Store.Pool()}).Sync(ctx); err != nil || size == 0 {
		t.Errorf("audit tree: size %d, %v", size, err)
	}

	// After the cut-off, before the batch is made: too late, being sent.
	e.SetNow(at("2026-11-25 23:30:00"))
	if _, err := e.svc.Cancel(ctx, kept, "CT1 1AA"); !errors.Is(err, trackorder.ErrTooLate) {
		t.Errorf("cancel after the cut-off: %v", err)
	}
	if st := e.status(kept); st.Status != trackorder.Received || !st.Sending || !st.CancellableUntil.IsZero() {
		t.Errorf("after the cut-off: %+v", st)
	}

	// Sent: the cancelled order is not in the batch file.
	res, err := e.Sender().SendBatch(ctx, date("2026-11-25"))
	testenv.Must(t, err)
	data, err := os.ReadFile(e.Server.Path("outbox", res.Batch.DataFile))
	testenv.Must(t, err)
	if s := string(data); strings.Contains(s, cancelled) || strings.Contains(s, "Cancelling") || !strings.Contains(s, kept) || !strings.Contains(s, back) {
		t.Errorf("batch file:\n%s", s)
	}
	st = e.status(kept)
	if st.Status != trackorder.Sent || st.SentOn != date("2026-11-25") || st.PersonalDataDeletedOn != date("2026-11-25") ||
		st.DeletionDueBy != res.Batch.DueDate || st.DeletionDueBy.IsZero() || st.DeletionOverdue || st.Sending {
		t.Errorf("sent: %+v (batch due %s)", st, res.Batch.DueDate)
	}
	if _, err := e.svc.Cancel(ctx, kept, "CT1 1AA"); !errors.Is(err, trackorder.ErrTooLate) {
		t.Errorf("cancel when sent: %v", err)
	}
	if st := e.status(cancelled); st.Status != trackorder.Cancelled {
		t.Errorf("cancelled after the send: %+v", st)
	}

	// The partner's dispatch and returns files, judged and recorded as
	// the reconciler does.
	led := postgres.NewLedger(e.Store.Pool())
	updates := func(label string, rows ...reconcile.UpdateRow) {
		t.Helper()
		f := reconcile.NewFile(fmt.Sprintf("updates_%s_%s.csv", res.Batch.ID, label), partnersim.UpdatesCSV(rows))
		parsed, problems := reconcile.ParseUpdates(f)
		now := e.Now()
		out, _, err := led.RecordUpdates(ctx, f, res.Batch.ID, []string{kept, back}, now,
			func(b *reconcile.Batch, o map[string]reconcile.OrderInfo, p map[reconcile.UpdateKey]reconcile.PriorUpdate) reconcile.UpdatesOutcome {
				return reconcile.JudgeUpdates(f, parsed, problems, b, o, p, now)
			})
		testenv.Must(t, err)
		if !out.Accepted {
			t.Fatalf("updates %s rejected: %s", label, out.Reason)
		}
	}
	day := func(s string) time.Time { return date(s).UTC() }
	e.SetNow(at("2026-11-27 18:00:00"))
	updates("dispatch", reconcile.UpdateRow{Reference: kept, Format: "standard-print", Status: reconcile.Dispatched, Date: day("2026-11-26")},
		reconcile.UpdateRow{Reference: kept, Format: "audio", Status: reconcile.Dispatched, Date: day("2026-11-27")},
		reconcile.UpdateRow{Reference: back, Format: "standard-print", Status: reconcile.Dispatched, Date: day("2026-11-26")})
	if st := e.status(kept); st.Status != trackorder.Dispatched || st.DispatchedOn != date("2026-11-27") || st.DeletionDueBy.IsZero() {
		t.Errorf("dispatched: %+v", st)
	}
	e.SetNow(at("2026-12-01 18:00:00"))
	updates("returns", reconcile.UpdateRow{Reference: back, Format: "standard-print", Status: reconcile.Returned,
		Date: day("2026-12-01"), Reason: "addressee-unknown"})
	if st := e.status(back); st.Status != trackorder.Returned || st.ReturnedOn != date("2026-12-01") || st.DispatchedOn != date("2026-11-26") {
		t.Errorf("returned: %+v", st)
	}

	// Overdue: past the due date with no confirmation.
	e.SetNow(res.Batch.DueDate.AddDays(1).UTC().Add(12 * time.Hour))
	if st := e.status(kept); !st.DeletionOverdue || st.Status != trackorder.Dispatched {
		t.Errorf("overdue: %+v", st)
	}

	// The partner's deletion confirmation, accepted: confirmed, except
	// for the returned order, whose person must still order again.
	deleted := res.Batch.DueDate.UTC().Add(10 * time.Hour)
	f := reconcile.NewFile("deletion_"+res.Batch.ID+".json", []byte(fmt.Sprintf(
		`{"format_version":1,"batch_id":%q,"record_count":%d,"sha256":%q,"deleted_at":%q}`,
		res.Batch.ID, res.Batch.RecordCount, res.Batch.SHA256, deleted.Format(time.RFC3339))))
	received := deleted.Add(time.Hour)
	rec, _, err := led.Record(ctx, f, received, func(b *reconcile.Batch, acc *reconcile.Recorded) reconcile.Recorded {
		return reconcile.Judge(f, b, acc, received)
	})
	testenv.Must(t, err)
	if !rec.Accepted {
		t.Fatalf("confirmation rejected: %s", rec.Reason)
	}
	st = e.status(kept)
	if st.Status != trackorder.DeletionConfirmed || st.DeletionConfirmedOn != res.Batch.DueDate || !st.DeletionDueBy.IsZero() ||
		st.DeletionOverdue || st.DispatchedOn != date("2026-11-27") || st.SentOn != date("2026-11-25") {
		t.Errorf("deletion confirmed: %+v", st)
	}
	if st := e.status(back); st.Status != trackorder.Returned || st.DeletionConfirmedOn != res.Batch.DueDate {
		t.Errorf("returned and confirmed: %+v", st)
	}
	if res.Batch.Encryption != batchfile.EncryptionNone {
		t.Errorf("the test reads the batch file in clear, but it is %s", res.Batch.Encryption)
	}
}

// An order received after the cut-off belongs to the next business day:
// cancellable until that day's cut-off. An order whose batch is being
// assembled cannot be cancelled, even if the clock says otherwise: the
// store's check under the assemble lock is the one that counts.
func TestCancelRacesTheBatch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	e.SetNow(at("2026-11-25 23:10:00"))
	ref := e.save(newOrder(at("2026-11-25 23:05:00"), person("Late Evening")))
	st := e.status(ref)
	if want := time.Date(2026, 11, 26, 23, 0, 0, 0, batcherday.London); st.Status != trackorder.Received || !st.CancellableUntil.Equal(want) {
		t.Errorf("after the cut-off, for the next day: %+v", st)
	}
	// The batch of the 26th assembled early (the store refuses later
	// orders of that day as late from then on): too late.
	id := batchfile.NewBatchID(date("2026-11-26"))
	_, _, err := e.Store.Assemble(ctx, postgres.Batch{ID: id, Date: date("2026-11-26"), CreatedAt: e.Now(),
		DataFile: batchfile.DataFileName(date("2026-11-26"), id), ManifestFile: batchfile.ManifestFileName(date("2026-11-26"), id),
		Encryption: batchfile.EncryptionNone})
	testenv.Must(t, err)
	if st := e.status(ref); st.Status != trackorder.Received || !st.Sending || !st.CancellableUntil.IsZero() {
		t.Errorf("in a batch being sent: %+v", st)
	}
	if _, err := e.svc.Cancel(ctx, ref, "CT1 1AA"); !errors.Is(err, trackorder.ErrTooLate) {
		t.Errorf("cancel in a batch: %v", err)
	}
	// Under the lock, whatever the status said: the adapter refuses.
	if err := e.Store.CancelOrder(ctx, "00000000-0000-0000-0000-000000000000", "X"); !errors.Is(err, postgres.ErrNotFound) {
		t.Errorf("cancel an unknown order id: %v", err)
	}
	var orderID string
	testenv.Must(t, e.Store.Pool().QueryRow(ctx, `SELECT order_id::text FROM orders WHERE reference = $1`, ref).Scan(&orderID))
	if err := e.Store.CancelOrder(ctx, orderID, ref); !errors.Is(err, postgres.ErrAlreadySent) {
		t.Errorf("cancel an order in a batch: %v", err)
	}
}

// The intake connects as a member of booklets_service (MIGRATE=false, no
// owner rights): the grants the migrations give it (060, 011, 086 and the
// audit log's) are enough to read a status and cancel, with the audit
// entry, so no migration of its own is needed.
func TestAsServiceRole(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	e.SetNow(at("2026-11-25 12:00:00"))
	ref := e.save(newOrder(at("2026-11-25 10:00:00"), person("Role Person")))
	role := testenv.Name("booklets_intake")
	_, err := e.Store.Pool().Exec(ctx, "CREATE ROLE "+role+" LOGIN IN ROLE booklets_service")
	testenv.Must(t, err)
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), e.URL)
		if err != nil {
			t.Errorf("drop role %s: %v", role, err)
			return
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(context.Background(), "DROP ROLE IF EXISTS "+role); err != nil {
			t.Errorf("drop role %s: %v", role, err)
		}
	})
	u, err := url.Parse(e.URL)
	testenv.Must(t, err)
	u.User = url.User(role)
	st, err := postgres.OpenOrders(ctx, u.String(), e.Now)
	testenv.Must(t, err)
	t.Cleanup(st.Close)
	svc, err := trackorder.New(trackorder.Config{Store: st, Keys: postgres.NewDayKeys(st.Pool(), e.Ring),
		Cutoff: businessday.DefaultCutoff, Clock: e.Now})
	testenv.Must(t, err)
	if s, err := svc.Status(ctx, ref); err != nil || s.Status != trackorder.Received {
		t.Fatalf("status as the service role: %+v %v", s, err)
	}
	if _, err := svc.Cancel(ctx, ref, "CT1 1AA"); err != nil {
		t.Fatalf("cancel as the service role: %v", err)
	}
	if n := e.Count(`SELECT count(*) FROM audit_log WHERE kind = 'order_cancelled' AND details->>'reference' = $1`, ref); n != 1 {
		t.Errorf("%d order_cancelled entries", n)
	}
}
