//go:build !unix

package regtest

import (
	"context"
	"errors"
)

// lockFile has no implementation without flock; the harness needs a unix
// system (it also signals the node with SIGTERM).
func lockFile(context.Context, string) (func(), error) {
	return nil, errNoLock
}

// errNoLock is returned where the platform has no advisory file locks.
var errNoLock = errors.New("regtest: file locking is not available on this platform")
