//go:build !linux

package pgcluster

import "syscall"

// procAttr runs the server as cred (nil: as the caller) in its own process
// group. Only Linux can stop it when the caller dies.
func procAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: cred, Setpgid: true}
}
