package endofday_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"booklets/pkg/adapter/postgres"
	"booklets/pkg/domain/businessday"
	"booklets/pkg/stage/endofday"
	"booklets/pkg/testkit/testenv"
)

// Personal data past its day's cut-off plus the grace is raised: an alert
// with counts and references only, the gauges, and the finding kept for
// the auditors' page; within the grace nothing is raised.
func TestRetentionWatchdog(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	o := newOrder(at("2026-11-25 10:00:00"), person("Olive Overdue"))
	e.save(o)
	_, err := e.Store.SaveDeadLetter(ctx, postgres.DeadLetter{Stream: "S", Sequence: 7, Subject: "x", Reason: "bad",
		Data: []byte("raw"), ReceivedAt: at("2026-11-25 11:00:00"), BusinessDate: date("2026-11-25")})
	testenv.Must(t, err)
	var logs testenv.Buffer
	m := newMetrics()
	w := endofday.Watchdog{Store: e.Store, Cutoff: businessday.DefaultCutoff, Grace: 2 * time.Hour, Now: e.Now,
		Log: zerolog.New(&logs), Metrics: m}

	e.SetNow(at("2026-11-26 00:59:00")) // cut-off 23:00 GMT + 2h grace not yet passed
	f, err := w.Check(ctx)
	testenv.Must(t, err)
	if f.Held != 2 || len(f.Overdue) != 0 || m.value("personal_data_overdue") != 0 || strings.Contains(logs.String(), "alert") {
		t.Fatalf("within the grace: %+v %s", f, logs.String())
	}

	e.SetNow(at("2026-11-26 01:01:00"))
	f, err = w.Check(ctx)
	testenv.Must(t, err)
	if len(f.Overdue) != 2 || m.value("personal_data_overdue") != 2 || m.value("personal_data_overdue_oldest_age_seconds") != (15*time.Hour+time.Minute).Seconds() {
		t.Fatalf("past the grace: %+v, gauges %v %v", f, m.value("personal_data_overdue"), m.value("personal_data_overdue_oldest_age_seconds"))
	}
	out := logs.String()
	if !strings.Contains(out, `"alert":"personal_data_overdue"`) || !strings.Contains(out, o.Reference.String()) ||
		!strings.Contains(out, "stream sequence 7") || strings.Contains(out, "Olive") {
		t.Errorf("alert: %s", out)
	}
	if n := e.Count(`SELECT count(*) FROM retention_check WHERE overdue = 2 AND held = 2 AND oldest_overdue_at = '2026-11-25 10:00:00+00'`); n != 1 {
		t.Error("finding not kept for the auditors' page")
	}

	// Once the batch is sent nothing is held or overdue.
	if _, err := e.Sender().SendBatch(ctx, date("2026-11-25")); err != nil {
		t.Fatal(err)
	}
	if f, err := w.Check(ctx); err != nil || f.Held != 0 || m.value("personal_data_overdue") != 0 {
		t.Errorf("after the batch: %+v %v", f, err)
	}
}
