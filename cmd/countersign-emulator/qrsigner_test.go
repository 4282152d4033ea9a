package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/hw/qr/ur"
)

const abandonWords = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"

func TestQRSignerFlags(t *testing.T) {
	var got *qrsignerOptions
	cmd := newQRSignerCmd(func(_ context.Context, _ *cobra.Command, o *qrsignerOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"--mnemonic", "a b", "--wallet", "wsh(x)", "--network", "regtest", "--reject", "--max-fragment", "90", "--export-account"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if got.Mnemonic != "a b" || got.Wallet != "wsh(x)" || got.Network != "regtest" || !got.Reject || got.MaxFragment != 90 || !got.ExportAccount {
		t.Fatalf("options %+v", got)
	}
	for _, args := range [][]string{nil, {"--mnemonic", "a", "--wallet", "x", "--wallet-file", "y"}} {
		cmd = newQRSignerCmd(func(context.Context, *cobra.Command, *qrsignerOptions) error { return nil })
		cmd.SetArgs(args)
		cmd.SetOut(new(bytes.Buffer))
		cmd.SetErr(new(bytes.Buffer))
		if err := cmd.Execute(); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
}

// TestQRSignerFilter: the account export is a crypto-account countersign
// reads; scanning a wallet's crypto-output registers it (the screen, on
// stderr, says so) and nothing is written on stdout but answers.
func TestQRSignerFilter(t *testing.T) {
	var out, errOut bytes.Buffer
	root := newRootCmd(&out, &errOut)
	root.SetArgs([]string{"qrsigner", "--mnemonic", abandonWords, "--network", "regtest", "--export-account"})
	if err := root.ExecuteContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	u, err := ur.Decode(strings.TrimSpace(out.String()))
	if err != nil || u.Type != ur.TypeCryptoAccount {
		t.Fatalf("export %q: %v", out.String(), err)
	}
	a, err := ur.DecodeAccount(u.CBOR)
	if err != nil {
		t.Fatal(err)
	}
	key, err := a.Multisig(descriptor.ScriptWsh)
	if err != nil || !strings.HasPrefix(key.String(), "[73c5da0a/48h/1h/0h/2h]tpub") {
		t.Fatalf("key %s: %v", key, err)
	}
	d, err := descriptor.Parse("wsh(sortedmulti(1," + key.String() + "/<0;1>/*))")
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := ur.EncodeCryptoOutputDescriptor(d, ur.OutputOptions{})
	part, _ := ur.Encode(ur.UR{Type: ur.TypeCryptoOutput, CBOR: msg})

	out.Reset()
	root = newRootCmd(&out, &errOut)
	root.SetIn(strings.NewReader(strings.ToUpper(part) + "\n"))
	root.SetArgs([]string{"qrsigner", "--mnemonic", abandonWords, "--network", "regtest"})
	if err := root.ExecuteContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	if out.Len() != 0 || !strings.Contains(errOut.String(), "qrsigner emulator 73C5DA0A reading QR parts on stdin") || !strings.Contains(errOut.String(), "registered wallet 1-of-1 wsh") {
		t.Fatalf("stdout %q, stderr %q", out.String(), errOut.String())
	}
	root = newRootCmd(&out, &errOut)
	root.SetArgs([]string{"qrsigner", "--mnemonic", abandonWords, "--wallet", "wsh(sortedmulti(1,[00000000/48h]tpubX/<0;1>/*))"})
	if err := root.ExecuteContext(context.Background()); err == nil {
		t.Fatal("a bad wallet was accepted")
	}
}
