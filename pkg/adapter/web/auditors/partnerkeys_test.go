package auditors_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"booklets/pkg/adapter/postgres"
	"booklets/pkg/adapter/web/auditors"
	"booklets/pkg/testkit/testenv"
)

// The page shows the partner's pinned keys: fingerprint, expiry and
// whether files are encrypted to each (in use, expiring within 30 days,
// or not used and why); without a key source, no such section.
func TestPageShowsPartnerKeys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := testenv.Database(t)
	now := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	st, err := postgres.OpenOrders(ctx, url, func() time.Time { return now })
	testenv.Must(t, err)
	t.Cleanup(st.Close)
	testenv.Must(t, st.Migrate(ctx))

	page := func(keys func() []auditors.PartnerKey) string {
		srv, err := auditors.New(postgres.NewLedger(st.Pool()), auditors.Auth{Token: token}, func() time.Time { return now }, zerolog.Nop(), nil)
		testenv.Must(t, err)
		srv.PartnerKeys = keys
		mux := http.NewServeMux()
		srv.Register(mux)
		req := httptest.NewRequest("GET", "/audit", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		body, _ := io.ReadAll(rec.Body)
		if rec.Code != http.StatusOK {
			t.Fatalf("status %d: %s", rec.Code, body)
		}
		return string(body)
	}

	body := page(func() []auditors.PartnerKey {
		return []auditors.PartnerKey{
			{Fingerprint: "AAAA1111", Expires: now.Add(10 * 24 * time.Hour), Usable: true},
			{Fingerprint: "BBBB2222", Usable: true},
			{Fingerprint: "CCCC3333", Expires: now.Add(-time.Hour), Problem: "expired on 2026-11-30 09:00 UTC"},
		}
	})
	for _, want := range []string{
		`id="partner-keys"`,
		`(?s)data-fingerprint="AAAA1111".*?data-expires="2026-12-10">10 Dec 2026 10:00 UTC</dd>.*?data-key-status="expires-soon"><strong class="govuk-tag govuk-tag--yellow">Expires within 30 days</strong>`,
		`(?s)data-fingerprint="BBBB2222".*?data-expires="never">Never</dd>.*?data-key-status="in-use"><strong class="govuk-tag govuk-tag--green">In use</strong>`,
		`(?s)data-fingerprint="CCCC3333".*?data-key-status="unusable"><strong class="govuk-tag govuk-tag--red">Not used</strong> expired on 2026-11-30 09:00 UTC`,
	} {
		if !regexp.MustCompile(want).MatchString(body) {
			t.Errorf("page lacks %s:\n%s", want, body)
		}
	}
	if body := page(nil); regexp.MustCompile(`partner-keys`).MatchString(body) {
		t.Error("the partner keys section is shown without a key source")
	}
}
