package main

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/countersign/countersign/hw"
	"github.com/countersign/countersign/hw/bitbox02"
	"github.com/countersign/countersign/hw/transport"
)

const bitboxWords = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"

func TestBitBox02Flags(t *testing.T) {
	var got *bitbox02Options
	cmd := newBitBox02Cmd(func(_ context.Context, _ *cobra.Command, o *bitbox02Options) error { got = o; return nil })
	cmd.SetArgs([]string{"--mnemonic", "a b c", "--listen", "127.0.0.1:1", "--network", "regtest", "--reject", "--refuse-pairing", "--paired-host", "00", "--firmware", "v9.14.1"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if got.Mnemonic != "a b c" || got.Listen != "127.0.0.1:1" || got.Network != "regtest" || !got.Reject || !got.RefusePairing || len(got.PairedHosts) != 1 || got.Firmware != "v9.14.1" {
		t.Fatalf("options %+v", got)
	}
	cmd = newBitBox02Cmd(func(context.Context, *cobra.Command, *bitbox02Options) error { return nil })
	cmd.SetArgs(nil)
	cmd.SetOut(new(bytes.Buffer))
	cmd.SetErr(new(bytes.Buffer))
	if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), "--mnemonic is required") {
		t.Fatalf("missing mnemonic: %v", err)
	}
}

// freeAddr finds a loopback port nobody listens on.
func freeAddr(t *testing.T) string {
	ln, err := transport.ListenTCPReports("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr()
	ln.Close()
	return addr
}

// TestBitBox02ServesTheDriver runs the subcommand and has the driver read
// the fingerprint from it, then stops it with the context.
func TestBitBox02ServesTheDriver(t *testing.T) {
	addr := freeAddr(t)
	var out, errOut bytes.Buffer
	root := newRootCmd(&out, &errOut)
	root.SetArgs([]string{"bitbox02", "--mnemonic", bitboxWords, "--listen", addr, "--network", "regtest"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	var b *bitbox02.BitBox02
	deadline := time.Now().Add(10 * time.Second)
	for {
		tctx, stop := context.WithTimeout(context.Background(), 5*time.Second)
		tr, err := transport.DialTCPReports(tctx, addr)
		if err == nil {
			b, err = bitbox02.Open(tctx, tr, bitbox02.Options{AllowPairing: true, Endpoint: hw.Endpoint{Transport: "tcp", Path: addr}})
		}
		if err == nil {
			var fp [4]byte
			fp, err = b.Fingerprint(tctx)
			stop()
			if err != nil || fp != [4]byte{0x73, 0xc5, 0xda, 0x0a} {
				t.Fatalf("fingerprint %x: %v", fp, err)
			}
			break
		}
		stop()
		if time.Now().After(deadline) {
			t.Fatalf("emulator never answered: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.Close()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if out.String() != "bitbox02 emulator 73c5da0a listening on tcp:"+addr+"\n" {
		t.Fatalf("stdout %q", out.String())
	}
	if !strings.Contains(errOut.String(), "wsh key [73c5da0a/48h/1h/0h/2h]tpub") || !strings.Contains(errOut.String(), "stopped") {
		t.Fatalf("stderr %q", errOut.String())
	}
}

// SIGTERM stops the real binary cleanly.
func TestBitBox02SignalStops(t *testing.T) {
	addr := freeAddr(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "COUNTERSIGN_EMULATOR_CHILD=1",
		"COUNTERSIGN_EMULATOR_ARGS="+strings.Join([]string{"bitbox02", "--listen", addr, "--mnemonic", bitboxWords}, "\n"))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "bitbox02 emulator 73c5da0a listening on tcp:"+addr+"\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("first line %q %v (stderr %s)", line, err, stderr.String())
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit: %v (stderr %s)", err, stderr.String())
	}
}

func TestBitBox02BadInputs(t *testing.T) {
	for _, args := range [][]string{
		{"bitbox02", "--mnemonic", "not a mnemonic", "--listen", "127.0.0.1:0"},
		{"bitbox02", "--mnemonic", bitboxWords, "--network", "nonet", "--listen", "127.0.0.1:0"},
		{"bitbox02", "--mnemonic", bitboxWords, "--noise-key", "abcd", "--listen", "127.0.0.1:0"},
		{"bitbox02", "--mnemonic", bitboxWords, "--listen", "256.0.0.1:1"},
		{"bitbox02", "--mnemonic", bitboxWords, "--firmware", "9.21", "--listen", "127.0.0.1:0"},
	} {
		root := newRootCmd(new(bytes.Buffer), new(bytes.Buffer))
		root.SetArgs(args)
		if err := root.ExecuteContext(context.Background()); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
}
