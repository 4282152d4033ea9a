package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/chaincfg"

	"github.com/countersign/countersign/descriptor"
	emu "github.com/countersign/countersign/hw/emulator/qrsigner"
	"github.com/countersign/countersign/hw/hwtest"
	"github.com/countersign/countersign/hw/qr/bbqr"
	"github.com/countersign/countersign/hw/qr/render"
	"github.com/countersign/countersign/hw/qr/ur"
	"github.com/countersign/countersign/psbt"
)

// qrFixture is a regtest 2-of-3 wallet "vault" in a fresh data dir and an
// unsigned PSBT of it in a file; cosigner 0's master plays the camera
// signer.
type qrFixture struct {
	dir, work, file string
	cs              []testCosigner
	d               *descriptor.Descriptor
}

func newQRFixture(t *testing.T) *qrFixture {
	t.Helper()
	x := &qrFixture{dir: t.TempDir(), work: t.TempDir()}
	desc, cs := testDescriptor(t, "wsh", 2, 3)
	x.cs = cs
	mustRun(t, x.dir, "--network", "regtest", "wallet", "create", "vault", "--descriptor", desc)
	var err error
	if x.d, err = descriptor.Parse(desc); err != nil {
		t.Fatal(err)
	}
	p, _ := hwtest.BuildPSBT(t, x.d, &chaincfg.RegressionNetParams)
	raw, err := psbt.Serialize(p)
	if err != nil {
		t.Fatal(err)
	}
	x.file = filepath.Join(x.work, "pay.psbt")
	if err := os.WriteFile(x.file, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	return x
}

// device plays the camera signer on the parts countersign wrote: it joins
// them, signs with cosigner k and answers in the same transport.
func (x *qrFixture) device(t *testing.T, partsFile string, k int) []string {
	t.Helper()
	b, err := os.ReadFile(partsFile)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Fields(string(b))
	var raw []byte
	isBBQr := strings.HasPrefix(parts[0], "B$")
	if isBBQr {
		if _, raw, err = bbqr.Join(parts); err != nil {
			t.Fatal(err)
		}
	} else {
		var d ur.Decoder
		for _, p := range parts {
			d.Receive(p)
		}
		u, err := d.Result()
		if err != nil {
			t.Fatal(err)
		}
		if raw, err = ur.PSBTFromUR(u); err != nil {
			t.Fatal(err)
		}
	}
	p, err := psbt.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := psbt.Sign(p, x.cs[k].Master); err != nil || n != 1 {
		t.Fatalf("device signs: %d %v", n, err)
	}
	signed, _ := psbt.Serialize(p)
	if isBBQr {
		out, _, err := bbqr.Split(signed, bbqr.FileTypePSBT, bbqr.SplitOptions{MaxVersion: 10})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	msg, _ := ur.EncodePSBT(signed)
	e, _ := ur.NewEncoder(ur.TypeCryptoPSBT, msg, 120, 10)
	return e.Parts(e.SeqLen())
}

// TestSignQRByPipeAndImages: --qr-out without a terminal leaves the
// signature pending with the way forward; the answer then comes back
// piped into stdin (UR) or as pictures (BBQr, --from-image a.png b.png),
// and each adds the device's verified signature.
func TestSignQRByPipeAndImages(t *testing.T) {
	x := newQRFixture(t)
	qr := filepath.Join(x.work, "qr")
	r := runCLI(t, x.dir, "", "sign", x.file, "--with", "qr", "--qr-out", qr)
	if r.Code != 0 || !strings.Contains(r.Err, "signature pending") || !strings.Contains(r.Err, "parts.txt") || !strings.Contains(r.Err, "--from-image") {
		t.Fatalf("pending: exit %d\n%s", r.Code, r.Err)
	}
	for _, f := range []string{"parts.txt", "psbt.gif", "psbt-001.png"} {
		if _, err := os.Stat(filepath.Join(qr, f)); err != nil {
			t.Fatal(err)
		}
	}
	var js signJSON
	mustJSON(t, mustRun(t, x.dir, "--json", "sign", x.file, "--with", "qr", "--qr-out", qr, "--no-wait"), &js)
	if !js.Pending || js.Signer != "qr" || !strings.Contains(js.Message, qr) {
		t.Fatalf("pending JSON %+v", js)
	}

	answer := x.device(t, filepath.Join(qr, "parts.txt"), 0)
	out := filepath.Join(x.work, "signed.psbt")
	r = runCLI(t, x.dir, strings.Join(answer, "\n")+"\n", "sign", x.file, "--with", "qr", "-o", out)
	if r.Code != 0 || !strings.Contains(r.Err, "QR signer (UR) added 1 signature") {
		t.Fatalf("answer on stdin: exit %d\n%s", r.Code, r.Err)
	}
	if rep := inspectFile(t, x.dir, out); rep.Wallet != "vault" {
		t.Fatalf("inspect %+v", rep)
	}

	qrB := filepath.Join(x.work, "qr-bbqr")
	mustRun(t, x.dir, "sign", x.file, "--with", "qr:bbqr", "--qr-out", qrB, "--max-fragment", "300")
	answer = x.device(t, filepath.Join(qrB, "parts.txt"), 1)
	var images []string
	for i, a := range answer {
		c, err := render.New(a, 0)
		if err != nil {
			t.Fatal(err)
		}
		png, _ := c.PNG(3, 0)
		fn := filepath.Join(x.work, fmt.Sprintf("answer-%d.png", i))
		os.WriteFile(fn, png, 0o644)
		images = append(images, fn)
	}
	args := append([]string{"--json", "sign", x.file, "--with", "qr:bbqr", "-o", filepath.Join(x.work, "signed-b.psbt"), "--from-image"}, images...)
	r = runCLI(t, x.dir, "", args...)
	if r.Code != 0 {
		t.Fatalf("from images: exit %d\n%s", r.Code, r.Err)
	}
	mustJSON(t, r.Out, &js)
	if js.Added != 1 || js.Signer != "QR signer (BBQr)" {
		t.Fatalf("images JSON %+v", js)
	}
}

// TestSignQRRefusals: bad combinations are usage errors (exit 2); an
// answer that never comes is a device error (exit 5).
func TestSignQRRefusals(t *testing.T) {
	x := newQRFixture(t)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"sign", "-", "--with", "qr"}, 2, "stdin carries the scanner's answer"},
		{[]string{"sign", x.file, "extra.png", "--with", "qr"}, 2, "only taken as images after --from-image"},
		{[]string{"sign", x.file, "--with", "key:k1", "--qr-out", x.work}, 2, "are for QR signers"},
		{[]string{"sign", x.file, "--with", "qr:zz"}, 2, "unknown QR format"},
		{[]string{"sign", x.file, "--with", "qr", "--no-wait"}, 2, "needs --qr-out"},
		{[]string{"sign", x.file, "--with", "qr", "--from-image", filepath.Join(x.work, "none.png")}, 2, "--from-image"},
		{[]string{"sign", x.file, "--with", "qr"}, 5, "no answer came"},
	} {
		r := runCLI(t, x.dir, "", tc.args...)
		if r.Code != tc.code || !strings.Contains(r.Err, tc.want) {
			t.Errorf("%q: exit %d, want %d with %q:\n%s", tc.args, r.Code, tc.code, tc.want, r.Err)
		}
	}
}

