package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"booklets/pkg/adapter/jetstream"
	"booklets/pkg/adapter/postgres"
	"booklets/pkg/domain/order"
	"booklets/pkg/domain/seal"
	"booklets/pkg/testkit/eventually"
	"booklets/pkg/testkit/testenv"
)

// testIntake is what a test needs to read back what an intake published:
// its stream, and the database and KEK ring of its day keys.
type testIntake struct {
	jetstream.Config
	DatabaseURL string
	KEK         string
}

// newKEK returns a KEK ring setting with one fresh key.
func newKEK(id string) string {
	k := make([]byte, 32)
	rand.Read(k)
	return id + ":" + base64.StdEncoding.EncodeToString(k)
}

// startIntake boots the whole service with run() on a free port, against
// the test's own stream, and returns its base URL once /readyz answers.
func startIntake(t *testing.T, extra map[string]string) (string, testIntake) {
	t.Helper()
	cfg := testIntake{Config: testenv.Stream(t), DatabaseURL: testenv.Database(t), KEK: newKEK("test1")}
	secret := make([]byte, 32)
	rand.Read(secret)
	env := map[string]string{
		"KEK":                   cfg.KEK,
		"HTTP_ADDR":             "127.0.0.1:0",
		"NATS_URL":              testenv.NATSURL(),
		"NATS_STREAM":           cfg.Stream,
		"NATS_SUBJECT":          cfg.Subject,
		"INTAKE_SECRET":         hex.EncodeToString(secret),
		"RATE_LIMIT_PER_MINUTE": "100000",
		"RATE_LIMIT_BURST":      "10000",
		"LOG_LEVEL":             "warn",
		"DATABASE_URL":          cfg.DatabaseURL,
	}
	for k, v := range extra {
		env[k] = v
	}
	deleteIdempotencyBucket(t, cfg.Config)
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := run(ctx, nil, func(k string) string { return env[k] }, pw)
		pw.CloseWithError(io.EOF)
		done <- err
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("intake did not start: %v", err)
	}
	go io.Copy(io.Discard, pr)
	base, ok := strings.CutPrefix(strings.TrimSpace(line), "Order form: ")
	if !ok {
		t.Fatalf("first line of stdout = %q, want the form's URL", line)
	}
	base = strings.TrimSuffix(base, "/")

	// The stream is ensured in the background: wait until it is ready.
	eventually.Within(t, 20*time.Second, "the intake at "+base+" becomes ready", func(context.Context) error {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/readyz answered %d", resp.StatusCode)
		}
		return nil
	})
	return base, cfg
}

// deleteIdempotencyBucket deletes, when the test ends, the idempotency
// bucket the intake makes beside its stream (testenv deletes the stream).
func deleteIdempotencyBucket(t *testing.T, cfg jetstream.Config) {
	t.Cleanup(func() {
		nc, err := jetstream.Connect(testenv.NATSURL(), "cleanup")
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
		_ = js.DeleteKeyValue(ctx, jetstream.IdempotencyBucket(cfg))
	})
}

