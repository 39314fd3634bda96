package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"booklets/pkg/order"
	"booklets/pkg/stream"
	"booklets/pkg/testenv"
)

// startIntake boots the whole service with run() on a free port, against
// the test's own stream, and returns its base URL once /readyz answers.
func startIntake(t *testing.T, extra map[string]string) (string, stream.Config) {
	t.Helper()
	cfg := testenv.Stream(t)
	secret := make([]byte, 32)
	rand.Read(secret)
	env := map[string]string{
		"HTTP_ADDR":             "127.0.0.1:0",
		"NATS_URL":              testenv.NATSURL(),
		"NATS_STREAM":           cfg.Stream,
		"NATS_SUBJECT":          cfg.Subject,
		"INTAKE_SECRET":         hex.EncodeToString(secret),
		"RATE_LIMIT_PER_MINUTE": "100000",
		"RATE_LIMIT_BURST":      "10000",
		"LOG_LEVEL":             "warn",
		"DATABASE_URL":          testenv.Database(t),
	}
	for k, v := range extra {
		env[k] = v
	}
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
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("intake at %s never became ready", base)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return base, cfg
}

// storedOrders reads every order in a stream.
func storedOrders(t *testing.T, cfg stream.Config) []order.Order {
	t.Helper()
	nc, err := stream.Connect(testenv.NATSURL(), "read-back")
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	s, err := stream.New(nc, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	js, err := s.JetStream().Stream(ctx, cfg.Stream)
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
		o, err := order.Unmarshal(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, o)
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
	c, err := readConfig(env())
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPAddr != "127.0.0.1:8080" || c.NATSURL != "nats://127.0.0.1:4222" || c.Stream.Stream != "ORDERS" ||
		c.Stream.Subject != "booklets.orders.v1" || c.Stream.Replicas != 1 || c.RatePerMinute != 60 || c.RateBurst != 20 || c.SecretSet {
		t.Errorf("defaults = %+v", c)
	}

	key := make([]byte, 32)
	rand.Read(key)
	for _, enc := range []string{hex.EncodeToString(key), base64.StdEncoding.EncodeToString(key), base64.RawURLEncoding.EncodeToString(key)} {
		c, err := readConfig(env("INTAKE_SECRET", enc))
		if err != nil || string(c.Secret) != string(key) {
			t.Errorf("secret %q: %v", enc, err)
		}
	}

	file := t.TempDir() + "/secret"
	os.WriteFile(file, []byte(hex.EncodeToString(key)+"\n"), 0o600)
	if c, err := readConfig(env("INTAKE_SECRET_FILE", file)); err != nil || string(c.Secret) != string(key) {
		t.Errorf("secret from file: %v", err)
	}

	// Every mistake is reported at once, and a secret's value never.
	_, err = readConfig(env("INTAKE_SECRET", "c2hvcnQtc2VjcmV0", "NATS_REPLICAS", "x", "RATE_LIMIT_PER_MINUTE", "0", "LOG_FORMAT", "xml"))
	if err == nil {
		t.Fatal("bad configuration accepted")
	}
	for _, want := range []string{"INTAKE_SECRET", "NATS_REPLICAS", "RATE_LIMIT_PER_MINUTE", "LOG_FORMAT"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s: %v", want, err)
		}
	}
	if strings.Contains(err.Error(), "c2hvcnQtc2VjcmV0") {
		t.Errorf("error repeats the secret: %v", err)
	}
	if err := run(context.Background(), []string{"extra"}, env(), io.Discard); err == nil {
		t.Error("arguments accepted")
	}
}
