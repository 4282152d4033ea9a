//go:build unix && !linux

package runner

import "syscall"

// childAttr puts an emulator in a process group of its own, so a Ctrl-C at
// the terminal reaches only this program, which stops the children in
// order by their PIDs.
func childAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// groupAttr puts a script in its own process group, which is stopped as a
// whole.
func groupAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
