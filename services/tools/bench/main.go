// Command bench measures the pipeline against the raw cost of the same work
// done by the underlying tools alone, in one run, and prints a table (also
// written as JSON). See docs/performance.md.
//
//	bench [-quick] [-out bench-results.json]
//
// It builds the real service binaries and runs them as child processes,
// each with its own database, stream, ports and folders, on the local
// PostgreSQL, NATS JetStream and an OpenSSH sshd it starts itself.
//
// Environment: BENCH_DATABASE_URL (default
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable; databases are
// created and dropped through it), BENCH_NATS_URL (default
// nats://127.0.0.1:4222), BENCH_BIN_DIR (prebuilt intake, batcher and
// reconciler binaries to measure instead of building the checkout).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if os.Getenv(rusageEnv) != "" {
		rusageHelper()
	}
	if os.Getenv(floorEnv) != "" {
		floorServer()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// plan is how much work each benchmark does.
type plan struct {
	Quick          bool          `json:"quick"`
	IntakeDuration time.Duration `json:"intake_duration_ns"`
	Concurrency    []int         `json:"concurrency"`
	IngestOrders   int           `json:"ingest_orders"`
	BatchSizes     []int         `json:"batch_sizes"`
	ReportDays     int           `json:"report_days"`
	ReportRuns     int           `json:"report_runs"`
}

func fullPlan() plan {
	return plan{IntakeDuration: 5 * time.Second, Concurrency: []int{1, 16, 64},
		IngestOrders: 20_000, BatchSizes: []int{10_000, 100_000, 1_000_000}, ReportDays: 3650, ReportRuns: 5}
}

func quickPlan() plan {
	return plan{Quick: true, IntakeDuration: time.Second, Concurrency: []int{1, 16, 64},
		IngestOrders: 2_000, BatchSizes: []int{10_000}, ReportDays: 3650, ReportRuns: 3}
}

// Results is what the bench writes as JSON.
type Results struct {
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	Machine  machine   `json:"machine"`
	Plan     plan      `json:"plan"`
	Figures  []Figure  `json:"figures"`
}

type machine struct {
	GOOS   string `json:"goos"`
	GOARCH string `json:"goarch"`
	CPUs   int    `json:"cpus"`
	Go     string `json:"go"`
}

// Figure is one measurement of ours beside its baseline.
type Figure struct {
	Group    string  `json:"group"`
	Name     string  `json:"name"`
	Unit     string  `json:"unit"`
	Ours     float64 `json:"ours"`
	Baseline float64 `json:"baseline"`
	// BaselineIs says what the baseline was.
	BaselineIs string `json:"baseline_is"`
	// Ratio is Ours / Baseline.
	Ratio float64 `json:"ratio"`
	// Target is the target for this figure, if it has one, and
	// Met whether this run met it.
	Target string `json:"target,omitempty"`
	Met    *bool  `json:"met,omitempty"`
}

func newFigure(group, name, unit string, ours, base float64, baseIs string) Figure {
	f := Figure{Group: group, Name: name, Unit: unit, Ours: ours, Baseline: base, BaselineIs: baseIs}
	if base != 0 {
		f.Ratio = ours / base
	}
	return f
}

func (f Figure) withTarget(target string, met bool) Figure {
	f.Target, f.Met = target, &met
	return f
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // the usage goes with -h to stdout, with an error into the error
	quick := fs.Bool("quick", false, "a short run: 1 s per intake level, 2,000 orders ingested, a 10,000-order batch only")
	out := fs.String("out", "bench-results.json", "file the results are written to as JSON")
	only := fs.String("only", "", "run only these benchmarks, comma-separated: intake, ingest, endofday, report")
	sizes := fs.String("sizes", "", "end-of-day batch sizes, comma-separated (default 10000,100000,1000000; -quick 10000)")
	logs := fs.String("logs", "", "keep the services' logs in this folder (default: discarded)")
	intakeFor := fs.Duration("intake-duration", 0, "how long each intake level runs (default 5s; -quick 1s)")
	httpClient := fs.String("http-client", "lean", "the intake load generator's HTTP client: lean (one connection per client, like wrk) or nethttp (Go's net/http client)")
	withFloor := fs.Bool("floor", false, "also measure the floor: a bare net/http server that only publishes with ack (floor.go)")
	profile := fs.String("profile", "", "write CPU profiles of the intake under load to this folder (intake-N.pprof, N clients)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usage(fs)) // and nothing else: no build, no server, no file
			return nil
		}
		return fmt.Errorf("%w\n\n%s", err, usage(fs))
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q: the bench takes flags only\n\n%s", fs.Arg(0), usage(fs))
	}
	p := fullPlan()
	if *quick {
		p = quickPlan()
	}
	if *httpClient != "lean" && *httpClient != "nethttp" {
		return fmt.Errorf("-http-client: %q is not lean or nethttp", *httpClient)
	}
	if *intakeFor > 0 {
		p.IntakeDuration = *intakeFor
	}
	if *sizes != "" {
		p.BatchSizes = nil
		for _, f := range strings.Split(*sizes, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n <= 0 {
				return fmt.Errorf("-sizes: %q is not a positive number", f)
			}
			p.BatchSizes = append(p.BatchSizes, n)
		}
	}
	orDefault := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	work, err := os.MkdirTemp("", "booklets-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	e := &env{
		bin:        work + "/bin",
		work:       work,
		adminURL:   orDefault("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"),
		natsURL:    orDefault("BENCH_NATS_URL", "nats://127.0.0.1:4222"),
		kek:        newKEK(),
		secret:     randomHex(32),
		log:        stdout,
		logs:       *logs,
		profile:    *profile,
		httpClient: *httpClient,
		floor:      *withFloor,
	}
	if e.logs != "" {
		if err := os.MkdirAll(e.logs, 0o755); err != nil {
			return err
		}
	}
	res := Results{Started: time.Now().UTC(), Plan: p,
		Machine: machine{GOOS: runtime.GOOS, GOARCH: runtime.GOARCH, CPUs: runtime.NumCPU(), Go: runtime.Version()}}

	if dir := getenv("BENCH_BIN_DIR"); dir != "" {
		e.bin = dir
	} else {
		e.progress("building the services")
		if err := build(ctx, e.bin); err != nil {
			return err
		}
	}
	e.pgpKey = work + "/partner.asc"
	if err := writePartnerKey(e.pgpKey); err != nil {
		return err
	}
	if e.sshd, err = startSSHD(work + "/sshd"); err != nil {
		return err
	}
	defer e.sshd.stop()

	benches := []struct {
		key, name string
		fn        func(context.Context, *env, plan) ([]Figure, error)
	}{
		{"intake", "intake", benchIntake},
		{"ingest", "batcher ingest", benchIngest},
		{"endofday", "end of day", benchEndOfDay},
		{"report", "reconciler report", benchReport},
	}
	selected := map[string]bool{}
	for _, k := range strings.Split(*only, ",") {
		if k = strings.TrimSpace(k); k != "" {
			selected[k] = true
		}
	}
	for _, bench := range benches {
		if len(selected) > 0 && !selected[bench.key] {
			continue
		}
		e.progress("%s", bench.name)
		figs, err := bench.fn(ctx, e, p)
		if err != nil {
			return fmt.Errorf("%s: %w", bench.name, err)
		}
		res.Figures = append(res.Figures, figs...)
	}
	res.Finished = time.Now().UTC()

	printTable(stdout, res)
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(*out, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	fmt.Fprintf(stdout, "results written to %s\n", *out)
	return nil
}

func usage(fs *flag.FlagSet) string {
	var b strings.Builder
	b.WriteString(`Usage: bench [flags]

Measures the pipeline against the raw cost of the same work done by the
underlying tools alone and prints a table, also written as JSON
(docs/performance.md). Environment: BENCH_DATABASE_URL, BENCH_NATS_URL,
BENCH_BIN_DIR.

Flags:
`)
	fs.SetOutput(&b)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
	return b.String()
}

func printTable(w io.Writer, r Results) {
	fmt.Fprintf(w, "\nbooklets bench, %s, %d CPUs, %s%s\n\n", r.Started.Format(time.RFC3339), r.Machine.CPUs, r.Machine.Go,
		map[bool]string{true: " (quick)", false: ""}[r.Plan.Quick])
	fmt.Fprintf(w, "%-18s %-34s %14s %14s %8s  %-28s %s\n", "group", "figure", "ours", "baseline", "ratio", "baseline is", "target")
	for _, f := range r.Figures {
		target := ""
		if f.Met != nil {
			target = f.Target + map[bool]string{true: ": met", false: ": MISSED"}[*f.Met]
		}
		fmt.Fprintf(w, "%-18s %-34s %14s %14s %8.2f  %-28s %s\n", f.Group, f.Name+" ("+f.Unit+")",
			num(f.Ours), num(f.Baseline), f.Ratio, f.BaselineIs, target)
	}
	fmt.Fprintln(w)
}

func num(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.3f", v)
	}
}
