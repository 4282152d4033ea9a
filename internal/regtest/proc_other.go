//go:build !linux

package regtest

import "os/exec"

// setParentDeathSignal does nothing outside Linux, which has no
// parent-death signal; Node.Stop and the test cleanup still end the node.
func setParentDeathSignal(*exec.Cmd) {}
