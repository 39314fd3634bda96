package pgcluster

import "syscall"

// procAttr runs the server as cred (nil: as the caller), in its own process
// group, and has the kernel send it SIGINT (PostgreSQL's fast shutdown) if
// the caller dies without stopping it.
func procAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: cred, Setpgid: true, Pdeathsig: syscall.SIGINT}
}
