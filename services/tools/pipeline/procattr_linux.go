package main

import "syscall"

// procAttr puts a child in its own process group, so that Ctrl-C in the
// terminal reaches only the launcher, which then stops the services in
// order; and asks the kernel to send the child SIGTERM if the launcher
// itself dies without cleaning up.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
