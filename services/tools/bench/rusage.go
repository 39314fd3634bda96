package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// The peak RSS that wait4 reports for a child is not the child's own when
// the parent is a Go program: os/exec starts children with
// clone(CLONE_VM|CLONE_VFORK), and on exec Linux carries the high-water
// RSS of the memory it leaves, which is the parent's, into the child's
// ru_maxrss. The bench's own memory (seeding a million orders, say) would
// then be reported as the batcher's. So each measured command is started
// by a small helper: this same binary, re-executed with rusageEnv set,
// which allocates next to nothing before it starts the command and reports
// the command's rusage on file descriptor 3.
const rusageEnv = "BOOKLETS_BENCH_RUSAGE_HELPER"

// rusageHelper runs os.Args[1:] and writes "wall_ns maxrss_kib cpu_ns" to
// fd 3 (cpu: user and system time of the command).
// It exits with the command's exit status.
func rusageHelper() {
	report := os.NewFile(3, "rusage")
	if len(os.Args) < 2 || report == nil {
		fmt.Fprintln(os.Stderr, "bench rusage helper: no command")
		os.Exit(2)
	}
	cmd := exec.Command(os.Args[1], os.Args[2:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	env := os.Environ()
	for i, kv := range env {
		if len(kv) > len(rusageEnv) && kv[:len(rusageEnv)+1] == rusageEnv+"=" {
			env = append(env[:i], env[i+1:]...)
			break
		}
	}
	cmd.Env = env
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		fmt.Fprintln(os.Stderr, "bench rusage helper:", err)
		os.Exit(2)
	}
	var maxrss int64
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		maxrss = int64(ru.Maxrss)
	}
	cpu := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	fmt.Fprintf(report, "%d %d %d\n", wall.Nanoseconds(), maxrss, cpu.Nanoseconds())
	os.Exit(cmd.ProcessState.ExitCode())
}