// TestWalletQRExportImport: the wallet exported as QR parts (UR, BBQr),
// written as files, or shown in JSON, imports back as the same wallet; a
// signer's crypto-account is refused with its key for --cosigner; device
// register writes the same codes for a QR signer.
func TestWalletQRExportImport(t *testing.T) {
	x := newQRFixture(t)
	for _, kind := range []string{"ur", "bbqr"} {
		parts := mustRun(t, x.dir, "wallet", "export", "vault", "--format", "qr", "--qr-kind", kind)
		if kind == "bbqr" && !strings.HasPrefix(parts, "B$") || kind == "ur" && !strings.HasPrefix(parts, "UR:CRYPTO-OUTPUT/") {
			t.Fatalf("%s parts %.40q", kind, parts)
		}
		fn := filepath.Join(x.work, kind+".txt")
		os.WriteFile(fn, []byte(parts), 0o600)
		r := runCLI(t, x.dir, "", "--network", "regtest", "wallet", "import", "copy-"+kind, "--file", fn)
		if r.Code != 0 || !strings.Contains(r.Err, "Imported "+kind+" file") {
			t.Fatalf("import %s: exit %d\n%s", kind, r.Code, r.Err)
		}
		var a, b walletJSON
		mustJSON(t, mustRun(t, x.dir, "--json", "wallet", "show", "vault"), &a)
		mustJSON(t, mustRun(t, x.dir, "--json", "wallet", "show", "copy-"+kind), &b)
		if a.Descriptor != b.Descriptor || a.FirstAddress != b.FirstAddress {
			t.Fatalf("%s round trip: %s\n%s", kind, a.Descriptor, b.Descriptor)
		}
	}
	var ex exportJSON
	mustJSON(t, mustRun(t, x.dir, "--json", "wallet", "export", "vault", "--format", "qr", "--qr-out", filepath.Join(x.work, "wq")), &ex)
	if ex.Format != "qr" || ex.File != filepath.Join(x.work, "wq") || !strings.HasPrefix(ex.Content, "UR:CRYPTO-OUTPUT/") {
		t.Fatalf("export JSON %+v", ex)
	}
	if _, err := os.Stat(filepath.Join(x.work, "wq", "wallet.gif")); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"wallet", "export", "vault", "--format", "qr", "--qr-kind", "png"},
		{"wallet", "export", "vault", "--format", "descriptor", "--qr-out", x.work},
	} {
		if r := runCLI(t, x.dir, "", args...); r.Code != 2 {
			t.Errorf("%q: exit %d\n%s", args, r.Code, r.Err)
		}
	}

	e, err := emu.New(emu.Config{Mnemonic: mnemonicA, Network: &chaincfg.RegressionNetParams})
	if err != nil {
		t.Fatal(err)
	}
	acct, _ := e.AccountUR()
	r := runCLI(t, x.dir, strings.ToUpper(acct)+"\n", "wallet", "import", "solo", "--file", "-")
	if r.Code != 2 || !strings.Contains(r.Err, "not a whole wallet") || !strings.Contains(r.Err, "--cosigner '[73c5da0a/48h/1h/0h/2h]tpub") {
		t.Fatalf("crypto-account: exit %d\n%s", r.Code, r.Err)
	}

	reg := filepath.Join(x.work, "reg")
	r = runCLI(t, x.dir, "", "device", "register", "vault", "--with", "qr", "--qr-out", reg)
	if r.Code != 0 || !strings.Contains(r.Err, "no registration is recorded") {
		t.Fatalf("register: exit %d\n%s", r.Code, r.Err)
	}
	b, _ := os.ReadFile(filepath.Join(reg, "parts.txt"))
	ex2 := mustRun(t, x.dir, "wallet", "export", "vault", "--format", "qr")
	if !bytes.Equal(b, []byte(ex2)) {
		t.Fatalf("register and export show different codes")
	}
}

// TestSignQROptions: the QR flags reach the options; images may follow
// --from-image as arguments (a shell pattern).
func TestSignQROptions(t *testing.T) {
	f := NewFactory(&Streams{}, func(string) string { return "" })
	var got *SignOptions
	cmd := newCmdSign(f, func(_ context.Context, o *SignOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"pay.psbt", "--with", "qr:bbqr", "--fps", "8", "--max-fragment", "300", "--qr-out", "d", "--from-image", "a.png", "b.png", "c.png"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if got.File != "pay.psbt" || got.With != "qr:bbqr" || got.FPS != 8 || got.MaxFragment != 300 || got.QROut != "d" || strings.Join(got.FromImage, ",") != "a.png,b.png,c.png" {
		t.Fatalf("options %+v", got)
	}
	b, _ := json.Marshal(got.QROptions)
	if !strings.Contains(string(b), "a.png") {
		t.Fatal(string(b))
	}
}
