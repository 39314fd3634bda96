package endofday_test

import (
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"booklets/pkg/adapter/postgres"
	"booklets/pkg/adapter/sftp"
	"booklets/pkg/domain/batchfile"
	"booklets/pkg/domain/order"
	"booklets/pkg/stage/endofday"
	"booklets/pkg/testkit/batcherday"
)

func TestSendBatch(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	tricky := []order.Order{
		newOrder(at("2026-11-25 09:00:00"), order.Personal{Name: "=HYPERLINK(\"http://x\")", AddressLine1: "+1 Formula Way", AddressLine2: "-minus", Town: "@Town", Postcode: "CT1 1AA"}, order.Braille, order.StandardPrint),
		newOrder(at("2026-11-25 10:00:00"), order.Personal{Name: "Siân Ní Bhriain 李小龍", AddressLine1: "Flat 2, \"The Old Mill\"", AddressLine2: "Line\nbreak", Town: "Llanelli", Postcode: "SA15 1AA"}, order.Audio),
		newOrder(at("2026-11-24 23:30:00"), person("After yesterday's cut-off"), order.LargePrint), // business day 25th
		newOrder(at("2026-11-20 12:00:00"), person("Missed an earlier batch"), order.EasyRead),     // earlier, never sent
	}
	// A Welsh area's order for its booklet in English and Welsh (issue 18):
	// a row for each language.
	tricky[1].Area, tricky[1].Languages = "dyfed-powys", []order.Language{order.English, order.Welsh}
	tomorrow := newOrder(at("2026-11-25 23:00:00"), person("Tomorrow"))
	for _, o := range append(tricky, tomorrow) {
		e.save(o)
	}
	res, err := e.Sender().SendBatch(ctx, date("2026-11-25"))
	if err != nil {
		t.Fatal(err)
	}
	b := res.Batch
	if b.State != postgres.StateSent || b.OrderCount != 4 || b.RecordCount != 6 || res.Deleted.Orders != 4 {
		t.Fatalf("result %+v", res)
	}
	if !batchfile.ValidBatchID(b.ID) || !strings.HasPrefix(b.ID, "B20261125-") {
		t.Errorf("batch id %s", b.ID)
	}
	if got := e.files(); len(got) != 2 || got[0] != b.DataFile || got[1] != b.ManifestFile {
		t.Errorf("files at the partner %v", got)
	}
	rows, m := e.remote(b)
	want := [][]string{
		batchfile.Header,
		{tricky[3].Reference.String(), "kent", "Kent", "easy-read", "Missed an earlier batch", "1 High Street", "", "Canterbury", "CT1 1AA", "en"},
		{tricky[2].Reference.String(), "kent", "Kent", "large-print", "After yesterday's cut-off", "1 High Street", "", "Canterbury", "CT1 1AA", "en"},
		{tricky[0].Reference.String(), "kent", "Kent", "standard-print", "'=HYPERLINK(\"http://x\")", "'+1 Formula Way", "'-minus", "'@Town", "CT1 1AA", "en"},
		{tricky[0].Reference.String(), "kent", "Kent", "braille", "'=HYPERLINK(\"http://x\")", "'+1 Formula Way", "'-minus", "'@Town", "CT1 1AA", "en"},
		{tricky[1].Reference.String(), "dyfed-powys", "Dyfed-Powys", "audio", "Siân Ní Bhriain 李小龍", "Flat 2, \"The Old Mill\"", "Line\nbreak", "Llanelli", "SA15 1AA", "en"},
		{tricky[1].Reference.String(), "dyfed-powys", "Dyfed-Powys", "audio", "Siân Ní Bhriain 李小龍", "Flat 2, \"The Old Mill\"", "Line\nbreak", "Llanelli", "SA15 1AA", "cy"},
	}
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d: %q", len(rows), len(want), rows)
	}
	for i := range want {
		if strings.Join(rows[i], "|") != strings.Join(want[i], "|") {
			t.Errorf("row %d = %q, want %q", i, rows[i], want[i])
		}
	}
	if m.BusinessDate != "2026-11-25" || m.OrderCount != 4 || m.RecordCount != 6 || m.FormatVersion != 2 {
		t.Errorf("manifest %+v", m)
	}
	// Our copy: personal data gone for the batch, facts kept; tomorrow's kept.
	if n := e.Count(`SELECT count(*) FROM order_personal`); n != 1 {
		t.Errorf("%d personal parts left, want only tomorrow's", n)
	}
	if n := e.Count(`SELECT count(*) FROM order_personal WHERE order_id = $1`, tomorrow.ID); n != 1 {
		t.Error("tomorrow's order lost its personal part")
	}
	if n := e.Count(`SELECT count(*) FROM orders_with_batch WHERE batch_id = $1 AND personal_deleted_at IS NOT NULL
		AND reference <> '' AND area IN ('kent', 'dyfed-powys') AND cardinality(formats) > 0`, b.ID); n != 4 {
		t.Errorf("%d orders keep their facts with the batch id", n)
	}
	if n := e.Count(`SELECT count(*) FROM orders WHERE order_id = $1 AND languages = '{en,cy}'`, tricky[1].ID); n != 1 {
		t.Error("the bilingual order lost its languages with its personal part")
	}
	if b.DeliveryDate.String() != "2026-11-25" || b.DueDate.String() != "2027-01-11" {
		t.Errorf("delivery %s due %s", b.DeliveryDate, b.DueDate)
	}
	conn, err := e.Store.Pool().Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	res2, verr := postgres.VerifyAudit(ctx, conn.Conn())
	conn.Release()
	if verr != nil {
		t.Errorf("audit chain: %v %+v", verr, res2)
	}
	if n := e.Count(`SELECT count(*) FROM audit_log WHERE batch_id = $1 AND kind IN ('batch_sent', 'personal_data_deleted')`, b.ID); n != 2 {
		t.Errorf("%d audit entries for the batch", n)
	}

	// Sending the same day again does nothing.
	again, err := e.Sender().SendBatch(ctx, date("2026-11-25"))
	if err != nil || !again.AlreadySent || again.Batch.ID != b.ID {
		t.Errorf("second send: %+v %v", again, err)
	}
	if got := e.files(); len(got) != 2 {
		t.Errorf("files after a second send %v", got)
	}
}

