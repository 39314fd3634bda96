// Package testenv gives each test its own real PostgreSQL database and its
// own JetStream stream on the local servers, so that tests run in parallel
// and can be repeated. Everything a test gets is removed when it ends.
//
// The servers are found through TEST_DATABASE_URL (default
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable) and
// TEST_NATS_URL (default nats://127.0.0.1:4222). `make test` runs go test
// under services/tools/testenv, which sets both to a private PostgreSQL cluster
// and an embedded NATS where nothing answers at them.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"booklets/pkg/adapter/jetstream"
)

// DatabaseURL is the administrative URL of the test PostgreSQL server.
func DatabaseURL() string {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// NATSURL is the URL of the test NATS server.
func NATSURL() string {
	if u := os.Getenv("TEST_NATS_URL"); u != "" {
		return u
	}
	return "nats://127.0.0.1:4222"
}

// Name returns a short unique name with the prefix, usable as a database,
// stream or folder name.
func Name(prefix string) string {
	var b [6]byte
	rand.Read(b[:])
	return prefix + "_" + hex.EncodeToString(b[:])
}

// Database creates an empty database for the test and returns its URL. The
// database is dropped when the test ends.
func Database(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, DatabaseURL())
	if err != nil {
		t.Fatalf("testenv: connect to PostgreSQL at %s (is it running? `make test`, or bin/testenv go test ..., starts one where none answers): %v", DatabaseURL(), err)
	}
	defer admin.Close(ctx)
	name := Name("booklets_test")
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("testenv: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		admin, err := pgx.Connect(ctx, DatabaseURL())
		if err != nil {
			t.Errorf("testenv: drop database %s: %v", name, err)
			return
		}
		defer admin.Close(ctx)
		if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("testenv: drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(DatabaseURL())
	if err != nil {
		t.Fatalf("testenv: parse %s: %v", DatabaseURL(), err)
	}
	u.Path = "/" + name
	return u.String()
}

// Stream returns a stream configuration with a name and subject of the
// test's own. The stream and its idempotency-key bucket are deleted when
// the test ends.
func Stream(t testing.TB) jetstream.Config {
	t.Helper()
	name := strings.ToUpper(Name("ORDERS_TEST"))
	cfg := jetstream.DefaultConfig()
	cfg.Stream = name
	cfg.Subject = "booklets.test." + strings.ToLower(name)
	cfg.DupeWindow = 10 * time.Minute
	t.Cleanup(func() {
		nc, err := jetstream.Connect(NATSURL(), "testenv-cleanup")
		if err != nil {
			return
		}
		defer nc.Close()
		js, err := natsjs.New(nc)
		if err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = js.DeleteStream(ctx, cfg.Stream) // absent if the test never created it
		// The intake makes the bucket on the first keyed order; left behind,
		// every test run would add one to the server.
		_ = js.DeleteKeyValue(ctx, jetstream.IdempotencyBucket(cfg))
	})
	return cfg
}

// JetStream is a JetStream client on a connection of the test's own to the
// test NATS server, for a test that looks at a stream or a bucket as NATS
// holds it, or publishes what the intake never would: the adapter hands
// out no raw client.
func JetStream(t testing.TB, opts ...natsjs.JetStreamOpt) natsjs.JetStream {
	t.Helper()
	nc, err := jetstream.Connect(NATSURL(), t.Name()+"-raw")
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := natsjs.New(nc, opts...)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return js
}

// Orders connects to the test NATS server and creates the test's own
// orders stream.
func Orders(t testing.TB) *jetstream.Orders {
	t.Helper()
	nc, err := jetstream.Connect(NATSURL(), t.Name())
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(nc.Close)
	s, err := jetstream.New(nc, Stream(t))
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// A busy server sometimes refuses to create a stream with the generic
	// "error creating store for stream" (JetStream error 10049), writing
	// the cause only to its own log; a stream of a fresh name is then made
	// on a later attempt. Anything else, or three refusals, fails the test.
	for attempt := 1; ; attempt++ {
		err := s.Ensure(ctx)
		if err == nil {
			return s
		}
		var apiErr *natsjs.APIError
		if attempt == 3 || !errors.As(err, &apiErr) || apiErr.ErrorCode != errCodeStreamStore {
			t.Fatalf("testenv: %v (is NATS with JetStream running at %s? `make test` starts one where none answers; its log says why a store was refused)", err, NATSURL())
		}
		t.Logf("testenv: attempt %d: %v; trying again", attempt, err)
		time.Sleep(time.Duration(attempt) * 200 * time.Millisecond)
	}
}

// errCodeStreamStore is JetStream's "error creating store for stream";
// nats.go names no constant for it.
const errCodeStreamStore natsjs.ErrorCode = 10049

// Must fails the test on a setup error.
func Must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(fmt.Errorf("testenv: %w", err))
	}
}
