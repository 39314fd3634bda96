package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/uuid"

	"booklets/pkg/adapter/postgres"
	"booklets/pkg/domain/batchfile"
	"booklets/pkg/domain/businessday"
	"booklets/pkg/domain/order"
	"booklets/pkg/domain/reference"
	"booklets/pkg/domain/seal"
	"booklets/pkg/testkit/testenv"
)

// statusDay is the intake's database with orders stored in it as the
// batcher stores them (sealed under the intake's day keys): one sent in a
// batch three days ago, one received yesterday and past its cut-off but
// not yet in a batch, and new ones received now.
type statusDay struct {
	t     *testing.T
	store *postgres.Orders
	keys  *postgres.DayKeys
}

func newStatusDay(t *testing.T, ti testIntake) *statusDay {
	t.Helper()
	st, err := postgres.OpenOrders(context.Background(), ti.DatabaseURL, nil)
	testenv.Must(t, err)
	t.Cleanup(st.Close)
	ring, err := seal.ParseRing(ti.KEK)
	testenv.Must(t, err)
	return &statusDay{t: t, store: st, keys: postgres.NewDayKeys(st.Pool(), ring)}
}

// save stores an order received at the given time, sealed under its
// business day's key.
func (d *statusDay) save(received time.Time) string {
	d.t.Helper()
	ctx := context.Background()
	o := order.Order{ID: uuid.NewString(), Reference: reference.New(), ReceivedAt: received, Area: "dyfed-powys",
		Formats:  []order.Format{order.Braille},
		Personal: order.Personal{Name: "Siân O'Brien", AddressLine1: "1 Heol y Bont", Town: "Llandrindod Wells", Postcode: "LD1 5LG"}}
	day := businessday.DefaultCutoff.DateOf(received)
	key, err := d.keys.GetOrCreate(ctx, day)
	testenv.Must(d.t, err)
	so, err := order.Seal(o, day, key)
	testenv.Must(d.t, err)
	_, err = d.store.SaveOrder(ctx, so)
	testenv.Must(d.t, err)
	return o.Reference.String()
}

// send assembles and records the batch of a day, as the end of day does
// once the files are verified at the partner.
func (d *statusDay) send(day businessday.Date, at time.Time) {
	d.t.Helper()
	ctx := context.Background()
	id := batchfile.NewBatchID(day)
	b, _, err := d.store.Assemble(ctx, postgres.Batch{ID: id, Date: day, CreatedAt: at, DataFile: batchfile.DataFileName(day, id),
		ManifestFile: batchfile.ManifestFileName(day, id), Encryption: batchfile.EncryptionNone})
	testenv.Must(d.t, err)
	_, err = d.store.RecordSent(ctx, postgres.Sent{BatchID: b.ID, SHA256: strings.Repeat("ab", 32), Records: 1, Orders: 1,
		SentAt: at, DeliveryDate: day.AddDays(1), DueDate: day.AddDays(42)})
	testenv.Must(d.t, err)
}

// ours checks that the page on screen is one of the service's, not a
// browser's own page such as "Confirm Form Resubmission" (or, without
// JavaScript, the blank page it shows instead).
func (b *tab) ours() {
	b.t.Helper()
	got, err := chromedp.Run(b.ctx, chromedp.Title())
	b.must("read title", err)
	if !strings.HasSuffix(got, "– GOV.UK") {
		loc, _ := chromedp.Run(b.ctx, chromedp.Location())
		b.t.Fatalf("on %s the title is %q: not one of our pages", loc, got)
	}
}