func TestEmptyDay(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	res, err := e.Sender().SendBatch(context.Background(), date("2026-11-25"))
	if err != nil {
		t.Fatal(err)
	}
	rows, m := e.remote(res.Batch)
	if len(rows) != 1 || m.RecordCount != 0 || m.OrderCount != 0 || res.Batch.State != postgres.StateSent {
		t.Errorf("empty day: rows %q manifest %+v", rows, m)
	}
}

// Due dates are the 30th working day after the delivery date, England and
// Wales bank holidays excluded.
func TestDueDates(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, tt := range []struct{ delivered, due string }{
		{"2025-12-10", "2026-01-26"}, // Christmas, Boxing Day, New Year
		{"2025-12-24", "2026-02-09"},
		{"2026-03-02", "2026-04-15"}, // Good Friday, Easter Monday
		{"2026-03-20", "2026-05-06"}, // Easter and the early May bank holiday
		{"2026-12-18", "2027-02-03"}, // Boxing Day substitute (Monday 28th)
		{"2027-02-15", "2027-03-31"}, // Easter 2027
	} {
		// Sent at 23:00 London time on the delivery date.
		d := date(tt.delivered)
		e.SetNow(time.Date(d.Year, d.Month, d.Day, 23, 0, 0, 0, batcherday.London))
		res, err := e.Sender().SendBatch(context.Background(), d)
		if err != nil {
			t.Fatal(err)
		}
		if res.Batch.DeliveryDate.String() != tt.delivered || res.Batch.DueDate.String() != tt.due {
			t.Errorf("delivered %s: due %s, want %s", res.Batch.DeliveryDate, res.Batch.DueDate, tt.due)
		}
	}
}

var errCrash = errors.New("simulated crash")

