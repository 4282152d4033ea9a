//go:build !unix

package soft

// lockFile does nothing where flock is not there: two key unlocks of one
// key at the same instant can then race (the socket check still refuses
// the second once the first listens).
func lockFile(path string) (unlock func(), err error) { return func() {}, nil }
