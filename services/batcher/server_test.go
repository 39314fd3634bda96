package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"booklets/pkg/logging"
	"booklets/pkg/sftptest"
	"booklets/pkg/testenv"
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

	conn, err := net.Dial("tcp", addr)
	testenv.Must(t, err)
	defer conn.Close()
	_, err = io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: batcher\r\n\r\n")
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
