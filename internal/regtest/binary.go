package regtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// BtcdVersion is the btcd release the harness builds and runs. It is pinned
// so that every machine tests against the same node behaviour.
const BtcdVersion = "v0.26.2"

// btcdModule is the Go package path of the btcd main package.
const btcdModule = "github.com/btcsuite/btcd"

// DefaultCacheDir is where built node binaries are kept between runs:
// $COUNTERSIGN_CACHE_DIR, else the user cache directory + "/countersign".
func DefaultCacheDir() (string, error) {
	if dir := os.Getenv("COUNTERSIGN_CACHE_DIR"); dir != "" {
		return dir, nil
	}
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("regtest: no cache directory for the btcd binary (%v); set COUNTERSIGN_CACHE_DIR", err)
	}
	return filepath.Join(base, "countersign"), nil
}

// EnsureBtcd returns the path of the pinned btcd binary under cacheDir,
// building it with `go install` on first use. An empty cacheDir means
// DefaultCacheDir.
//
// Parallel test binaries (go test ./... runs packages concurrently) share
// the cache, so the build happens under an exclusive file lock and the
// binary is moved into place only once it is complete: a crash mid-build
// leaves no half-written executable behind.
func EnsureBtcd(ctx context.Context, cacheDir string) (string, error) {
	if cacheDir == "" {
		var err error
		if cacheDir, err = DefaultCacheDir(); err != nil {
			return "", err
		}
	}
	binDir := filepath.Join(cacheDir, "btcd-"+BtcdVersion)
	bin := filepath.Join(binDir, "btcd")
	if isExecutable(bin) {
		return bin, nil
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", fmt.Errorf("regtest: create cache directory: %w", err)
	}
	unlock, err := lockFile(ctx, filepath.Join(cacheDir, "btcd-"+BtcdVersion+".lock"))
	if err != nil {
		return "", err
	}
	defer unlock()

	// Another process may have finished the build while we waited.
	if isExecutable(bin) {
		return bin, nil
	}
	if err := buildBtcd(ctx, cacheDir, binDir); err != nil {
		return "", err
	}
	return bin, nil
}

// buildBtcd runs `go install github.com/btcsuite/btcd@BtcdVersion` into a
// scratch GOBIN and renames the result into binDir.
func buildBtcd(ctx context.Context, cacheDir, binDir string) error {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("regtest: building btcd %s needs the go command in PATH: %w", BtcdVersion, err)
	}
	scratch, err := os.MkdirTemp(cacheDir, "btcd-build-")
	if err != nil {
		return fmt.Errorf("regtest: create build directory: %w", err)
	}
	defer os.RemoveAll(scratch)

	cmd := exec.CommandContext(ctx, goBin, "install", btcdModule+"@"+BtcdVersion)
	// Run outside any module or workspace so the pin is the only thing
	// that decides what gets built.
	cmd.Dir = scratch
	cmd.Env = append(os.Environ(), "GOBIN="+scratch, "GOWORK=off", "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("regtest: go install %s@%s failed: %w\n%s\nhint: the first run needs the Go module proxy (or a module cache holding btcd %s)",
			btcdModule, BtcdVersion, err, strings.TrimSpace(string(out)), BtcdVersion)
	}
	built := filepath.Join(scratch, "btcd")
	if !isExecutable(built) {
		return fmt.Errorf("regtest: go install %s@%s produced no btcd binary in %s", btcdModule, BtcdVersion, scratch)
	}
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return fmt.Errorf("regtest: create %s: %w", binDir, err)
	}
	if err := os.Rename(built, filepath.Join(binDir, "btcd")); err != nil {
		return fmt.Errorf("regtest: install the built btcd into %s: %w", binDir, err)
	}
	return nil
}

func isExecutable(path string) bool {
	info, err := os.Stat(path)
	if err != nil {
		return false
	}
	return info.Mode().IsRegular() && info.Mode().Perm()&0o111 != 0
}
