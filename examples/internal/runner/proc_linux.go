//go:build linux

package runner

import "syscall"

// childAttr puts an emulator in a process group of its own, so a Ctrl-C at
// the terminal reaches only this program, which stops the children in
// order by their PIDs; and it makes the kernel send the child SIGTERM if
// this program dies without stopping it (a SIGKILL, a crash).
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}

// groupAttr puts a script in its own process group, which is stopped as a
// whole; the script itself also gets the parent-death signal.
func groupAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
