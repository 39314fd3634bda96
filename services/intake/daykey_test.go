package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"

	"booklets/migrations"
	"booklets/pkg/adapter/postgres"
	"booklets/pkg/domain/businessday"
	"booklets/pkg/domain/seal"
	"booklets/pkg/testkit/eventually"
	"booklets/pkg/testkit/testenv"
)

// TestDayKeyUnderAnotherKEK: today's key is wrapped under KEK "a" and the
// intake is given only KEK "b". It must say so at once: /readyz fails with
// the reason, the log names the missing KEK, the alert gauge is 1; and an
// order is refused without the promise that a retry in a few minutes will
// work. Nothing is published.
func TestDayKeyUnderAnotherKEK(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dbURL := testenv.Database(t)
	kekA, kekB := newKEK("a"), newKEK("b")

	// Today's key, made by an intake that had KEK "a".
	conn, err := pgx.Connect(ctx, dbURL)
	testenv.Must(t, err)
	testenv.Must(t, migrations.Apply(ctx, conn))
	conn.Close(ctx)
	pool, err := pgxpool.New(ctx, dbURL)
	testenv.Must(t, err)
	defer pool.Close()
	ringA, err := seal.ParseRing(kekA)
	testenv.Must(t, err)
	today := businessday.DefaultCutoff.DateOf(time.Now())
	if _, err := postgres.NewDayKeys(pool, ringA).GetOrCreate(ctx, today); err != nil {
		t.Fatal(err)
	}
	// Near midnight the intake may already be on the next day: make that
	// day's key under "a" too.
	if _, err := postgres.NewDayKeys(pool, ringA).GetOrCreate(ctx, businessday.DefaultCutoff.DateOf(time.Now().Add(time.Hour))); err != nil {
		t.Fatal(err)
	}

	sc := testenv.Stream(t)
	deleteIdempotencyBucket(t, sc)
	env := map[string]string{
		"KEK": kekB, "HTTP_ADDR": "127.0.0.1:0", "NATS_URL": testenv.NATSURL(), "NATS_STREAM": sc.Stream,
		"NATS_SUBJECT": sc.Subject, "DATABASE_URL": dbURL, "INTAKE_SECRET": strings.Repeat("ab", 32),
	}
	cfg, err := readConfig(func(k string) string { return env[k] })
	testenv.Must(t, err)
	var logs testenv.Buffer
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := serve(ctx, cfg, zerolog.New(&logs), pw)
		pw.CloseWithError(io.EOF)
		done <- err
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	line, err := bufio.NewReader(pr).ReadString('\n')
	testenv.Must(t, err)
	go io.Copy(io.Discard, pr)
	base := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(line), "Order form: "), "/")

	// /readyz fails, and says why, once the stream and the schema are there.
	var reason string
	green := false
	eventually.Within(t, 30*time.Second, "/readyz gives the day key as the reason", func(context.Context) error {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			green = true
			return nil // fails below: polling on would hide it
		}
		if reason = string(b); !strings.Contains(reason, "day key") {
			return fmt.Errorf("reason %q", reason)
		}
		return nil
	})
	if green {
		t.Fatal("/readyz is green with a day key no configured KEK can unwrap")
	}
	if !strings.Contains(reason, "key-encryption key that is not configured") {
		t.Errorf("/readyz reason: %q", reason)
	}

	// The order is refused; the public are not told to try again soon.
	body := `{"area":"staffordshire","formats":["audio"],"name":"Ann Lee","address_line_1":"1 High St","town":"Stafford","postcode":"ST18 0YY"}`
	resp, err := http.Post(base+"/api/v1/orders", "application/json", strings.NewReader(body))
	testenv.Must(t, err)
	var p struct{ Type, Detail string }
	json.NewDecoder(resp.Body).Decode(&p)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || p.Type != "urn:booklets:problem:out-of-service" ||
		resp.Header.Get("Retry-After") != "" || strings.Contains(p.Detail, "few minutes") {
		t.Errorf("order: %d, Retry-After %q, problem %+v", resp.StatusCode, resp.Header.Get("Retry-After"), p)
	}
	// The form's page offers no "Try again" either.
	page := postFormJourney(t, base)
	if strings.Contains(page, "Try again") || strings.Contains(page, "few minutes") || !strings.Contains(page, "fault") {
		t.Errorf("form's answer:\n%s", page)
	}

	// The log names the KEK that is missing, with the alert; never the key.
	l := logs.String()
	if !strings.Contains(l, `"alert":"day_key_unavailable"`) || !strings.Contains(l, `"missing_kek_id":"a"`) {
		t.Errorf("the log does not name the missing KEK:\n%s", l)
	}
	for _, secret := range []string{kekA[2:], kekB[2:], "Ann Lee"} {
		if strings.Contains(l, secret) {
			t.Errorf("the log holds a key or personal data")
		}
	}
	fams := testenv.Scrape(t, base+"/metrics")
	if v, ok := testenv.Value(fams, "booklets_intake_day_key_unavailable", "", ""); !ok || v != 1 {
		t.Errorf("booklets_intake_day_key_unavailable = %v (present %v), want 1", v, ok)
	}
	if v, _ := testenv.Value(fams, "booklets_intake_orders_rejected_total", "reason", "unavailable"); v == 0 {
		t.Errorf("the refused orders are not counted as unavailable")
	}
	if n := len(storedOrders(t, testIntake{Config: sc, DatabaseURL: dbURL, KEK: kekA})); n != 0 {
		t.Errorf("stream holds %d orders", n)
	}
}

// postFormJourney answers the form's questions and sends the order as a
// browser would (its cookies kept, each redirect followed), returning the
// last page.
func postFormJourney(t *testing.T, base string) string {
	t.Helper()
	jar, err := cookiejar.New(nil)
	testenv.Must(t, err)
	client := &http.Client{Jar: jar}
	post := func(path string, form url.Values) string {
		req, _ := http.NewRequest("POST", base+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		resp, err := client.Do(req)
		testenv.Must(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	post("/order/postcode", url.Values{"postcode": {"ST18 0YY"}})
	post("/order/booklet", url.Values{"area": {"staffordshire"}, "formats": {"audio"}})
	if p := post("/order/address", url.Values{"name": {"Ann Lee"}, "address_line_1": {"1 High St"},
		"town": {"Stafford"}, "postcode": {"ST18 0YY"}}); !strings.Contains(p, "Check your answers") {
		t.Fatalf("the form did not reach Check your answers:\n%s", p)
	}
	return post("/order/check", nil)
}
