//go:build !countersign_insecure_kdf

package cli

// testWorkFactor is 0 in a shipped binary: software keys always get age's
// full scrypt cost, whatever the environment says.
func testWorkFactor(func(string) string) int { return 0 }
