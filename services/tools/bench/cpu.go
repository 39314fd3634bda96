package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// cpuSample is the CPU time used so far by the intake, by the bench itself
// (the load generator) and by the whole machine, read from /proc. The
// difference of two samples splits a load's CPU between the service, the
// client driving it, and everything else (NATS, PostgreSQL, other work on
// the machine): on 2 cores shared by all of them, that split says who
// limits the rate.
type cpuSample struct {
	intake, bench, nats, busy, total time.Duration
}

// clockTick is USER_HZ, the unit of /proc's CPU times: 100 on every Linux
// Go supports.
const clockTick = 10 * time.Millisecond

// procCPU is utime+stime of a process, from /proc/PID/stat.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name (field 2) may hold spaces; count from after it.
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[i+1:]
	}
	f := strings.Fields(s)
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+st) * clockTick
}

// machineCPU is the busy and total CPU time of all cores, from /proc/stat.
func machineCPU() (busy, total time.Duration) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	for i, v := range f[1:] {
		n, _ := strconv.ParseInt(v, 10, 64)
		if i >= 8 { // guest times are already in user and nice
			break
		}
		total += time.Duration(n) * clockTick
		if i != 3 && i != 4 { // idle, iowait
			busy += time.Duration(n) * clockTick
		}
	}
	return busy, total
}

// natsServerPID finds a nats-server process on this machine, or 0 (NATS
// elsewhere): its CPU is then counted in the rest.
func natsServerPID() int {
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err == nil && strings.TrimSpace(string(b)) == "nats-server" {
			return pid
		}
	}
	return 0
}

func sampleCPU(intakePID, natsPID int) cpuSample {
	s := cpuSample{bench: procCPU(os.Getpid())}
	if intakePID > 0 {
		s.intake = procCPU(intakePID)
	}
	if natsPID > 0 {
		s.nats = procCPU(natsPID)
	}
	s.busy, s.total = machineCPU()
	return s
}

// cpuSplit describes the CPU used between two samples, per order, as
// (server "intake") "intake 120 µs, load generator 80 µs, nats-server 60 µs, rest 10 µs,
// idle 10%" (rest: the kernel's interrupts, other processes).
func cpuSplit(server string, a, b cpuSample, ops int) string {
	if ops == 0 {
		return ""
	}
	per := func(d time.Duration) string {
		return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond)/float64(ops))
	}
	in, be, ns, busy := b.intake-a.intake, b.bench-a.bench, b.nats-a.nats, b.busy-a.busy
	idle := 0.0
	if t := b.total - a.total; t > 0 {
		idle = 100 * float64(t-busy) / float64(t)
	}
	var parts []string
	if in > 0 {
		parts = append(parts, server+" "+per(in))
	}
	parts = append(parts, "load generator "+per(be))
	if ns > 0 {
		parts = append(parts, "nats-server "+per(ns))
	}
	// Per-process and machine times are counted in ticks separately, so
	// with little else running their difference can come out below zero.
	parts = append(parts, "rest "+per(max(0, busy-in-be-ns)), fmt.Sprintf("idle %.0f%%", idle))
	return "CPU per order: " + strings.Join(parts, ", ")
}

// profileIntake fetches a CPU profile of the intake over d from its
// PPROF_ADDR and writes it to file. It runs beside a load.
func profileIntake(ctx context.Context, pprofAddr string, d time.Duration, file string) error {
	secs := max(1, int(d/time.Second))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet,
		fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", pprofAddr, secs), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("cpu profile: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("cpu profile: %s", resp.Status)
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("cpu profile: %w", err)
	}
	return f.Close()
}
