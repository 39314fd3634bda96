package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	natsjs "github.com/nats-io/nats.go/jetstream"

	"booklets/pkg/adapter/jetstream"
	"booklets/pkg/domain/catalogue"
)

// intake is a running intake service with a stream of its own.
type intake struct {
	child  *child
	url    string // http://host:port
	stream jetstream.Config
	client *http.Client
	bodies [][]byte
	pprof  string // the intake's PPROF_ADDR, with -profile
}

func (e *env) streamConfig(prefix string) jetstream.Config {
	name := strings.ToUpper("BENCH_" + prefix + "_" + randomHex(4))
	c := jetstream.DefaultConfig()
	c.Stream = name
	c.Subject = "booklets.bench." + strings.ToLower(name)
	return c
}

// startIntake boots the intake binary on a free port with its own stream
// and database, and the rate limit raised out of the way: the bench is one
// client IP sending thousands of orders a second.
func (e *env) startIntake(ctx context.Context, sc jetstream.Config, dbURL string) (*intake, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	vars := map[string]string{
		"HTTP_ADDR":             addr,
		"NATS_STREAM":           sc.Stream,
		"NATS_SUBJECT":          sc.Subject,
		"DATABASE_URL":          dbURL,
		"INTAKE_SECRET":         e.secret,
		"RATE_LIMIT_PER_MINUTE": "100000000",
		"RATE_LIMIT_BURST":      "1000000",
	}
	var pprofAddr string
	if e.profile != "" {
		if pprofAddr, err = freeAddr(); err != nil {
			return nil, err
		}
		vars["PPROF_ADDR"] = pprofAddr
	}
	c, err := e.start("intake", e.baseEnv(vars))
	if err != nil {
		return nil, err
	}
	in := &intake{child: c, url: "http://" + addr, stream: sc, pprof: pprofAddr,
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
			MaxIdleConns: 256, MaxIdleConnsPerHost: 256, IdleConnTimeout: time.Minute, DisableCompression: true,
		}}}
	if err := waitReady(ctx, c, in.url+"/readyz", 30*time.Second); err != nil {
		in.stop()
		return nil, fmt.Errorf("%w\n%s", err, e.logTail(c))
	}
	in.bodies = orderBodies(64)
	return in, nil
}

func (in *intake) stop() { in.child.stop() }

// orderBodies makes made-up but valid API requests over every area, of
// typical length.
func orderBodies(n int) [][]byte {
	areas := catalogue.Default().Areas
	postcodes := []string{"ST18 0YY", "CT1 1AA", "SW1A 1AA", "M1 1AE", "B33 8TH", "CR2 6XH", "DN55 1PT", "LS1 4AP"}
	formats := []string{`["standard-print"]`, `["large-print","audio"]`, `["easy-read"]`, `["braille"]`}
	out := make([][]byte, n)
	for i := range out {
		out[i] = fmt.Appendf(nil, `{"area":%q,"formats":%s,"name":"Bench Person %d","address_line_1":"%d High Street","address_line_2":"Flat %d","town":"Stafford","postcode":%q}`,
			areas[i%len(areas)].Code, formats[i%len(formats)], i, i+1, i%7+1, postcodes[i%len(postcodes)])
	}
	return out
}

// post sends one order and fails on anything but 201 Created.
func (in *intake) post(ctx context.Context, i int) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, in.url+"/api/v1/orders",
		bytes.NewReader(in.bodies[i%len(in.bodies)]))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := in.client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("POST /api/v1/orders: %s", resp.Status)
	}
	return nil
}

// loadResult is the outcome of a fixed-duration closed-loop load.
type loadResult struct {
	ops     int
	elapsed time.Duration
	lat     []time.Duration // sorted
}

func (r loadResult) rate() float64 { return float64(r.ops) / r.elapsed.Seconds() }

func (r loadResult) pct(p float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	i := int(float64(len(r.lat)-1) * p)
	return r.lat[i]
}

