package qrsigner

import (
	"context"
	"fmt"
	"time"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/descriptor/formats"
	"github.com/countersign/countersign/hw"
	"github.com/countersign/countersign/hw/qr/bbqr"
	"github.com/countersign/countersign/hw/qr/render"
	"github.com/countersign/countersign/hw/qr/ur"
)

// WalletSeries is the wallet as the device enrols it from QR codes:
//
//   - BBQr (Coldcard Q): the Coldcard multisig setup file as Unicode
//     text (file type U), which Settings > Multisig Wallets > Import from
//     QR reads;
//   - UR: crypto-output (BCR-2020-010) of the receive branch, .../0/*,
//     which SeedSigner, Keystone, Passport and Jade read; with URv2, and
//     for taproot and miniscript wallets (which crypto-output cannot
//     describe), the output-descriptor type (BCR-2023-010) keeping <0;1>
//     and the name.
func (o Options) WalletSeries(w *hw.Wallet) (*Series, error) {
	if o.Format == BBQr {
		text, err := formats.Export(&formats.Wallet{Name: w.Name, Descriptor: w.Descriptor, Network: w.Network}, formats.FormatColdcard)
		if err != nil {
			return nil, fmt.Errorf("write the Coldcard file of wallet %q: %w", w.Name, err)
		}
		return o.newSeries(bbqr.FileTypeUnicode, text, "", nil)
	}
	d := w.Descriptor.Multipath()
	// crypto-output has no taproot multisig (multi_a, musig) and no
	// miniscript: such a wallet goes as output-descriptor, the text form,
	// which is the only UR that can carry it (Sparrow and Keystone read it).
	if o.URv2 || d.Script == descriptor.ScriptTr || d.IsMiniscript() {
		msg, err := ur.EncodeOutputDescriptor(d.String(), w.Name)
		if err != nil {
			return nil, err
		}
		return o.newSeries(0, nil, ur.TypeOutputDescriptor, msg)
	}
	msg, err := ur.EncodeCryptoOutputDescriptor(d, ur.OutputOptions{})
	if err != nil {
		return nil, err
	}
	return o.newSeries(0, nil, ur.TypeCryptoOutput, msg)
}

// Register shows the wallet for the device to enrol (ShowWallet) and
// returns no token: nothing comes back from the device.
func (s *Signer) Register(ctx context.Context, w *hw.Wallet) ([]byte, error) {
	_, err := s.ShowWallet(ctx, w)
	return nil, err
}

// ShowWallet shows w as QR codes for the device to enrol (WalletSeries):
// written to OutDir when set, else animated on Screen until a line (Enter)
// arrives on In or the input ends. It returns the series it showed.
// Cancelling ctx stops the animation and returns ctx's error.
func (s *Signer) ShowWallet(ctx context.Context, w *hw.Wallet) (*Series, error) {
	ser, err := s.o.WalletSeries(w)
	if err != nil {
		return nil, err
	}
	how := "On a Coldcard Q: Settings > Multisig Wallets > Import from QR, scan, check every key and approve."
	if s.o.Format == UR {
		how = "On the signer, scan it as the multisig wallet descriptor (SeedSigner: Scan, then the descriptor QR; Keystone: Multisig Wallet > Import) and check every key."
	}
	if s.o.OutDir != "" {
		written, err := ser.WriteDir(s.o.OutDir, "wallet", s.fps())
		if err != nil {
			return nil, err
		}
		s.prompt(fmt.Sprintf("Wrote wallet %q as %s. %s", w.Name, written.describe(), how))
		return ser, nil
	}
	if s.o.Screen == nil {
		return nil, fmt.Errorf("%w: nowhere to show the wallet's QR code: there is no terminal; write the QR frames with --qr-out DIR", hw.ErrUnsupported)
	}
	s.prompt(fmt.Sprintf("Showing wallet %q. %s", w.Name, how))
	return ser, s.animateUntilEnter(ctx, ser, "Press Enter when the signer has the wallet (Ctrl-C to stop).")
}

// animateUntilEnter shows ser on Screen until a line or the end of In, or
// until ctx ends.
func (s *Signer) animateUntilEnter(ctx context.Context, ser *Series, hint string) error {
	scr := &screen{w: s.o.Screen, width: s.o.Width}
	defer scr.clear()
	t := time.NewTicker(time.Duration(float64(time.Second) / s.fps()))
	defer t.Stop()
	in := s.input()
	for {
		part := ser.Next()
		code, err := render.New(part, ser.Version)
		if err != nil {
			if code, err = render.New(part, 0); err != nil {
				return err
			}
		}
		if err := scr.draw(code, fmt.Sprintf("%d part(s), %s", len(ser.Parts), s.o.Format), hint); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-in:
			return nil
		case <-t.C:
		}
	}
}
