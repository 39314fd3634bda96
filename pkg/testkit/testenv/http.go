package testenv

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"testing"
	"time"
)

// IdleConnectionClosed makes one kept-alive request to GET /healthz at addr
// and fails the test unless the server then closes the idle connection by
// itself. A service under test sets an idle timeout far below the minute
// this waits at most, so the minute only stops a hang: it is no timing
// assertion.
func IdleConnectionClosed(t testing.TB, addr, host string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	Must(t, err)
	defer conn.Close()
	_, err = io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: "+host+"\r\n\r\n")
	Must(t, err)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	Must(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Close {
		t.Fatalf("healthz: %s, close %v: want a kept-alive 200", resp.Status, resp.Close)
	}
	Must(t, conn.SetReadDeadline(time.Now().Add(time.Minute)))
	_, err = br.ReadByte()
	if !errors.Is(err, io.EOF) {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatal("the idle connection was still open after a minute")
		}
		t.Fatalf("reading the idle connection: %v, want EOF (closed by the server)", err)
	}
}
