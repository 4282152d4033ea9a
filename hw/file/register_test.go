package file_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/descriptor/formats"
	"github.com/countersign/countersign/hw"
	"github.com/countersign/countersign/hw/file"
	"github.com/countersign/countersign/hw/hwtest"
)

func TestRegisterWritesColdcardFile(t *testing.T) {
	w := newTestWallet(t)
	dir := t.TempDir()
	var pr prompts
	s := &file.Signer{Dir: dir, Prompt: pr.add}
	tok, err := s.Register(context.Background(), hwtest.Wallet(w.d, regtest, "Family Vault"))
	if err != nil || tok != nil {
		t.Fatalf("Register = %v, %v", tok, err)
	}
	path := filepath.Join(dir, "Family_Vault-coldcard.txt")
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want, err := formats.Export(&formats.Wallet{Name: "Family Vault", Descriptor: w.d, Network: regtest}, formats.FormatColdcard)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatalf("%s =\n%s\nwant\n%s", path, got, want)
	}
	back, f, err := formats.Import(got, regtest)
	if err != nil || f != formats.FormatColdcard || !descriptor.Equal(back.Descriptor, w.d) {
		t.Fatalf("the file does not import back as the wallet: %v, %v", f, err)
	}
	if !strings.Contains(pr.all(), "Multisig Wallets") || !strings.Contains(pr.all(), path) {
		t.Errorf("prompt %q does not say where the file is and what to do", pr.all())
	}
}

func TestUnsupported(t *testing.T) {
	w := newTestWallet(t)
	s := &file.Signer{Dir: t.TempDir()}
	ctx := context.Background()
	_, err1 := s.Fingerprint(ctx)
	_, err2 := s.Xpub(ctx, []uint32{0})
	_, err3 := s.DisplayAddress(ctx, hwtest.Wallet(w.d, regtest, "w"), 0, 0)
	for i, err := range []error{err1, err2, err3} {
		if !errors.Is(err, file.ErrUnsupported) || !errors.Is(err, hw.ErrDevice) || !strings.Contains(err.Error(), "device") {
			t.Errorf("call %d: %v, want ErrUnsupported pointing at the device", i+1, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}
