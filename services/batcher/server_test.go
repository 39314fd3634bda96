package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"booklets/pkg/platform/logging"
	"booklets/pkg/testkit/sftptest"
	"booklets/pkg/testkit/testenv"
)

// The HTTP server's timeouts are all set by default, not only the
// header's.
func TestServerTimeoutsSet(t *testing.T) {
	t.Parallel()
	cfg, err := loadConfig(func(k string) string { return map[string]string{"KEK": testKEK("k1")}[k] })
	testenv.Must(t, err)
	if h := cfg.HTTP; h.ReadHeader <= 0 || h.Read <= 0 || h.Write <= 0 || h.Idle <= 0 {
		t.Errorf("timeouts %+v: all must be set", h)
	}
}

// An idle keep-alive connection to the service is closed by the server
// after its idle timeout (shortened here), instead of being held for ever.
func TestIdleConnectionClosed(t *testing.T) {
	t.Parallel()
	dbURL := testenv.Database(t)
	env := serviceEnv(dbURL, testenv.Orders(t), sftptest.Start(t), map[string]string{"KEK": testKEK("k1")})
	cfg, err := loadConfig(func(k string) string { return env[k] })
	testenv.Must(t, err)
	cfg.HTTP.Idle = 200 * time.Millisecond
	var out testenv.Buffer
	log, err := logging.New(&out, "json", "info", "batcher")
	testenv.Must(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- serve(ctx, cfg, log) }()
	defer func() {
		cancel()
		testenv.Must(t, <-served)
	}()
	addr := listening(t, &out)

	testenv.IdleConnectionClosed(t, addr, "batcher")
}

// listening waits for the service's "batcher listening" log line and
// returns its address.
func listening(t *testing.T, out *testenv.Buffer) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, line := range strings.Split(out.String(), "\n") {
			var l struct{ Message, Addr string }
			if json.Unmarshal([]byte(line), &l) == nil && l.Message == "batcher listening" {
				return l.Addr
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("the service did not listen; log:\n%s", out.String())
	return ""
}