// load runs op from conc workers, each one after another, for d, and
// records every call's latency. Any failed call fails the run: a figure
// made of errors is no figure.
func load(ctx context.Context, conc int, d time.Duration, op func(ctx context.Context, i int) error) (loadResult, error) {
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		all     []time.Duration
		first   error
		counter int
	)
	start := time.Now()
	deadline := start.Add(d)
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			lat := make([]time.Duration, 0, 4096)
			var err error
			for i := w; time.Now().Before(deadline) && ctx.Err() == nil; i += conc {
				t := time.Now()
				if err = op(ctx, i); err != nil {
					break
				}
				lat = append(lat, time.Since(t))
			}
			mu.Lock()
			all = append(all, lat...)
			counter += len(lat)
			if err != nil && first == nil {
				first = err
			}
			mu.Unlock()
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start)
	if first != nil {
		return loadResult{}, first
	}
	if err := ctx.Err(); err != nil {
		return loadResult{}, err
	}
	slices.Sort(all)
	return loadResult{ops: counter, elapsed: elapsed, lat: all}, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func benchIntake(ctx context.Context, e *env, p plan) ([]Figure, error) {
	sc := e.streamConfig("intake")
	dbURL, drop, err := e.database(ctx)
	if err != nil {
		return nil, err
	}
	defer drop()
	in, err := e.startIntake(ctx, sc, dbURL)
	if err != nil {
		return nil, err
	}
	defer in.stop()
	nc, err := jetstream.Connect(e.natsURL, "bench")
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	js, err := natsjs.New(nc)
	if err != nil {
		return nil, err
	}
	defer func() {
		_ = js.DeleteStream(context.Background(), sc.Stream)
	}()

	// Warm up the connections and the intake's caches (day key, say).
	if _, err := load(ctx, 4, 300*time.Millisecond, in.post); err != nil {
		return nil, fmt.Errorf("warm-up: %w\n%s", err, e.logTail(in.child))
	}
	// The baseline publishes exactly what the intake published, so the
	// message size and format are the current ones whatever they become.
	s, err := js.Stream(ctx, sc.Stream)
	if err != nil {
		return nil, err
	}
	last, err := s.GetLastMsgForSubject(ctx, sc.Subject)
	if err != nil {
		return nil, fmt.Errorf("read back an order message: %w", err)
	}
	msg := last.Data

	base := e.streamConfig("rawjs")
	raw, err := jetstream.New(nc, base)
	if err != nil {
		return nil, err
	}
	if err := raw.Ensure(ctx); err != nil {
		return nil, err
	}
	defer func() {
		_ = js.DeleteStream(context.Background(), base.Stream)
	}()
	publish := func(ctx context.Context, i int) error {
		_, err := js.Publish(ctx, base.Subject, msg,
			natsjs.WithMsgID(randomHex(16)), natsjs.WithExpectStream(base.Stream))
		return err
	}
	if _, err := load(ctx, 4, 300*time.Millisecond, publish); err != nil {
		return nil, fmt.Errorf("warm-up raw publish: %w", err)
	}

	var fl *floor
	if e.floor {
		fs := e.streamConfig("floor")
		fsr, err := jetstream.New(nc, fs)
		if err != nil {
			return nil, err
		}
		if err := fsr.Ensure(ctx); err != nil {
			return nil, err
		}
		defer func() {
			_ = js.DeleteStream(context.Background(), fs.Stream)
		}()
		if fl, err = e.startFloor(ctx, fs, msg); err != nil {
			return nil, err
		}
		defer fl.stop()
	}
	var figs []Figure
	const baseIs = "nats.go js.Publish + ack"
	natsPID := natsServerPID()
	for _, c := range p.Concurrency {
		// The contenders take turns, a slice of the duration each, so that
		// what else runs on the machine weighs on all of them alike.
		contenders := []*contender{{name: "ours", op: in.post, pid: in.child.cmd.Process.Pid}, {name: "raw", op: publish}}
		if e.httpClient == "lean" {
			lc := newLeanClient(strings.TrimPrefix(in.url, "http://"), in.bodies, c)
			defer lc.close()
			contenders[0].op = lc.post
		}
		if fl != nil {
			lc := newLeanClient(fl.addr, in.bodies, c)
			defer lc.close()
			contenders = append(contenders, &contender{name: "floor", op: lc.post, pid: fl.cmd.Process.Pid})
		}
		profiled := make(chan error, 1)
		if in.pprof != "" {
			// Beside the intake's slices (and idle through the others').
			go func() {
				profiled <- profileIntake(ctx, in.pprof, p.IntakeDuration*time.Duration(len(contenders)),
					filepath.Join(e.profile, fmt.Sprintf("intake-%d.pprof", c)))
			}()
		} else {
			profiled <- nil
		}
		turns := max(1, int(p.IntakeDuration/time.Second))
		for range turns {
			for _, k := range contenders {
				if err := k.run(ctx, c, p.IntakeDuration/time.Duration(turns), natsPID); err != nil {
					return nil, fmt.Errorf("%s, %d clients: %w\n%s", k.name, c, err, e.logTail(in.child))
				}
			}
		}
		if err := <-profiled; err != nil {
			return nil, err
		}
		ours, rawr := contenders[0].result(), contenders[1].result()
		e.progress("intake %d clients: %.0f orders/s (raw %.0f/s), p50 %.2f ms, p99 %.2f ms; %d-byte messages; %s HTTP client",
			c, ours.rate(), rawr.rate(), ms(ours.pct(0.5)), ms(ours.pct(0.99)), len(msg), e.httpClient)
		e.progress("  ours:  %s", contenders[0].cpu("intake"))
		e.progress("  raw:   %s", contenders[1].cpu(""))
		if fl != nil {
			flr := contenders[2].result()
			e.progress("  floor: %.0f orders/s (%.2f x raw), p50 %.2f ms, p99 %.2f ms; %s", flr.rate(), flr.rate()/rawr.rate(),
				ms(flr.pct(0.5)), ms(flr.pct(0.99)), contenders[2].cpu("floor server"))
		}
		group := fmt.Sprintf("intake %d client", c)
		if c > 1 {
			group += "s"
		}
		thr := newFigure(group, "throughput", "orders/s", ours.rate(), rawr.rate(), baseIs)
		thr = thr.withTarget(">= 0.5 x raw", thr.Ratio >= 0.5)
		p99 := newFigure(group, "p99 latency", "ms", ms(ours.pct(0.99)), ms(rawr.pct(0.99)), baseIs)
		if c == 16 {
			p99 = p99.withTarget("< 50 ms", p99.Ours < 50)
		}
		figs = append(figs, thr,
			newFigure(group, "p50 latency", "ms", ms(ours.pct(0.5)), ms(rawr.pct(0.5)), baseIs), p99)
	}
	return figs, nil
}

