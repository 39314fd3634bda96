package main

import (
	"context"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"booklets/pkg/adapter/postgres"
	"booklets/pkg/domain/businessday"
	"booklets/pkg/domain/order"
	"booklets/pkg/domain/reference"
	"booklets/pkg/testkit/sftptest"
	"booklets/pkg/testkit/testenv"
)

// retryEnv is a batcher's environment for the retry tests: its own
// database with one sealed order of the day that closed last, stored as the
// consumer stores it, and an SFTP address where the partner is down until
// the test relays it to the real sshd.
type retryEnv struct {
	t      *testing.T
	srv    *sftptest.Server
	st     *postgres.Orders
	down   string // where nothing listens until up
	env    map[string]string
	closed businessday.Date
}

func newRetryEnv(t *testing.T, extra map[string]string) *retryEnv {
	t.Helper()
	ctx := context.Background()
	dbURL := testenv.Database(t)
	srv := sftptest.Start(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	testenv.Must(t, err)
	down := l.Addr().String()
	l.Close()
	e := &retryEnv{t: t, srv: srv, down: down}
	e.env = serviceEnv(dbURL, testenv.Orders(t), srv, map[string]string{"KEK": testKEK("retry")})
	for k, v := range extra {
		e.env[k] = v
	}
	testenv.Must(t, run(ctx, []string{"migrate"}, e.getenv, nil, &testenv.Buffer{}))
	st, err := postgres.OpenOrders(ctx, dbURL, nil)
	testenv.Must(t, err)
	t.Cleanup(st.Close)
	e.st = st
	// An hour before the last cut-off: an order of the day that closed last.
	e.closed = businessday.DefaultCutoff.LastClosed(time.Now())
	received := businessday.DefaultCutoff.Closes(e.closed).Add(-time.Hour)
	o := order.Order{ID: uuid.NewString(), Reference: reference.New(), ReceivedAt: received, Area: "kent",
		Formats: []order.Format{order.Braille}, Personal: order.Personal{Name: "Rita Retry", AddressLine1: "1 High Street", Town: "Canterbury", Postcode: "CT1 1AA"}}
	_, err = st.SaveOrder(ctx, sealOrder(t, testKeys(t, dbURL, e.env["KEK"]), o))
	testenv.Must(t, err)
	return e
}

func (e *retryEnv) getenv(k string) string { return e.env[k] }

// partnerDown points the batcher at the address where nothing listens,
// with the sshd's host key pinned for it.
func (e *retryEnv) partnerDown() {
	e.env["SFTP_ADDR"], e.env["SFTP_KNOWN_HOSTS"] = e.down, e.srv.KnownHostsFor(e.t, e.down)
}

// partnerUp relays the down address to the real sshd from now on.
func (e *retryEnv) partnerUp() {
	e.t.Helper()
	l, err := net.Listen("tcp", e.down)
	testenv.Must(e.t, err)
	e.t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				u, err := net.Dial("tcp", e.srv.Addr)
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

// waitFor polls cond until it holds, failing with the log after a
// generous deadline (a condition awaited, not a time asserted).
func (e *retryEnv) waitFor(what string, log *testenv.Buffer, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("%s did not happen; batcher log:\n%s", what, log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (e *retryEnv) count(sql string) int {
	e.t.Helper()
	var n int
	testenv.Must(e.t, e.st.Pool().QueryRow(context.Background(), sql).Scan(&n))
	return n
}

// sent reports whether the closed day's batch is recorded as sent.
func (e *retryEnv) sent() bool {
	b, err := e.st.BatchFor(context.Background(), e.closed)
	return err == nil && b.State == postgres.StateSent
}

// The partner is down when the service tries to send a closed day (here at
// start-up): the alert is raised and the personal data kept, and once the
// partner is back the retry job sends the day, long before the next
// cut-off.
func TestFailedSendIsRetried(t *testing.T) {
	t.Parallel()
	e := newRetryEnv(t, map[string]string{"SEND_RETRY_INTERVAL": "200ms"})
	e.partnerDown()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var log testenv.Buffer
	served := make(chan error, 1)
	go func() { served <- run(ctx, nil, e.getenv, nil, &log) }()

	e.waitFor("the alert for the failed send", &log, func() bool { return strings.Contains(log.String(), `"alert":"batch_not_sent"`) })
	if e.sent() || e.count(`SELECT count(*) FROM order_personal`) != 1 {
		t.Fatal("sent, or personal data deleted, while the partner was down")
	}
	e.partnerUp()
	e.waitFor("the retried send", &log, e.sent)
	if e.count(`SELECT count(*) FROM order_personal`) != 0 {
		t.Error("personal data kept after the retried send")
	}
	matches, _ := filepath.Glob(e.srv.Path("outbox", "booklets_"+e.closed.String()+"_*.csv"))
	if len(matches) != 1 {
		t.Errorf("files at the partner %v", matches)
	}
	cancel()
	testenv.Must(t, <-served)
}

// A send-now that failed (partner down) leaves the closed day's batch
// assembled and unsent; the service, started afterwards with the partner
// up, sends it at start-up (the retry interval is an hour: only the
// start-up run can have sent it).
func TestRestartSendsUnfinishedDay(t *testing.T) {
	t.Parallel()
	e := newRetryEnv(t, map[string]string{"SEND_RETRY_INTERVAL": "1h"})
	up := map[string]string{"SFTP_ADDR": e.env["SFTP_ADDR"], "SFTP_KNOWN_HOSTS": e.env["SFTP_KNOWN_HOSTS"]}
	e.partnerDown()
	var out testenv.Buffer
	if err := run(context.Background(), []string{"send-now", "--date", e.closed.String()}, e.getenv, nil, &out); err == nil {
		t.Fatalf("send-now with the partner down succeeded:\n%s", out.String())
	}
	b, err := e.st.BatchFor(context.Background(), e.closed)
	testenv.Must(t, err)
	if b.State != postgres.StateAssembling {
		t.Fatalf("after the failed send-now: %+v", b)
	}

	for k, v := range up {
		e.env[k] = v
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var log testenv.Buffer
	served := make(chan error, 1)
	go func() { served <- run(ctx, nil, e.getenv, nil, &log) }()
	e.waitFor("the unfinished day sent at start-up", &log, e.sent)
	again, err := e.st.BatchFor(ctx, e.closed)
	testenv.Must(t, err)
	if again.ID != b.ID || e.count(`SELECT count(*) FROM order_personal`) != 0 {
		t.Errorf("sent %+v, assembled %s", again, b.ID)
	}
	cancel()
	testenv.Must(t, <-served)
}
