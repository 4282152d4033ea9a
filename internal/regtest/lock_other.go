//go:build !unix

package regtest

import "context"

// lockFile has no implementation without flock; the harness needs a unix
// system (it also signals the node with SIGTERM).
func lockFile(context.Context, string) (func(), error) {
	return nil, errNoLock
}