// A crash at any step loses nothing and sends nothing twice.
func TestCrashRecovery(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		step       string
		afterBytes int64
	}{
		{endofday.StepBeforeUpload, 0},
		{endofday.StepMidUpload, 1000},
		{endofday.StepAfterData, 0},
		{endofday.StepAfterUpload, 0},
		{endofday.StepBeforeRecord, 0},
	} {
		t.Run(tt.step, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			ctx := context.Background()
			for i := range 200 {
				e.save(newOrder(at("2026-11-25 09:00:00").Add(time.Duration(i)*time.Second), person("Person"), order.StandardPrint, order.Audio))
			}
			crashed := false
			_, err := e.Sender(endofday.WithFault(func(step string, written int64) error {
				if step == tt.step && written >= tt.afterBytes && !crashed {
					crashed = true
					return errCrash
				}
				return nil
			})).SendBatch(ctx, date("2026-11-25"))
			if !errors.Is(err, errCrash) {
				t.Fatalf("first run: %v", err)
			}
			first, err := e.Store.BatchFor(ctx, date("2026-11-25"))
			if err != nil {
				t.Fatal(err)
			}
			// Personal data is only deleted after the verified upload is recorded.
			if n := e.Count(`SELECT count(*) FROM order_personal`); n != 200 {
				t.Fatalf("%d personal parts after a crash", n)
			}
			for _, f := range e.files() {
				if f == first.ManifestFile && (tt.step == endofday.StepBeforeUpload || tt.step == endofday.StepMidUpload || tt.step == endofday.StepAfterData) {
					t.Errorf("manifest at the partner after a crash at %s", tt.step)
				}
				if f == first.DataFile && (tt.step == endofday.StepBeforeUpload || tt.step == endofday.StepMidUpload) {
					t.Errorf("partial data file under its final name after a crash at %s", tt.step)
				}
			}
			// New orders arriving meanwhile go to the next batch, not this one.
			late := newOrder(at("2026-11-25 23:10:00"), person("Late"))
			e.save(late)

			res, err := e.Sender().SendBatch(ctx, date("2026-11-25"))
			if err != nil {
				t.Fatal(err)
			}
			b := res.Batch
			if b.ID != first.ID || b.State != postgres.StateSent || b.OrderCount != 200 || b.RecordCount != 400 {
				t.Errorf("resumed batch %+v, first was %s", b, first.ID)
			}
			if got := e.files(); len(got) != 2 || got[0] != b.DataFile || got[1] != b.ManifestFile {
				t.Errorf("files at the partner %v", got)
			}
			rows, _ := e.remote(b)
			if len(rows) != 401 {
				t.Errorf("%d rows", len(rows))
			}
			if n := e.Count(`SELECT count(*) FROM order_personal`); n != 1 {
				t.Errorf("%d personal parts left, want the late one", n)
			}
			if n := e.Count(`SELECT count(*) FROM audit_log WHERE kind = 'batch_sent'`); n != 1 {
				t.Errorf("%d batch_sent entries", n)
			}
		})
	}
}

// A send stopped between the data file and its manifest (a shutdown that
// abandons the batch cancels the context there) takes the data file back:
// a batch not sent leaves nothing at the partner. The next run sends it.
func TestCancelBeforeManifestRemovesDataFile(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for i := range 20 {
		e.save(newOrder(at("2026-11-25 09:00:00").Add(time.Duration(i)*time.Second), person("Person")))
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sawData := false
	_, err := e.Sender(endofday.WithFault(func(step string, _ int64) error {
		if step == endofday.StepAfterData {
			sawData = slices.ContainsFunc(e.files(), func(f string) bool { return strings.HasSuffix(f, ".csv") })
			cancel()
		}
		return nil
	})).SendBatch(ctx, date("2026-11-25"))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled send: %v", err)
	}
	if !sawData {
		t.Fatal("the data file was not under its final name before the manifest: the test cancels too early")
	}
	if got := e.files(); len(got) != 0 {
		t.Errorf("the partner has %v after a send cancelled before the manifest", got)
	}
	if n := e.Count(`SELECT count(*) FROM order_personal`); n != 20 {
		t.Errorf("%d personal parts held after a send that did not finish, want 20", n)
	}
	res, err := e.Sender().SendBatch(context.Background(), date("2026-11-25"))
	if err != nil {
		t.Fatal(err)
	}
	if got := e.files(); len(got) != 2 || res.Batch.State != postgres.StateSent || res.Batch.OrderCount != 20 {
		t.Errorf("resumed send: batch %+v, partner has %v", res.Batch, got)
	}
}

