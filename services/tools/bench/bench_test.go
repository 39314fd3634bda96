package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// TestMain lets the test binary act as the bench's rusage helper, as the
// bench binary does (see rusage.go).
func TestMain(m *testing.M) {
	if os.Getenv(rusageEnv) != "" {
		rusageHelper()
	}
	os.Exit(m.Run())
}

// TestQuickRun runs `bench -quick` end to end, so that the benchmark
// cannot rot. It checks that every figure was produced, not how fast
// anything was: timings belong to the benchmark, not to a pass or fail.
func TestQuickRun(t *testing.T) {
	out := filepath.Join(t.TempDir(), "bench.json")
	var log bytes.Buffer
	if err := run(context.Background(), []string{"-quick", "-out", out}, os.Getenv, &log); err != nil {
		t.Fatalf("bench -quick: %v\n%s", err, log.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var res Results
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatalf("results are not JSON: %v", err)
	}
	// 3 intake levels x 3, ingest, end of day 10k x 3, the report.
	if len(res.Figures) != 14 {
		t.Errorf("%d figures, want 14:\n%s", len(res.Figures), b)
	}
	groups := map[string]bool{}
	for _, f := range res.Figures {
		groups[f.Group] = true
		if !(f.Ours > 0) || !(f.Baseline > 0) || !(f.Ratio > 0) {
			t.Errorf("%s %s: ours %v, baseline %v, ratio %v; want all positive", f.Group, f.Name, f.Ours, f.Baseline, f.Ratio)
		}
		if f.Unit == "" || f.BaselineIs == "" {
			t.Errorf("%s %s: unit or baseline description missing", f.Group, f.Name)
		}
	}
	for _, g := range []string{"intake 1 client", "intake 16 clients", "intake 64 clients", "batcher ingest", "end of day 10k", "reconciler report"} {
		if !groups[g] {
			t.Errorf("no figures for %q", g)
		}
	}
	if !bytes.Contains(log.Bytes(), []byte("throughput")) {
		t.Errorf("no table printed:\n%s", log.String())
	}
}
