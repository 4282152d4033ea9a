//go:build countersign_insecure_kdf

package cli

import "strconv"

// testWorkFactor reads COUNTERSIGN_INSECURE_TEST_WORK_FACTOR, the scrypt
// cost (log2 N) for software keys. Only binaries built with the
// countersign_insecure_kdf tag read it: test suites that start real
// countersign processes creating many keys (examples, the demo's tests).
// Weak key encryption must never be one environment variable away in a
// binary people use.
func testWorkFactor(getenv func(string) string) int {
	n, err := strconv.Atoi(getenv("COUNTERSIGN_INSECURE_TEST_WORK_FACTOR"))
	if err != nil || n < 1 {
		return 0
	}
	return n
}