// storedOrders reads every order in a stream and opens its personal part
// with the intake's day keys, after checking that the stream holds it
// sealed only.
func storedOrders(t *testing.T, ti testIntake) []order.Order {
	t.Helper()
	cfg := ti.Config
	ring, err := seal.ParseRing(ti.KEK)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(context.Background(), ti.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	keys := postgres.NewDayKeys(pool, ring)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	js, err := testenv.JetStream(t).Stream(ctx, cfg.Stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := js.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []order.Order
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := js.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		so, err := order.UnmarshalSealed(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		key, err := keys.Get(ctx, so.BusinessDate)
		if err != nil {
			t.Fatal(err)
		}
		p, err := so.Open(key)
		if err != nil {
			t.Fatal(err)
		}
		for _, pii := range []string{p.Name, p.AddressLine1, p.Postcode} {
			if strings.Contains(string(m.Data), pii) {
				t.Fatalf("message %d holds personal data in clear", seq)
			}
		}
		out = append(out, order.Order{ID: so.ID, Reference: so.Reference, ReceivedAt: so.ReceivedAt,
			Area: so.Area, Formats: so.Formats, Languages: so.Languages, Personal: p})
	}
	return out
}

func TestRunServesTheAPI(t *testing.T) {
	t.Parallel()
	base, cfg := startIntake(t, nil)
	body := `{"area":"staffordshire","formats":["audio"],"name":"Ann Lee","address_line_1":"1 High St","town":"Stafford","postcode":"ST18 0YY"}`
	resp, err := http.Post(base+"/api/v1/orders", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got struct{ Reference string }
	json.NewDecoder(resp.Body).Decode(&got)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("status = %d", resp.StatusCode)
	}
	orders := storedOrders(t, cfg)
	if len(orders) != 1 || orders[0].Reference.String() != got.Reference {
		t.Fatalf("stream holds %+v, want the order %s", orders, got.Reference)
	}
	for _, p := range []string{"/healthz", "/", "/assets/govuk-frontend.min.css", "/assets/app/js-enabled.js"} {
		resp, err := http.Get(base + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s = %d", p, resp.StatusCode)
		}
	}
}

func TestConfig(t *testing.T) {
	t.Parallel()
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	// Without a KEK the intake refuses to start, naming both settings.
	if _, err := readConfig(env()); err == nil || !strings.Contains(err.Error(), "KEK_FILE") || !strings.Contains(err.Error(), "KEK") {
		t.Errorf("no KEK: error = %v", err)
	}
	kek := newKEK("k1")
	c, err := readConfig(env("KEK", kek))
	if err != nil {
		t.Fatal(err)
	}
	if c.Cutoff.String() != "23:00" || c.Ring.Current() != "k1" {
		t.Errorf("cut-off %s, KEK %s", c.Cutoff, c.Ring.Current())
	}
	if c.HTTPAddr != "127.0.0.1:8080" || c.NATSURL != "nats://127.0.0.1:4222" || c.Stream.Stream != "ORDERS" ||
		c.Stream.Subject != "booklets.orders.v1" || c.Stream.Replicas != 1 || c.RatePerMinute != 60 || c.RateBurst != 20 || c.SecretSet {
		t.Errorf("defaults = %+v", c)
	}

	key := make([]byte, 32)
	rand.Read(key)
	for _, enc := range []string{hex.EncodeToString(key), base64.StdEncoding.EncodeToString(key), base64.RawURLEncoding.EncodeToString(key)} {
		c, err := readConfig(env("INTAKE_SECRET", enc, "KEK", kek))
		if err != nil || string(c.Secret) != string(key) {
			t.Errorf("secret %q: %v", enc, err)
		}
	}

	file := t.TempDir() + "/secret"
	os.WriteFile(file, []byte(hex.EncodeToString(key)+"\n"), 0o600)
	if c, err := readConfig(env("INTAKE_SECRET_FILE", file, "KEK", kek)); err != nil || string(c.Secret) != string(key) {
		t.Errorf("secret from file: %v", err)
	}

	// Every mistake is reported at once, and a secret's value never.
	_, err = readConfig(env("INTAKE_SECRET", "c2hvcnQtc2VjcmV0", "NATS_REPLICAS", "x", "RATE_LIMIT_PER_MINUTE", "0", "LOG_FORMAT", "xml", "BATCH_CUTOFF", "25:00", "KEK", "k1:c2hvcnQtc2VjcmV0", "NATS_STREAM", "ORDERS.v1", "NATS_DUPE_WINDOW", "0s"))
	if err == nil {
		t.Fatal("bad configuration accepted")
	}
	for _, want := range []string{"INTAKE_SECRET", "NATS_REPLICAS", "RATE_LIMIT_PER_MINUTE", "LOG_FORMAT", "BATCH_CUTOFF", "KEK", "NATS_STREAM", "NATS_DUPE_WINDOW"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s: %v", want, err)
		}
	}
	if strings.Contains(err.Error(), "c2hvcnQtc2VjcmV0") {
		t.Errorf("error repeats the secret: %v", err)
	}
}

// TestHelp: -h and --help print the usage and exit 0 without reading a
// setting or connecting to anything; anything else on the command line is
// a usage error.
func TestHelp(t *testing.T) {
	t.Parallel()
	noEnv := func(k string) string {
		t.Errorf("asked for help, the intake read %s", k)
		return ""
	}
	for _, arg := range []string{"-h", "--help", "-help"} {
		var out strings.Builder
		if err := run(context.Background(), []string{arg}, noEnv, &out); err != nil {
			t.Errorf("%s: %v", arg, err)
		}
		if !strings.HasPrefix(out.String(), "Usage: intake") || !strings.Contains(out.String(), "KEK_FILE") {
			t.Errorf("%s printed %q", arg, out.String())
		}
	}
	for _, args := range [][]string{{"extra"}, {"-x"}, {"--port", "80"}, {"extra", "-h"}} {
		var out strings.Builder
		err := run(context.Background(), args, noEnv, &out)
		if !errors.As(err, new(*usageError)) || out.Len() != 0 {
			t.Errorf("%q: error %v, printed %q; want a usage error", args, err, out.String())
		}
	}
}