// contender is one side of an intake comparison, run in slices.
type contender struct {
	name string
	op   func(context.Context, int) error
	pid  int // its server process, if any, for the CPU split
	ops  int
	d    time.Duration
	lat  []time.Duration
	cpu0 cpuSample // CPU used over its slices, summed
	cpuN cpuSample
}

func (k *contender) run(ctx context.Context, conc int, d time.Duration, natsPID int) error {
	a := sampleCPU(k.pid, natsPID)
	r, err := load(ctx, conc, d, k.op)
	if err != nil {
		return err
	}
	b := sampleCPU(k.pid, natsPID)
	k.ops += r.ops
	k.d += r.elapsed
	k.lat = append(k.lat, r.lat...)
	k.cpuN = cpuSample{intake: k.cpuN.intake + b.intake - a.intake, bench: k.cpuN.bench + b.bench - a.bench,
		nats: k.cpuN.nats + b.nats - a.nats, busy: k.cpuN.busy + b.busy - a.busy, total: k.cpuN.total + b.total - a.total}
	return nil
}

func (k *contender) result() loadResult {
	slices.Sort(k.lat)
	return loadResult{ops: k.ops, elapsed: k.d, lat: k.lat}
}

func (k *contender) cpu(server string) string { return cpuSplit(server, k.cpu0, k.cpuN, k.ops) }

// ownStream creates a stream of the bench's own (streamConfig) and returns
// it with a function that deletes it. A benchmark that runs the batcher
// needs one even if it publishes nothing: the batcher waits for its
// consumer to catch up before assembling a batch, and a fresh NATS server
// has no stream under the default name.
func (e *env) ownStream(ctx context.Context, prefix string) (jetstream.Config, func(), error) {
	sc := e.streamConfig(prefix)
	nc, err := jetstream.Connect(e.natsURL, "bench")
	if err != nil {
		return jetstream.Config{}, nil, err
	}
	s, err := jetstream.New(nc, sc)
	if err == nil {
		err = s.Ensure(ctx)
	}
	if err != nil {
		nc.Close()
		return jetstream.Config{}, nil, fmt.Errorf("create stream %s: %w", sc.Stream, err)
	}
	remove := func() {
		if js, err := natsjs.New(nc); err == nil {
			_ = js.DeleteStream(context.Background(), sc.Stream)
		}
		nc.Close()
	}
	return sc, remove, nil
}
