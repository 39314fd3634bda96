package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

const chromiumPath = "/usr/bin/chromium"

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

// axeTags are the rule sets every page must pass: axe's default rules
// (which carry the best-practice tag or a WCAG tag) and WCAG 2.0, 2.1 and
// 2.2 A/AA explicitly (2.2 has AA rules only in axe).
var axeTags = []string{"wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"}

type axeViolation struct {
	ID     string   `json:"id"`
	Impact string   `json:"impact"`
	Help   string   `json:"help"`
	Nodes  []string `json:"nodes"`
}

// checkAccessibility injects axe-core through the DevTools protocol (which
// the page's Content-Security-Policy does not govern) and fails the test on
// any violation.
func checkAccessibility(t *testing.T, ctx context.Context, axeSource, page string) {
	t.Helper()
	tags, _ := json.Marshal(axeTags)
	script := axeSource + fmt.Sprintf(`;
(async () => {
  const r = await axe.run(document, {runOnly: {type: 'tag', values: %s}, resultTypes: ['violations']});
  return r.violations.map(v => ({id: v.id, impact: v.impact || '', help: v.help, nodes: v.nodes.map(n => n.target.join(' '))}));
})()`, tags)
	// axe needs timers and promises, which do not run while scripts are
	// disabled. Enabling them does not run the page's own scripts, which
	// were skipped when it loaded: the page stays as a no-JavaScript user
	// sees it.
	violations, err := chromedp.Run(ctx, func(ctx context.Context, tg *chromedp.Target) ([]axeViolation, error) {
		if err := setScripts(ctx, tg, true); err != nil {
			return nil, err
		}
		v, err := chromedp.Evaluate[[]axeViolation](script, chromedp.EvalAwaitPromise)(ctx, tg)
		if err != nil {
			return nil, err
		}
		return v, setScripts(ctx, tg, false)
	})
	if err != nil {
		t.Fatalf("%s: run axe: %v", page, err)
	}
	for _, v := range violations {
		t.Errorf("%s: accessibility violation %s (%s): %s at %v", page, v.ID, v.Impact, v.Help, v.Nodes)
	}
}

// setScripts turns the page's JavaScript on or off.
func setScripts(ctx context.Context, tg *chromedp.Target, on bool) error {
	_, err := cdp.Call(ctx, tg, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: !on})
	return err
}
