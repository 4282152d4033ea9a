package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/countersign/countersign/hw"
	"github.com/countersign/countersign/hw/jade"
)

// abandonWords (qrsigner_test.go) is the published BIP-39 "abandon ... about" vector.

func TestJadeFlags(t *testing.T) {
	var got *jadeOptions
	cmd := newJadeCmd(func(_ context.Context, _ *cobra.Command, o *jadeOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"--mnemonic", "a b c", "--listen", "127.0.0.1:1", "--network", "regtest", "--reject", "--pin", "1234"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if got.Mnemonic != "a b c" || got.Listen != "127.0.0.1:1" || got.Network != "regtest" || !got.Reject || got.PIN != "1234" {
		t.Fatalf("options %+v", got)
	}
	for _, n := range []string{"testnet", "signet", "regtest"} {
		if v, err := jadeNetworks(n); err != nil || v != "TEST" {
			t.Errorf("%s: %s %v", n, v, err)
		}
	}
	if _, err := jadeNetworks("liquid"); err == nil {
		t.Error("liquid accepted")
	}
}

// syncBuffer is a buffer the emulator writes while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// serveJade runs the subcommand until the test ends.
func serveJade(t *testing.T, args ...string) (addr string, out, errOut *syncBuffer, stop func() error) {
	t.Helper()
	addr = freeAddr(t)
	out, errOut = new(syncBuffer), new(syncBuffer)
	root := newRootCmd(out, errOut)
	root.SetArgs(append([]string{"jade", "--mnemonic", abandonWords, "--listen", addr}, args...))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the emulator never listened")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return addr, out, errOut, func() error { cancel(); return <-done }
}

func TestJadeServesUntilCancelled(t *testing.T) {
	addr, out, errOut, stop := serveJade(t, "--network", "regtest")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	j, err := jade.Open(ctx, conn, jade.Options{})
	if err != nil {
		t.Fatal(err)
	}
	fp, err := j.Fingerprint(ctx)
	j.Close()
	if err != nil || hex.EncodeToString(fp[:]) != "73c5da0a" {
		t.Fatalf("fingerprint %x %v", fp, err)
	}
	if j.VersionInfo().Networks != "TEST" {
		t.Fatalf("version info %+v", j.VersionInfo())
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if want := "jade emulator 73c5da0a listening on " + addr + "\n"; out.String() != want {
		t.Fatalf("stdout %q, want %q", out.String(), want)
	}
	if !strings.Contains(errOut.String(), "requests") {
		t.Fatalf("stderr %q", errOut.String())
	}
}

func TestJadeLockedWithPIN(t *testing.T) {
	addr, _, errOut, stop := serveJade(t, "--pin", "424242", "--network", "testnet")
	defer stop()
	if !strings.Contains(errOut.String(), "PIN server listens on http://127.0.0.1:") {
		t.Fatalf("stderr %q", errOut.String())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := jade.Open(ctx, conn, jade.Options{}); !errors.Is(err, hw.ErrLocked) {
		t.Fatalf("without a relay: %v", err)
	}
	// Relayed to the emulator's PIN server, the PIN unlocks it.
	if conn, err = net.Dial("tcp", addr); err != nil {
		t.Fatal(err)
	}
	j, err := jade.Open(ctx, conn, jade.Options{PINRelay: &http.Client{Timeout: 10 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if fp, err := j.Fingerprint(ctx); err != nil || hex.EncodeToString(fp[:]) != "73c5da0a" {
		t.Fatalf("after the relay: %x %v", fp, err)
	}
}
