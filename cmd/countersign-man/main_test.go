package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestManPages(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "man")
	if err := write(dir); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "countersign-spend.1"))
	if err != nil || !strings.Contains(string(b), "fee-rate") {
		t.Fatalf("man page for spend missing or incomplete: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "countersign-gen-man.1")); err == nil {
		t.Fatal("gen-man is still a countersign command")
	}
}
