//go:build linux

package regtest

import (
	"os/exec"
	"syscall"
)

// setParentDeathSignal makes the kernel kill the node if the test binary
// dies without running its cleanups (a panic in another goroutine, a
// SIGKILL from `go test -timeout`), so no btcd outlives its test. The
// signal is tied to the OS thread that started the node; Go retires a
// thread only when a goroutine locked to it exits, which the harness
// never does.
func setParentDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
