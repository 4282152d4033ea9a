package main

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/countersign/countersign/hw/coldcard"
	"github.com/countersign/countersign/hw/transport"
)

// The Coldcard firmware test simulator's seed (testing/constants.py); its
// fingerprint is 0F056943.
const simulatorWords = "wife shiver author away frog air rough vanish fantasy frozen noodle athlete pioneer citizen symptom firm much faith extend rare axis garment kiwi clarify"

// TestMain lets a test run this binary's main in a child process.
func TestMain(m *testing.M) {
	if os.Getenv("COUNTERSIGN_EMULATOR_CHILD") == "1" {
		os.Args = append([]string{"countersign-emulator"}, strings.Split(os.Getenv("COUNTERSIGN_EMULATOR_ARGS"), "\n")...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func shortDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "cse")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func TestColdcardFlags(t *testing.T) {
	var got *coldcardOptions
	cmd := newColdcardCmd(func(_ context.Context, _ *cobra.Command, o *coldcardOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"--mnemonic", "a b c", "--socket", "/tmp/x.sock", "--network", "regtest", "--reject"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if got.Mnemonic != "a b c" || got.Socket != "/tmp/x.sock" || got.Network != "regtest" || !got.Reject {
		t.Fatalf("options %+v", got)
	}
	cmd = newColdcardCmd(func(context.Context, *cobra.Command, *coldcardOptions) error { return nil })
	cmd.SetArgs(nil)
	cmd.SetOut(new(bytes.Buffer))
	cmd.SetErr(new(bytes.Buffer))
	if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), "--mnemonic is required") {
		t.Fatalf("missing mnemonic: %v", err)
	}
}

func TestColdcardServesUntilCancelled(t *testing.T) {
	sock := filepath.Join(shortDir(t), "ckcc.sock")
	var out, errOut bytes.Buffer
	root := newRootCmd(&out, &errOut)
	root.SetArgs([]string{"coldcard", "--mnemonic", simulatorWords, "--socket", sock})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("socket never appeared")
		}
		time.Sleep(10 * time.Millisecond)
	}
	u, err := transport.DialUnixgram(sock, "")
	if err != nil {
		t.Fatal(err)
	}
	cc, err := coldcard.Open(ctx, u, coldcard.Options{})
	if err != nil {
		t.Fatal(err)
	}
	fp, err := cc.Fingerprint(ctx)
	cc.Close()
	if err != nil || fp != [4]byte{0x0f, 0x05, 0x69, 0x43} {
		t.Fatalf("fingerprint %x %v", fp, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if want := "coldcard emulator 0F056943 listening on " + sock + "\n"; out.String() != want {
		t.Fatalf("stdout %q, want %q", out.String(), want)
	}
	if !strings.Contains(errOut.String(), "round trips") {
		t.Fatalf("stderr %q", errOut.String())
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Fatal("socket left behind")
	}
}

// SIGINT and SIGTERM stop the real binary cleanly: exit 0, socket removed.
func TestSignalsStopCleanly(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			sock := filepath.Join(shortDir(t), "ckcc.sock")
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), "COUNTERSIGN_EMULATOR_CHILD=1",
				"COUNTERSIGN_EMULATOR_ARGS="+strings.Join([]string{"coldcard", "--socket", sock, "--mnemonic", simulatorWords}, "\n"))
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
			if err != nil || line != "coldcard emulator 0F056943 listening on "+sock+"\n" {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("first line %q %v (stderr %s)", line, err, stderr.String())
			}
			cmd.Process.Signal(sig)
			if err := cmd.Wait(); err != nil {
				t.Fatalf("exit after %v: %v (stderr %s)", sig, err, stderr.String())
			}
			if _, err := os.Stat(sock); !os.IsNotExist(err) {
				t.Fatal("socket left behind")
			}
		})
	}
}

func TestBadInputs(t *testing.T) {
	for _, args := range [][]string{
		{"coldcard", "--mnemonic", "not a mnemonic", "--socket", "/tmp/none.sock"},
		{"coldcard", "--mnemonic", simulatorWords, "--network", "signet", "--socket", "/tmp/none.sock"},
		{"coldcard", "--mnemonic", simulatorWords, "--socket", "/nonexistent-dir/x.sock"},
	} {
		root := newRootCmd(new(bytes.Buffer), new(bytes.Buffer))
		root.SetArgs(args)
		if err := root.ExecuteContext(context.Background()); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
}
