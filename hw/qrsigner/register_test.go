package qrsigner_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/descriptor/formats"
	"github.com/countersign/countersign/hw"
	"github.com/countersign/countersign/hw/qr/bbqr"
	"github.com/countersign/countersign/hw/qr/ur"
	"github.com/countersign/countersign/hw/qrsigner"
)

// TestRegisterWritesWallet: Register writes the wallet for enrolment. A
// Coldcard Q gets its multisig setup file as BBQr text, which imports back
// to the same wallet with its name; UR signers get crypto-output of the
// receive branch, or output-descriptor with the name for URv2.
func TestRegisterWritesWallet(t *testing.T) {
	tw := newTestWallet(t)
	read := func(dir string) []string {
		b, err := os.ReadFile(filepath.Join(dir, "parts.txt"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"wallet.gif", "wallet-001.png"} {
			if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
				t.Error(err)
			}
		}
		return strings.Fields(string(b))
	}

	dir := t.TempDir()
	var pr lines
	token, err := hw.NewSigner(qrsigner.New(qrsigner.Options{Format: qrsigner.BBQr, OutDir: dir, Prompt: pr.add})).Register(context.Background(), tw.w)
	if err != nil || token != nil {
		t.Fatalf("register: %v %x", err, token)
	}
	ft, text, err := bbqr.Join(read(dir))
	if err != nil || ft != bbqr.FileTypeUnicode {
		t.Fatalf("BBQr %c: %v", ft, err)
	}
	w, f, err := formats.Import(text, regtest)
	if err != nil || f != formats.FormatColdcard || w.Name != "vault" || !descriptor.Equal(w.Descriptor, tw.d) {
		t.Fatalf("the BBQr wallet imports as %v %q: %v", f, w.Name, err)
	}
	if !strings.Contains(pr.all(), "Import from QR") {
		t.Errorf("prompt %q", pr.all())
	}

	dir = t.TempDir()
	if _, err := hw.NewSigner(qrsigner.New(qrsigner.Options{OutDir: dir})).Register(context.Background(), tw.w); err != nil {
		t.Fatal(err)
	}
	desc, err := ur.DecodeCryptoOutput(joinParts(t, read(dir)))
	if err != nil {
		t.Fatal(err)
	}
	recv, _ := tw.d.Single(0)
	if desc != recv.String() {
		t.Fatalf("crypto-output %s, want the receive branch %s", desc, recv)
	}

	dir = t.TempDir()
	if _, err := hw.NewSigner(qrsigner.New(qrsigner.Options{OutDir: dir, URv2: true})).Register(context.Background(), tw.w); err != nil {
		t.Fatal(err)
	}
	desc, name, err := ur.DecodeOutputDescriptor(joinParts(t, read(dir)))
	if err != nil || desc != tw.d.String() || name != "vault" {
		t.Fatalf("output-descriptor %s %q: %v", desc, name, err)
	}
}

// TestShowWalletOnScreen animates the wallet until Enter, or until
// Ctrl-C; without a terminal or a folder it says to use --qr-out.
func TestShowWalletOnScreen(t *testing.T) {
	tw := newTestWallet(t)
	var scr lockedBuffer
	pr, pw := io.Pipe()
	go func() {
		for !strings.Contains(scr.String(), "▀") {
			time.Sleep(5 * time.Millisecond)
		}
		io.WriteString(pw, "\n")
	}()
	ser, err := qrsigner.New(qrsigner.Options{Screen: &scr, In: pr, Width: 100, Height: 50, FPS: 50}).ShowWallet(context.Background(), tw.w)
	if err != nil {
		t.Fatal(err)
	}
	if len(ser.Parts) == 0 || !strings.Contains(scr.String(), "Press Enter") {
		t.Fatalf("screen %q", scr.String())
	}
	checkFrames(t, scr.String(), 100, 50)

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := qrsigner.New(qrsigner.Options{Screen: io.Discard}).ShowWallet(ctx, tw.w); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("stopped: %v", err)
	}
	if _, err := qrsigner.New(qrsigner.Options{}).ShowWallet(ctx, tw.w); !errors.Is(err, hw.ErrUnsupported) || !strings.Contains(err.Error(), "--qr-out") {
		t.Fatalf("no terminal: %v", err)
	}
}

// TestWalletSeriesTaprootAndMiniscript: crypto-output cannot describe a
// taproot multisig or a miniscript wallet, so those go as
// output-descriptor (the descriptor text and the name) even without
// URv2, and the text imports back to the same wallet.
func TestWalletSeriesTaprootAndMiniscript(t *testing.T) {
	const a = "[00000001/48h/1h/0h/3h]tpubD6NzVbkrYhZ4WaWSyoBvQwbpLkojyoTZPRsgXELWz3Popb3qkjcJyJUGLnL4qHHoQvao8ESaAstxYSnhyswJ76uZPStJRJCTKvosUCJZL5B"
	const b = "[00000002/48h/1h/0h/3h]tpubD6NzVbkrYhZ4XgiXtGrdW5XDAPFCL9h7we1vwNCpn8tGbBcgfVYjXyhWo4E1xkh56hjod1RhGjxbaTLV3X4FyWuejifB9jusQ46QzG87VKp"
	for _, text := range []string{
		"tr(musig(" + a + "," + b + ")/<0;1>/*,sortedmulti_a(2," + a + "/<0;1>/*," + b + "/<0;1>/*))",
		"wsh(or_d(pk(" + a + "/<0;1>/*),and_v(v:pkh(" + b + "/<0;1>/*),older(52560))))",
	} {
		d, err := descriptor.Parse(text)
		if err != nil {
			t.Fatal(err)
		}
		ser, err := qrsigner.Options{}.WalletSeries(&hw.Wallet{Name: "family", Descriptor: d, Network: regtest})
		if err != nil {
			t.Fatalf("%s: %v", text, err)
		}
		got, name, err := ur.DecodeOutputDescriptor(joinParts(t, ser.Parts))
		if err != nil || name != "family" {
			t.Fatalf("%s: output-descriptor %q: %v", text, name, err)
		}
		back, err := descriptor.Parse(got)
		if err != nil || !descriptor.Equal(back, d) {
			t.Fatalf("%s: the UR carries %s (%v)", text, got, err)
		}
	}
}
