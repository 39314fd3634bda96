package main

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"booklets/pkg/testenv"
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

	conn, err := net.Dial("tcp", addr)
	testenv.Must(t, err)
	defer conn.Close()
	_, err = io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: reconciler\r\n\r\n")
	testenv.Must(t, err)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	testenv.Must(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Close {
		t.Fatalf("healthz: %s, close %v: want a kept-alive 200", resp.Status, resp.Close)
	}
	// The deadline only stops the test from hanging when the server keeps
	// the connection: it is far above the idle timeout.
	testenv.Must(t, conn.SetReadDeadline(time.Now().Add(time.Minute)))
	_, err = br.ReadByte()
	if !errors.Is(err, io.EOF) {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatal("the idle connection was still open after a minute")
		}
		t.Fatalf("reading the idle connection: %v, want EOF (closed by the server)", err)
	}
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
