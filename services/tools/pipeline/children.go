package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// child is one running service process.
type child struct {
	name string
	addr string // its HTTP address (health, metrics, pages)
	cmd  *exec.Cmd
	out  *prefixed
	done chan struct{} // closed once the process has exited and been reaped
	err  error         // its exit status, valid after done
}

func (c *child) running() bool {
	select {
	case <-c.done:
		return false
	default:
		return true
	}
}

// moduleRoot is the folder holding go.mod, found by asking the go command
// from the working directory (make run starts at the repository root, the
// test in services/tools/pipeline).
func moduleRoot(goCmd string) (string, error) {
	out, err := exec.Command(goCmd, "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("find the module (go env GOMOD): %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside the booklets module: run from the repository, or set BIN_DIR to prebuilt binaries")
	}
	return filepath.Dir(gomod), nil
}

// checkSources reports every configured service whose code is not in the
// checkout, by name, rather than quietly running without it.
func checkSources(root string, services []string) error {
	var missing []string
	for _, s := range services {
		matches, _ := filepath.Glob(filepath.Join(root, "services", s, "*.go"))
		if len(matches) == 0 {
			missing = append(missing, s)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("service %s is not in this checkout (no Go files in services/%s): the pipeline needs %s; "+
		"to run only some services set PIPELINE_SERVICES, e.g. PIPELINE_SERVICES=intake",
		strings.Join(missing, ", "), strings.Join(missing, ", services/"), strings.Join(allServices, ", "))
}

// build compiles the services into binDir with one go build.
func build(ctx context.Context, goCmd, root, binDir string, services []string, out *console) error {
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return fmt.Errorf("bin folder: %w", err)
	}
	args := []string{"build", "-o", binDir + string(filepath.Separator)}
	for _, s := range services {
		args = append(args, "./services/"+s)
	}
	out.printf("building %s into %s", strings.Join(services, ", "), binDir)
	cmd := exec.CommandContext(ctx, goCmd, args...)
	cmd.Dir = root
	w := out.writer("build")
	cmd.Stdout, cmd.Stderr = w, w
	err := cmd.Run()
	w.flush()
	if err != nil {
		return fmt.Errorf("build the services (go %s): %w", strings.Join(args, " "), err)
	}
	return nil
}

// checkBinaries reports every configured service with no binary in binDir.
func checkBinaries(binDir string, services []string) error {
	var missing []string
	for _, s := range services {
		if fi, err := os.Stat(filepath.Join(binDir, s)); err != nil || fi.IsDir() {
			missing = append(missing, s)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("BIN_DIR %s has no binary for %s (make build writes them to ./bin)", binDir, strings.Join(missing, ", "))
}

// claimAddr checks that addr can be listened on now, and turns port 0 into
// a concrete free port so that the launcher knows the URL to print.
func claimAddr(name, addr string) (string, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("%s cannot listen on %s (is another `make run` still running?); set %s_ADDR: %w",
			name, addr, strings.ToUpper(name), err)
	}
	defer l.Close()
	host, _, _ := net.SplitHostPort(addr)
	return net.JoinHostPort(host, strconv.Itoa(l.Addr().(*net.TCPAddr).Port)), nil
}

// startChild starts one service binary with its environment.
func startChild(name, bin, dir, addr string, env []string, out *console, exited chan<- *child) (*child, error) {
	cmd := exec.Command(bin)
	cmd.Env = env
	cmd.Dir = dir
	w := out.writer(name)
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = procAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c := &child{name: name, addr: addr, cmd: cmd, out: w, done: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		w.flush()
		close(c.done)
		select {
		case exited <- c:
		default: // buffered for every child; never blocks in practice
		}
	}()
	return c, nil
}

// waitHealthy polls the child's /readyz until it answers 200, the child
// exits, ctx ends or the start-up time runs out. Readiness, not liveness:
// an intake whose day key no configured KEK can unwrap is alive but can
// take no order, and the console must not say the pipeline is running.
func waitHealthy(ctx context.Context, c *child, limit time.Duration) error {
	url := browserURL(c.addr, "/readyz")
	var reason string
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if resp, err := client.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			reason = resp.Status
		}
		select {
		case <-c.done:
			return fmt.Errorf("%s exited while starting (%v): its output is above", c.name, exitStatus(c.err))
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			if reason != "" {
				return fmt.Errorf("%s was not ready at %s within %s (STARTUP_TIMEOUT): last answer %s; its log above says why", c.name, url, limit, reason)
			}
			return fmt.Errorf("%s did not answer %s within %s (STARTUP_TIMEOUT)", c.name, url, limit)
		case <-tick.C:
		}
	}
}

// stop sends SIGTERM to the child's process group and waits up to limit
// for it to exit, then kills it. It returns an error unless the child
// exited cleanly (status 0).
func (c *child) stop(limit time.Duration, out *console) error {
	if c.running() {
		pid := c.cmd.Process.Pid
		_ = syscall.Kill(-pid, syscall.SIGTERM) // the group: a service's own children too
		timer := time.NewTimer(limit)
		defer timer.Stop()
		select {
		case <-c.done:
		case <-timer.C:
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			<-c.done
			out.printf("%s did not stop within %s of SIGTERM (SHUTDOWN_TIMEOUT) and was killed", c.name, limit)
			return fmt.Errorf("%s did not stop within %s and was killed", c.name, limit)
		}
	}
	out.printf("%s stopped (%s)", c.name, exitStatus(c.err))
	if c.err != nil {
		return fmt.Errorf("%s: %s", c.name, exitStatus(c.err))
	}
	return nil
}

func exitStatus(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}
