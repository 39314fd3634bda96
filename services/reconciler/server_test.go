package main

import (
	"testing"
	"time"

	"booklets/pkg/testkit/testenv"
)

// An idle keep-alive connection is closed by the server after its idle
// timeout (shortened here), instead of being held for ever.
func TestIdleConnectionClosed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.vars["LOG_LEVEL"] = "info"
	cfg, err := readConfig(e.getenv)
	testenv.Must(t, err)
	cfg.HTTP.Idle = 200 * time.Millisecond
	addr, _ := e.daemon(cfg)

	testenv.IdleConnectionClosed(t, addr, "reconciler")
}

// The server's timeouts are all set.
func TestServerTimeoutsSet(t *testing.T) {
	t.Parallel()
	cfg, err := readConfig(func(string) string { return "" })
	testenv.Must(t, err)
	h := cfg.HTTP
	if h.ReadHeader <= 0 || h.Read <= 0 || h.Write <= 0 || h.Idle <= 0 {
		t.Errorf("timeouts %+v: all must be set", h)
	}
}