func TestTwoSendersOneBatch(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	e.save(newOrder(at("2026-11-25 09:00:00"), person("One")))
	inside := make(chan struct{})
	release := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := e.Sender(endofday.WithFault(func(step string, _ int64) error {
			if step == endofday.StepBeforeUpload {
				close(inside)
				<-release
			}
			return nil
		})).SendBatch(ctx, date("2026-11-25"))
		done <- err
	}()
	<-inside
	// A second replica, with its own connections.
	other := endofday.NewSender(postgres.EndOfDayStore{Orders: e.OpenStore(), Keys: e.Keys}, sftp.Outbox{Config: e.SFTP}, endofday.WithClock(e.Now),
		endofday.WithKeys(e.Keys), endofday.WithPlaintext())
	res, err := other.SendBatch(ctx, date("2026-11-25"))
	if err != nil || !res.Skipped {
		t.Errorf("second sender: %+v %v", res, err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := e.Count(`SELECT count(*) FROM batches`); n != 1 {
		t.Errorf("%d batches", n)
	}
	if got := e.files(); len(got) != 2 {
		t.Errorf("files %v", got)
	}
}

func TestHostKeyRefusedKeepsPersonalData(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.save(newOrder(at("2026-11-25 09:00:00"), person("One")))
	cfg := e.SFTP
	cfg.KnownHosts = e.Server.WriteKnownHosts(t, true)
	slept := 0
	s := endofday.NewSender(postgres.EndOfDayStore{Orders: e.Store, Keys: e.Keys}, sftp.Outbox{Config: cfg}, endofday.WithClock(e.Now), endofday.WithKeys(e.Keys), endofday.WithPlaintext(), endofday.WithRetries(5, time.Millisecond),
		endofday.WithSleep(func(context.Context, time.Duration) error { slept++; return nil }))
	_, err := s.SendBatch(context.Background(), date("2026-11-25"))
	if !errors.Is(err, sftp.ErrHostKey) || !strings.Contains(err.Error(), "host key mismatch") {
		t.Fatalf("error %v", err)
	}
	if slept != 0 {
		t.Errorf("a refused host key was retried %d times", slept)
	}
	if n := e.Count(`SELECT count(*) FROM order_personal`); n != 1 {
		t.Error("personal data deleted without an upload")
	}
	if n := e.Count(`SELECT attempts FROM batches`); n != 1 {
		t.Errorf("attempts = %d", n)
	}
	if got := e.files(); len(got) != 0 {
		t.Errorf("files %v", got)
	}
}

// The partner is unreachable for a while: retries with growing delays, then
// success; personal data kept until then.
func TestSFTPDownThenUp(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.save(newOrder(at("2026-11-25 09:00:00"), person("One")))
	// A port the known_hosts file pins to the server's key, where nothing
	// listens until a relay to the real sshd is started.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cfg := e.SFTP
	cfg.Addr = addr
	cfg.KnownHosts = e.Server.KnownHostsFor(t, addr)
	var delays []time.Duration
	var up atomic.Bool
	s := endofday.NewSender(postgres.EndOfDayStore{Orders: e.Store, Keys: e.Keys}, sftp.Outbox{Config: cfg}, endofday.WithClock(e.Now), endofday.WithKeys(e.Keys), endofday.WithPlaintext(), endofday.WithRetries(5, 100*time.Millisecond),
		endofday.WithSleep(func(_ context.Context, d time.Duration) error {
			delays = append(delays, d)
			if len(delays) == 3 && !up.Load() {
				up.Store(true)
				if n := e.Count(`SELECT count(*) FROM order_personal`); n != 1 {
					t.Error("personal data deleted while the partner was down")
				}
				relay(t, addr, e.Server.Addr)
			}
			return nil
		}))
	res, err := s.SendBatch(context.Background(), date("2026-11-25"))
	if err != nil {
		t.Fatal(err)
	}
	want := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond}
	if len(delays) != len(want) {
		t.Fatalf("delays %v", delays)
	}
	for i := range want {
		if delays[i] != want[i] {
			t.Errorf("delays %v, want %v", delays, want)
		}
	}
	if res.Batch.State != postgres.StateSent || e.Count(`SELECT count(*) FROM order_personal`) != 0 {
		t.Errorf("after recovery: %+v", res.Batch)
	}
}

// SFTP down for good: the run fails after its retries, nothing under a
// final name, personal data kept.
func TestSFTPDownForGood(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.save(newOrder(at("2026-11-25 09:00:00"), person("One")))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cfg := e.SFTP
	cfg.Addr = addr
	cfg.KnownHosts = e.Server.KnownHostsFor(t, addr)
	tries := 0
	s := endofday.NewSender(postgres.EndOfDayStore{Orders: e.Store, Keys: e.Keys}, sftp.Outbox{Config: cfg}, endofday.WithClock(e.Now), endofday.WithKeys(e.Keys), endofday.WithPlaintext(), endofday.WithRetries(2, time.Millisecond),
		endofday.WithSleep(func(context.Context, time.Duration) error { tries++; return nil }))
	_, err = s.SendBatch(context.Background(), date("2026-11-25"))
	if !errors.Is(err, sftp.ErrUnavailable) || tries != 2 {
		t.Fatalf("error %v after %d retries", err, tries)
	}
	if n := e.Count(`SELECT count(*) FROM order_personal`); n != 1 {
		t.Error("personal data deleted")
	}
}

// relay forwards connections from addr to target until the test ends.
func relay(t *testing.T, addr, target string) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				u, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer u.Close()
				go io.Copy(u, c)
				io.Copy(c, u)
			}()
		}
	}()
}
