package auditors_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"booklets/pkg/adapter/web/govuk"
)

const chromiumPath = "/usr/bin/chromium"

// axeTags are the rule sets the pages must pass: axe's default rules and
// WCAG 2.0, 2.1 A/AA and 2.2 AA, as the public form's browser test runs them.
var axeTags = []string{"wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"}

// repoRoot finds the module root, where node_modules lives.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

type axeViolation struct {
	ID     string   `json:"id"`
	Impact string   `json:"impact"`
	Help   string   `json:"help"`
	Nodes  []string `json:"nodes"`
}

// Issue 15: the auditors' pages in a real browser, with GOV.UK Frontend's
// styles, at a desktop width and a phone's 375 pixels: axe finds nothing,
// and at 375 the page is no wider than the screen (the table scrolls in its
// own region).
func TestAuditPagesInABrowser(t *testing.T) {
	t.Parallel()
	axeSource, err := os.ReadFile(filepath.Join(repoRoot(t), "node_modules", "axe-core", "axe.min.js"))
	if err != nil {
		t.Fatalf("axe-core is missing (%v): run `npm ci` at the repository root", err)
	}
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("chromium is missing at %s (%v): install it with `apt-get install chromium`", chromiumPath, err)
	}
	e := newPageEnvWithAssets(t, govuk.Assets())
	srv := httptest.NewServer(e.mux)
	t.Cleanup(srv.Close)

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.UserDataDir(t.TempDir()))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()
	// The first Do starts the browser; it must not have a timeout of its
	// own. The bearer token goes with every request, as an auditor's
	// tooling would send it.
	signIn := chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if _, err := cdp.Call(ctx, tg, network.Enable, network.EnableParams{}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, tg, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Authorization": "Bearer " + token}})
		return err
	})
	if err := chromedp.Do(browserCtx, signIn); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	ctx, cancel := context.WithTimeout(browserCtx, 120*time.Second)
	defer cancel()

	tags, _ := json.Marshal(axeTags)
	script := string(axeSource) + fmt.Sprintf(`;
(async () => {
  const r = await axe.run(document, {runOnly: {type: 'tag', values: %s}, resultTypes: ['violations']});
  return r.violations.map(v => ({id: v.id, impact: v.impact || '', help: v.help, nodes: v.nodes.map(n => n.target.join(' '))}));
})()`, tags)

	pages := []string{"/audit", "/audit?from=31/03/2026", "/audit?q=" + e.ref.String(), "/audit/batches/" + e.ids["full"], "/audit/batches/" + e.ids["other"]}
	for _, width := range []int64{1280, 375} {
		must(t, "set width", chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{Width: width, Height: 800, DeviceScaleFactor: 1, Mobile: width < 600})
			return err
		})))
		for _, p := range pages {
			name := fmt.Sprintf("%s at %dpx", p, width)
			resp, err := chromedp.RunResponse(ctx, chromedp.Navigate(srv.URL+p))
			must(t, "open "+name, err)
			if want := int64(http.StatusOK); p == "/audit?from=31/03/2026" {
				if resp.Status != http.StatusBadRequest {
					t.Errorf("%s: status %d, want 400", name, resp.Status)
				}
			} else if resp.Status != want {
				t.Fatalf("%s: status %d", name, resp.Status)
			}
			styled, err := chromedp.Run(ctx, chromedp.Evaluate[string](`getComputedStyle(document.body).fontFamily`))
			must(t, "read style of "+name, err)
			if styled == "" || styled == "Times New Roman" {
				t.Fatalf("%s: GOV.UK Frontend's stylesheet did not load (font %q)", name, styled)
			}
			if width == 375 {
				sizes, err := chromedp.Run(ctx, chromedp.Evaluate[[]int](`[document.documentElement.scrollWidth, document.documentElement.clientWidth]`))
				must(t, "measure "+name, err)
				if sizes[0] > sizes[1] {
					t.Errorf("%s: the page is %d pixels wide on a %d-pixel screen", name, sizes[0], sizes[1])
				}
			}
			violations, err := chromedp.Run(ctx, chromedp.Evaluate[[]axeViolation](script, chromedp.EvalAwaitPromise))
			must(t, "run axe on "+name, err)
			for _, v := range violations {
				t.Errorf("%s: accessibility violation %s (%s): %s at %v", name, v.ID, v.Impact, v.Help, v.Nodes)
			}
		}
	}
}

func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}
