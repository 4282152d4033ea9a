//go:build unix

package cli

import (
	"os/exec"
	"syscall"
)

// detach puts the agent in a session of its own: closing the terminal
// that ran key unlock does not stop it.
func detach(cmd *exec.Cmd) { cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} }
