package main

import (
	"bytes"
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
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats-server/v2/server"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"booklets/pkg/adapter/jetstream"
	"booklets/pkg/domain/businessday"
	"booklets/pkg/testkit/eventually"
	"booklets/pkg/testkit/partnersim"
	"booklets/pkg/testkit/testenv"
)

// The "prove the clustered deployment", at the level of the
// processes: three NATS servers on loopback form one JetStream cluster
// (the nats-server module, in this process, each with its own folder), the
// orders stream has three replicas (NATS_REPLICAS=3), two built intakes
// share INTAKE_SECRET and the built batcher stores into PostgreSQL. Under
// a bounded load (clusterWorkers clients, each placing one keyed order at
// a time) the stream's leader is shut down, and brought back once the two
// survivors have taken orders. A request that fails is retried with the
// same Idempotency-Key and body on the other intake until it is accepted,
// and every fourth accepted order is sent again to the other intake. Then:
// every key has exactly one reference, every reference is stored exactly
// once, nothing else is stored and nothing is dead-lettered.
func TestClusteredDeploymentLosesAndDoublesNothing(t *testing.T) {
	t.Parallel()
	const (
		clusterWorkers = 6
		// Accepted orders before the leader is stopped, between stopping
		// and restarting it, and after it is back.
		before, during, after = 40, 60, 40
		maxOrders             = 2000 // the bound of the load, whatever happens
	)
	bin := buildIntakeAndBatcher(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	cluster := startNATSCluster(t)
	natsURL := cluster.urls()

	// The batcher needs a partner to start; nothing is sent in this test
	// (the cut-off is half a day away).
	sim, err := partnersim.Start(partnersim.Config{Addr: "127.0.0.1:0", Dir: t.TempDir(), NoClerk: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	cutoff := time.Now().Add(12 * time.Hour).In(businessday.London()).Format("15:04")

	dbURL := testenv.Database(t)
	streamName := strings.ToUpper(testenv.Name("ORDERS_CLUSTER"))
	consumer := testenv.Name("batcher")
	kek := make([]byte, 32)
	rand.Read(kek)
	secret := make([]byte, 32)
	rand.Read(secret)
	common := map[string]string{
		"PATH": os.Getenv("PATH"), "HOME": os.Getenv("HOME"), "TMPDIR": os.TempDir(),
		"DATABASE_URL": dbURL, "MIGRATE": "false",
		"NATS_URL": natsURL, "NATS_STREAM": streamName, "NATS_SUBJECT": "booklets.test." + strings.ToLower(streamName),
		"NATS_REPLICAS": "3", "NATS_CONSUMER": consumer,
		"KEK":          "cluster1:" + base64.StdEncoding.EncodeToString(kek),
		"BATCH_CUTOFF": cutoff, "LOG_FORMAT": "json", "LOG_LEVEL": "info", "SHUTDOWN_TIMEOUT": "10s",
		// The load comes from one address: no rate limit in the way.
		"RATE_LIMIT_PER_MINUTE": "1000000", "RATE_LIMIT_BURST": "100000",
		"INTAKE_SECRET": hex.EncodeToString(secret), // the same on both intakes
	}
	for k, v := range sim.Env() {
		common[k] = v
	}
	pgpKey, err := partnerPGPKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	common["PARTNER_PGP_KEY_FILE"] = pgpKey
	logs := t.TempDir()
	env := func(addr string) []string {
		out := []string{"HTTP_ADDR=" + addr}
		for k, v := range common {
			out = append(out, k+"="+v)
		}
		return out
	}

	// Migrations once, as in production, before the services (MIGRATE=false).
	migrate := exec.CommandContext(ctx, filepath.Join(bin, "batcher"), "migrate")
	migrate.Env = env("127.0.0.1:0")
	if out, err := migrate.CombinedOutput(); err != nil {
		t.Fatalf("batcher migrate: %v\n%s", err, out)
	}

	type service struct {
		name, addr string
		p          *proc
	}
	var services []*service
	start := func(name, binary string) *service {
		t.Helper()
		s := &service{name: name, addr: "127.0.0.1:" + strconv.Itoa(freePort(t))}
		logFile := filepath.Join(logs, name+".log")
		s.p = startProc(t, filepath.Join(bin, binary), env(s.addr), logFile, s.addr)
		t.Cleanup(func() {
			if t.Failed() {
				b, _ := os.ReadFile(logFile)
				t.Logf("%s output:\n%s", name, tail(b, 40))
			}
		})
		services = append(services, s)
		return s
	}
	intakes := []*service{start("intake-1", "intake"), start("intake-2", "intake")}
	for _, in := range intakes {
		waitReady(ctx, t, "http://"+in.addr+"/readyz")
	}
	cluster.waitReplicated(ctx, t, streamName)
	// The batcher ensures the stream too, when it starts (before it
	// answers /healthz): with the same NATS_REPLICAS it must leave the
	// stream replicated three times, as a rolling restart of the batcher
	// would otherwise quietly make it a stream on one server.
	start("batcher", "batcher")
	if info := cluster.settled(ctx, t, streamName); info.Config.Replicas != 3 {
		t.Fatalf("stream %s has %d replicas once the batcher started, want 3", streamName, info.Config.Replicas)
	}
	cluster.waitReplicated(ctx, t, streamName)

	// The load: each worker places one keyed order at a time.
	var (
		mu       sync.Mutex
		refByKey = map[string]string{}
		accepted atomic.Int64
		retried  atomic.Int64 // requests answered "unavailable" or cut off, then sent again
		next     atomic.Int64
		stop     atomic.Bool
		wg       sync.WaitGroup
	)
	client := &http.Client{Timeout: 20 * time.Second}
	runID := testenv.Name("cluster")
	for w := 0; w < clusterWorkers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() && ctx.Err() == nil {
				n := int(next.Add(1))
				if n > maxOrders {
					return
				}
				key := fmt.Sprintf("%s-%d", runID, n)
				body := fmt.Sprintf(`{"area":"staffordshire","formats":["audio"],"name":"Ann Lee","address_line_1":"%d High St","town":"Stafford","postcode":"ST18 0YY"}`, n)
				ref, err := placeUntilAccepted(ctx, client, intakes[n%2].addr, intakes[(n+1)%2].addr, key, body, &retried)
				if err != nil {
					t.Errorf("order %d: %v", n, err)
					return
				}
				mu.Lock()
				refByKey[key] = ref
				mu.Unlock()
				accepted.Add(1)
				if n%4 != 0 {
					continue
				}
				// The same keyed request again, on the other intake: the
				// same order, not a second one.
				again, err := placeUntilAccepted(ctx, client, intakes[(n+1)%2].addr, intakes[n%2].addr, key, body, &retried)
				if err != nil {
					t.Errorf("order %d sent again: %v", n, err)
					return
				}
				if again != ref {
					t.Errorf("order %d sent again to the other intake: reference %s, first %s", n, again, ref)
				}
			}
		}()
	}
	waitAccepted := func(n int64, what string) {
		t.Helper()
		for accepted.Load() < n {
			if ctx.Err() != nil || t.Failed() {
				stop.Store(true)
				wg.Wait()
				t.Fatalf("%s: %d orders accepted, want %d", what, accepted.Load(), n)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	waitAccepted(before, "before stopping the stream leader")
	leader := cluster.streamInfo(ctx, t, streamName).Cluster.Leader
	stopped := cluster.stop(t, leader)
	t.Logf("stopped the stream leader %s after %d orders", leader, accepted.Load())
	waitAccepted(before+during, "with the stream leader stopped")
	if now := cluster.streamInfo(ctx, t, streamName).Cluster.Leader; now == leader || now == "" {
		t.Fatalf("the stream's leader is %q after %s stopped", now, leader)
	}
	cluster.restart(t, stopped)
	t.Logf("restarted %s after %d orders", leader, accepted.Load())
	cluster.waitCurrent(ctx, t, streamName, leader)
	waitAccepted(before+during+after, "after the node came back")
	stop.Store(true)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	// Everything accepted reaches PostgreSQL once the batcher has consumed
	// the stream.
	refs := make([]string, 0, len(refByKey))
	keyByRef := map[string]string{}
	for k, r := range refByKey {
		if other, ok := keyByRef[r]; ok {
			t.Errorf("keys %s and %s were given the same reference %s", other, k, r)
		}
		keyByRef[r] = k
		refs = append(refs, r)
	}
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	cluster.waitConsumed(ctx, t, streamName, consumer)
	var stored, all, dead int
	if err := conn.QueryRow(ctx, `SELECT count(*) FILTER (WHERE reference = ANY($1)), count(*) FROM orders`, refs).Scan(&stored, &all); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM dead_letters`).Scan(&dead); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d orders accepted (%d keys, %d requests sent again after 503 or a broken connection), %d stored, %d dead letters",
		accepted.Load(), len(refByKey), retried.Load(), all, dead)
	if stored != len(refs) || all != len(refs) {
		t.Errorf("%d of %d accepted orders stored, %d orders stored in all: want each accepted order stored once and nothing else", stored, len(refs), all)
	}
	if dead != 0 {
		t.Errorf("%d dead letters: an accepted order was dropped (a second message for a reference, say)", dead)
	}

	for _, s := range services {
		if err := s.p.stop(30 * time.Second); err != nil {
			t.Errorf("%s on SIGTERM: %v", s.name, err)
		}
	}
	for _, s := range services {
		if b, _ := os.ReadFile(filepath.Join(logs, s.name+".log")); bytes.Contains(b, []byte("Ann Lee")) || bytes.Contains(b, []byte("ST18 0YY")) {
			t.Errorf("personal data in the %s log", s.name)
		}
	}
}

// buildIntakeAndBatcher builds the two services this test runs from this
// checkout into a temporary folder.
func buildIntakeAndBatcher(t *testing.T) string {
	t.Helper()
	root, err := moduleRoot("go")
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	cmd := exec.Command("go", "build", "-o", bin+string(filepath.Separator), "./services/intake", "./services/batcher")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// placeUntilAccepted posts a keyed order to first and, while it is not
// accepted (the cluster electing a leader answers 503, a connection can
// break), again with the same key and body, alternating with second. Any
// answer other than acceptance or "unavailable" is an error.
func placeUntilAccepted(ctx context.Context, client *http.Client, first, second, key, body string, retried *atomic.Int64) (string, error) {
	addrs := [2]string{first, second}
	// Two servers of three are always up: an election takes a second or
	// two, so an order not accepted within this is a failure, not a wait.
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var last string
	for attempt := 0; ; attempt++ {
		if ctx.Err() != nil {
			return "", fmt.Errorf("not accepted after %d attempts in 30s (last: %s)", attempt, last)
		}
		req, err := http.NewRequestWithContext(ctx, "POST", "http://"+addrs[attempt%2]+"/api/v1/orders", strings.NewReader(body))
		if err != nil {
			return "", err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", key)
		resp, err := client.Do(req)
		if err != nil {
			last = err.Error()
			retried.Add(1)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusCreated, http.StatusOK:
			var out struct{ Reference string }
			if err := json.Unmarshal(b, &out); err != nil || out.Reference == "" {
				return "", fmt.Errorf("%s: %q is not a reference", resp.Status, b)
			}
			return out.Reference, nil
		case http.StatusServiceUnavailable, http.StatusBadGateway, http.StatusGatewayTimeout:
			last = resp.Status
			retried.Add(1)
			time.Sleep(100 * time.Millisecond)
		default:
			return "", fmt.Errorf("%s from %s: %s", resp.Status, addrs[attempt%2], b)
		}
	}
}

// natsCluster is three NATS servers with JetStream in one cluster, on
// loopback, in this process.
type natsCluster struct {
	name    string
	client  []int    // client ports
	routes  []int    // cluster ports
	dirs    []string // JetStream folders, kept across a restart
	mu      sync.Mutex
	servers []*server.Server
}

func startNATSCluster(t *testing.T) *natsCluster {
	t.Helper()
	c := &natsCluster{name: testenv.Name("booklets")}
	for i := 0; i < 3; i++ {
		c.client = append(c.client, freePort(t))
		c.routes = append(c.routes, freePort(t))
		c.dirs = append(c.dirs, t.TempDir())
	}
	for i := range 3 {
		c.servers = append(c.servers, c.startNode(t, i))
	}
	t.Cleanup(func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, s := range c.servers {
			if s != nil {
				s.Shutdown()
				s.WaitForShutdown()
			}
		}
	})
	// JetStream answers once the cluster has elected its meta leader.
	nc, err := jetstream.Connect(c.urls(), "cluster-probe")
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := natsjs.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	eventually.Within(t, 30*time.Second, "the NATS cluster has JetStream", func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		_, err := js.AccountInfo(ctx)
		return err
	})
	return c
}

func (c *natsCluster) nodeName(i int) string { return fmt.Sprintf("%s-n%d", c.name, i) }

func (c *natsCluster) startNode(t *testing.T, i int) *server.Server {
	t.Helper()
	var routes []string
	for _, p := range c.routes {
		routes = append(routes, "nats://127.0.0.1:"+strconv.Itoa(p))
	}
	opts := &server.Options{
		ServerName: c.nodeName(i),
		Host:       "127.0.0.1",
		Port:       c.client[i],
		JetStream:  true,
		StoreDir:   c.dirs[i],
		// Bounded, so that three servers in one test process do not each
		// claim a share of the machine's memory and disk.
		JetStreamMaxMemory: 64 << 20,
		JetStreamMaxStore:  1 << 30,
		Cluster:            server.ClusterOpts{Name: c.name, Host: "127.0.0.1", Port: c.routes[i]},
		Routes:             server.RoutesFromStr(strings.Join(routes, ",")),
		NoSigs:             true,
		NoLog:              true,
	}
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatalf("NATS node %d: %v", i, err)
	}
	go s.Start()
	if !s.ReadyForConnections(15 * time.Second) {
		s.Shutdown()
		t.Fatalf("NATS node %d not ready", i)
	}
	return s
}

// urls is NATS_URL for the services: every server, so that a client
// reconnects to a survivor.
func (c *natsCluster) urls() string {
	var u []string
	for _, p := range c.client {
		u = append(u, "nats://127.0.0.1:"+strconv.Itoa(p))
	}
	return strings.Join(u, ",")
}

// stop shuts down the node of that server name and returns its index.
func (c *natsCluster) stop(t *testing.T, name string) int {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range c.servers {
		if c.nodeName(i) == name && c.servers[i] != nil {
			c.servers[i].Shutdown()
			c.servers[i].WaitForShutdown()
			c.servers[i] = nil
			return i
		}
	}
	t.Fatalf("no running NATS node named %q", name)
	return -1
}

// restart starts node i again on its ports and its JetStream folder.
func (c *natsCluster) restart(t *testing.T, i int) {
	t.Helper()
	s := c.startNode(t, i)
	c.mu.Lock()
	c.servers[i] = s
	c.mu.Unlock()
}

func (c *natsCluster) jetStream(t *testing.T) natsjs.JetStream {
	t.Helper()
	nc, err := jetstream.Connect(c.urls(), "cluster-probe")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := natsjs.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// streamInfo is the stream's state once it has a leader (an election
// answers with an error for a moment).
func (c *natsCluster) streamInfo(ctx context.Context, t *testing.T, name string) *natsjs.StreamInfo {
	t.Helper()
	js := c.jetStream(t)
	var info *natsjs.StreamInfo
	eventually.Until(ctx, t, fmt.Sprintf("stream %s has a leader", name), func(ctx context.Context) error {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		s, err := js.Stream(rctx, name)
		if err == nil {
			info, err = s.Info(rctx)
		}
		switch {
		case err != nil:
			return err
		case info.Cluster == nil || info.Cluster.Leader == "":
			return errors.New("no leader")
		}
		return nil
	})
	return info
}

// settled is the stream's state once no change of its replicas is in
// progress (JetStream moves a stream to a new peer set in the background
// after an update).
func (c *natsCluster) settled(ctx context.Context, t *testing.T, streamName string) *natsjs.StreamInfo {
	t.Helper()
	for {
		info := c.streamInfo(ctx, t, streamName)
		if info.Cluster.Desired == nil || ctx.Err() != nil {
			return info
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitReplicated waits until the stream has three replicas: a leader and
// two current followers.
func (c *natsCluster) waitReplicated(ctx context.Context, t *testing.T, streamName string) {
	t.Helper()
	eventually.Until(ctx, t, fmt.Sprintf("stream %s has a leader and two current followers", streamName), func(ctx context.Context) error {
		info := c.streamInfo(ctx, t, streamName)
		current := 0
		for _, r := range info.Cluster.Replicas {
			if r.Current && !r.Offline {
				current++
			}
		}
		if info.Config.Replicas == 3 && current == 2 {
			return nil
		}
		return fmt.Errorf("%d replicas configured, cluster %+v", info.Config.Replicas, info.Cluster)
	})
}

// waitCurrent waits until the named server is a current replica of the
// stream again.
func (c *natsCluster) waitCurrent(ctx context.Context, t *testing.T, streamName, server string) {
	t.Helper()
	eventually.Until(ctx, t, fmt.Sprintf("%s catches up with stream %s", server, streamName), func(ctx context.Context) error {
		info := c.streamInfo(ctx, t, streamName)
		if info.Cluster.Leader == server {
			return nil
		}
		for _, r := range info.Cluster.Replicas {
			if r.Name == server && r.Current && !r.Offline {
				return nil
			}
		}
		return fmt.Errorf("not a current replica: cluster %+v", info.Cluster)
	})
}

// waitConsumed waits until the durable consumer has nothing pending and
// nothing unacknowledged: every order in the stream is stored.
func (c *natsCluster) waitConsumed(ctx context.Context, t *testing.T, streamName, consumer string) {
	t.Helper()
	js := c.jetStream(t)
	eventually.Until(ctx, t, fmt.Sprintf("consumer %s consumes stream %s", consumer, streamName), func(ctx context.Context) error {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		cons, err := js.Consumer(rctx, streamName, consumer)
		var info *natsjs.ConsumerInfo
		if err == nil {
			info, err = cons.Info(rctx)
		}
		switch {
		case err != nil:
			return err
		case info.NumPending != 0 || info.NumAckPending != 0:
			return fmt.Errorf("%d pending, %d unacknowledged", info.NumPending, info.NumAckPending)
		}
		return nil
	})
}