// TestBrowserStatus checks and cancels orders in Chromium, with
// JavaScript off and on: the form's errors (empty, mistyped, unknown), a
// received order's status and its cancel (no postcode, a wrong one, the
// right one), Back and Forward after the cancel (never a resubmission
// prompt), the cancelled, sent and past-the-cut-off statuses and the
// page saying an order has gone to the printer; every page axe-clean at
// 375 and 1280 pixels. The cancelled orders' personal rows are gone and
// each cancel is in the audit log, the reference only.
func TestBrowserStatus(t *testing.T) {
	t.Parallel()
	// Each page of the test is a lookup: more than the default limit.
	base, cfg := startIntake(t, map[string]string{"STATUS_RATE_LIMIT_PER_MINUTE": "6000", "STATUS_RATE_LIMIT_BURST": "1000"})
	d := newStatusDay(t, cfg)
	now := time.Now()
	cut := businessday.DefaultCutoff
	today := cut.DateOf(now)
	sent := d.save(cut.Closes(today.AddDays(-3)).Add(-2 * time.Hour))
	d.send(today.AddDays(-3), cut.Closes(today.AddDays(-3)).Add(10*time.Minute))
	late := d.save(cut.Closes(today.AddDays(-1)).Add(-time.Hour))

	var cancelled []string
	for _, js := range []bool{false, true} {
		name := "without JavaScript"
		if js {
			name = "with JavaScript"
		}
		ref := d.save(now)
		cancelled = append(cancelled, ref)
		t.Run(name, func(t *testing.T) {
			b := openTab(t, js)
			submit := `form[action="/status"] button[type=submit]`
			b.open(base + "/status")
			b.page("Check your order")
			b.a11y("status form")
			b.click(submit)
			b.page("Error: Check your order")
			if got := b.errorLinks(); got != "#reference" {
				t.Errorf("error summary links = %q", got)
			}
			b.a11y("status form with an error")
			wrong := []byte(ref)
			wrong[0] = reference.Alphabet[(strings.IndexByte(reference.Alphabet, wrong[0])+1)%len(reference.Alphabet)]
			for typed, want := range map[string]string{string(wrong): "one of the characters looks wrong",
				reference.New().String(): "We cannot find an order with that reference"} {
				b.typeInto("reference", typed)
				b.click(submit)
				b.page("Error: Check your order")
				if got := b.text(".govuk-error-summary__list"); !strings.Contains(got, want) {
					t.Errorf("%s: error %q, want %q", typed, got, want)
				}
			}

			// Received: cancellable.
			b.typeInto("reference", strings.ToLower(ref))
			b.click(submit)
			b.page("Your order")
			if got := b.text("#status"); got != "Received" {
				t.Errorf("status %q", got)
			}
			b.a11y("status received")
			b.click("#cancel-link")
			b.page("Cancel your order")
			b.a11y("cancel form")
			b.click("#confirm-cancel")
			b.page("Error: Cancel your order")
			if got := b.errorLinks(); got != "#postcode" {
				t.Errorf("cancel error summary links = %q", got)
			}
			b.a11y("cancel form with an error")
			b.typeInto("postcode", "LD1 5LH")
			b.click("#confirm-cancel")
			b.page("Error: Cancel your order")
			if got := b.text(".govuk-error-summary__list"); !strings.Contains(got, "We could not find an order with that reference and postcode") {
				t.Errorf("wrong postcode: %q", got)
			}
			if got := b.value("postcode"); got != "" {
				t.Errorf("the postcode is shown back: %q", got)
			}
			b.typeInto("postcode", "ld15lg")
			b.click("#confirm-cancel")
			b.page("Order cancelled")
			if got := b.text("#reference"); got != ref {
				t.Errorf("cancelled page reference %q", got)
			}
			b.a11y("order cancelled")

			// Back and Forward: GET pages only, never a resubmission.
			// Back and Forward: GET pages only, never a resubmission
			// prompt. Chromium may show a page kept from before (its
			// back/forward cache keeps even no-store pages) or load it
			// again (then the cancel forms show the cancelled status):
			// either is one of ours.
			for _, step := range []int64{-1, +1, -1, -1, -1, +1, +1} {
				b.history(step)
				b.ours()
			}
			b.history(+1)
			b.page("Order cancelled")
			b.open(base + "/status/cancel?reference=" + ref + "&error=no-match")
			b.page("Your order")
			if got := b.text("#status"); got != "Cancelled" {
				t.Errorf("the failed cancel's form, loaded again: status %q", got)
			}

			b.open(base + "/status?reference=" + ref)
			b.page("Your order")
			if got := b.text("#status"); got != "Cancelled" {
				t.Errorf("cancelled: status %q", got)
			}
			if got := b.eval(`document.querySelector('#order-again').getAttribute('href')`); got != "/" {
				t.Errorf("order again link %q", got)
			}
			b.a11y("status cancelled")

			// Sent, and past the cut-off.
			b.open(base + "/status?reference=" + sent)
			b.page("Your order")
			if got := b.text("#status"); got != "Sent to the printer" {
				t.Errorf("sent: status %q", got)
			}
			if got := b.text("#dates"); !strings.Contains(got, "We deleted your name and address") || !strings.Contains(got, "The printer must delete your name and address") {
				t.Errorf("sent: dates %q", got)
			}
			b.a11y("status sent")
			b.open(base + "/status?reference=" + late)
			b.page("Your order")
			if got := b.text("#status"); got != "Being sent to the printer" {
				t.Errorf("past the cut-off: status %q", got)
			}
			b.a11y("status being sent")
			b.open(base + "/status/cancel?reference=" + late)
			b.page("Your order has gone to the printer")
			b.a11y("too late to cancel")
		})
	}

	for _, ref := range cancelled {
		var personal, entries int
		var details string
		ctx := context.Background()
		testenv.Must(t, d.store.Pool().QueryRow(ctx, `SELECT count(*) FROM order_personal p JOIN orders o USING (order_id) WHERE o.reference = $1`, ref).Scan(&personal))
		testenv.Must(t, d.store.Pool().QueryRow(ctx, `SELECT count(*), coalesce(min(details::text), '') FROM audit_log WHERE kind = 'order_cancelled' AND details->>'reference' = $1`, ref).Scan(&entries, &details))
		if personal != 0 || entries != 1 || details != `{"reference": "`+ref+`"}` {
			t.Errorf("%s: %d personal rows, %d order_cancelled entries %s", ref, personal, entries, details)
		}
	}
}
