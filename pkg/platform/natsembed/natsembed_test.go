package natsembed_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	natsjs "github.com/nats-io/nats.go/jetstream"

	"booklets/pkg/adapter/jetstream"
	"booklets/pkg/platform/natsembed"
)

func TestJetStreamKeepsMessagesAcrossARestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := jetstream.DefaultConfig()

	srv, err := natsembed.Start(natsembed.Config{Dir: dir, Port: -1})
	if err != nil {
		t.Fatal(err)
	}
	port := srv.Port()
	publish(t, srv.URL(), cfg)
	srv.Shutdown()
	srv.Shutdown() // a second call is harmless

	srv, err = natsembed.Start(natsembed.Config{Dir: dir, Port: port})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	nc, err := jetstream.Connect(srv.URL(), t.Name())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	// The stream as NATS holds it: the adapter hands out no raw client.
	js, err := natsjs.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	info, err := js.Stream(ctx, cfg.Stream)
	if err != nil {
		t.Fatalf("stream after restart: %v", err)
	}
	if got := info.CachedInfo().State.Msgs; got != 1 {
		t.Fatalf("messages after restart = %d, want 1", got)
	}
}

func TestDefaultPortIsNotTakenWhenBusy(t *testing.T) {
	t.Parallel()
	// Whether 4222 is free here depends on the machine (a NATS server may
	// be running); either way Start must succeed and listen somewhere.
	srv, err := natsembed.Start(natsembed.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	if srv.Port() == 0 {
		t.Fatal("no port")
	}
	c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(srv.Port())))
	if err != nil {
		t.Fatalf("dial embedded server: %v", err)
	}
	c.Close()
}

func TestStartNeedsAFolder(t *testing.T) {
	t.Parallel()
	if _, err := natsembed.Start(natsembed.Config{}); err == nil {
		t.Fatal("Start without a folder succeeded")
	}
}

func publish(t *testing.T, url string, cfg jetstream.Config) {
	t.Helper()
	nc, err := jetstream.Connect(url, t.Name())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	s, err := jetstream.New(nc, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	// Not an order: the bytes need not be one, so the raw client publishes.
	js, err := natsjs.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, cfg.Subject, []byte(`{"test":true}`)); err != nil {
		t.Fatal(err)
	}
}

func TestLogFileReceivesTheServersLog(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	logFile := filepath.Join(dir, "nats.log")
	srv, err := natsembed.Start(natsembed.Config{Dir: filepath.Join(dir, "data"), Port: -1, LogFile: logFile})
	if err != nil {
		t.Fatal(err)
	}
	srv.Shutdown()
	b, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "Server is ready") {
		t.Errorf("the log file does not have the server's start-up:\n%s", b)
	}
}
