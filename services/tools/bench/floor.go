package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime/debug"
	"syscall"
	"time"

	natsjs "github.com/nats-io/nats.go/jetstream"

	"booklets/pkg/adapter/jetstream"
)

// The floor server (-floor) is the least an HTTP front to JetStream can
// do: net/http, configured as the intake's server is, reading the request
// body and answering 201 after a nats.go jetstream.Publish with ack of a
// fixed message (the intake's own, read back) — no validation, sealing,
// idempotency, rate limit, headers, log or metrics. Measured beside the
// intake, it shows what of the gap to the raw publish is the HTTP hop
// itself, which no work on the intake's code can remove. It is this
// binary re-executed with floorEnv set, so that it is a process of its
// own, as the intake is.
const floorEnv = "BOOKLETS_BENCH_FLOOR_SERVER"

// floorServer runs the floor server until it is killed; it is configured
// by environment: the listen address in floorEnv, FLOOR_NATS_URL,
// FLOOR_STREAM, FLOOR_SUBJECT and FLOOR_MSG_FILE.
func floorServer() {
	if err := serveFloor(os.Getenv(floorEnv)); err != nil {
		fmt.Fprintln(os.Stderr, "bench floor server:", err)
		os.Exit(2)
	}
	os.Exit(0)
}

func serveFloor(addr string) error {
	debug.SetGCPercent(400) // as the intake
	msg, err := os.ReadFile(os.Getenv("FLOOR_MSG_FILE"))
	if err != nil {
		return err
	}
	nc, err := jetstream.Connect(os.Getenv("FLOOR_NATS_URL"), "bench-floor")
	if err != nil {
		return err
	}
	js, err := natsjs.New(nc)
	if err != nil {
		return err
	}
	name, subject := os.Getenv("FLOOR_STREAM"), os.Getenv("FLOOR_SUBJECT")
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		if _, err := js.Publish(r.Context(), subject, msg,
			natsjs.WithMsgID(randomHex(16)), natsjs.WithExpectStream(name)); err != nil {
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"reference":"ABCD-EFGH-JKLM","status":"received"}`+"\n")
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 15 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 16 << 10}
	return hs.Serve(ln)
}

// floor is a running floor server.
type floor struct {
	cmd  *exec.Cmd
	addr string
}

// startFloor starts the floor server over its own stream (configured as
// the intake's) and waits until it answers.
func (e *env) startFloor(ctx context.Context, sc jetstream.Config, msg []byte) (*floor, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	msgFile := e.work + "/floor-msg.json"
	if err := os.WriteFile(msgFile, msg, 0o600); err != nil {
		return nil, err
	}
	cmd := exec.Command(self)
	cmd.Env = []string{floorEnv + "=" + addr, "FLOOR_NATS_URL=" + e.natsURL, "FLOOR_STREAM=" + sc.Stream,
		"FLOOR_SUBJECT=" + sc.Subject, "FLOOR_MSG_FILE=" + msgFile, "PATH=" + os.Getenv("PATH")}
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start floor server: %w", err)
	}
	f := &floor{cmd: cmd, addr: addr}
	lc := newLeanClient(addr, [][]byte{[]byte(`{}`)}, 1)
	defer lc.close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := lc.post(ctx, 0)
		if err == nil {
			return f, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			f.stop()
			return nil, fmt.Errorf("floor server did not answer: %w", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (f *floor) stop() {
	_ = f.cmd.Process.Kill()
	_ = f.cmd.Wait()
}
