// Package jspeer runs the JavaScript cross-check peer of the hw/qr
// packages (hw/qr/testdata/js/interop.mjs: npm bbqr, @ngraveio/bc-ur,
// @keystonehq/bc-ur-registry, pinned by package-lock.json). Test helper
// only.
package jspeer

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// EnvRequireInterop makes the cross-checks fail, instead of skipping, when
// Node.js or the npm packages are missing (CI sets it).
const EnvRequireInterop = "COUNTERSIGN_REQUIRE_INTEROP"

// Dir is the folder holding package.json and interop.mjs.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata", "js")
}

// Peer is a ready JavaScript peer.
type Peer struct {
	node, dir string
}

// Require returns the peer, or skips the test (fails it when
// COUNTERSIGN_REQUIRE_INTEROP=1) if node or node_modules is missing.
func Require(t testing.TB) *Peer {
	t.Helper()
	skip := func(why string) {
		if os.Getenv(EnvRequireInterop) == "1" {
			t.Fatalf("%s (%s=1 requires this test)", why, EnvRequireInterop)
		}
		t.Skip(why)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		skip("node is not installed: install Node.js 18 or later to run the BBQr/UR cross-checks")
	}
	dir := Dir()
	for _, pkg := range []string{"bbqr", "@ngraveio/bc-ur", "@keystonehq/bc-ur-registry"} {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", pkg, "package.json")); err != nil {
			skip("npm package " + pkg + " is not installed: run (cd hw/qr/testdata/js && npm ci)")
		}
	}
	return &Peer{node: node, dir: dir}
}

// Call sends req as JSON to interop.mjs and decodes its answer into resp.
// A JavaScript exception fails the test with its stack.
func (p *Peer) Call(t testing.TB, req, resp any) {
	t.Helper()
	in, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, p.node, filepath.Join(p.dir, "interop.mjs"))
	cmd.Dir = p.dir
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node interop.mjs: %v\n%s", err, stderr.String())
	}
	var exc struct {
		Exception string `json:"exception"`
	}
	if json.Unmarshal(out, &exc) == nil && exc.Exception != "" {
		t.Fatalf("JavaScript peer threw:\n%s", exc.Exception)
	}
	if err := json.Unmarshal(out, resp); err != nil {
		t.Fatalf("peer answer %q: %v", out, err)
	}
}
