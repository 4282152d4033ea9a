//go:build !unix

package cli

import "os/exec"

// detach: elsewhere the agent outlives key unlock as it is.
func detach(cmd *exec.Cmd) {}
