//go:build !unix

package transport

// lockPath is a no-op where flock does not exist; unix datagram sockets,
// the only users, are not available there either.
func lockPath(string) (func(), error) { return func() {}, nil }
