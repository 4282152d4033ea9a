package formats

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/hw/qr/bbqr"
	"github.com/countersign/countersign/hw/qr/ur"
)

// Wallets scanned from QR codes: the text a USB QR scanner types, or that
// is pasted, one part a line, in any order. Import recognises them by
// content like every other format.
const (
	// FormatUR is a multisig wallet as a Uniform Resource: crypto-output
	// (BCR-2020-010; a receive-only .../0/* wallet becomes <0;1>) or
	// output-descriptor (BCR-2023-010, with the wallet's name), single or
	// multi-part. Import only: Export writes files, and the QR codes of a
	// wallet are made from them (hw/qrsigner).
	FormatUR Format = "ur"
	// FormatBBQr is a wallet file carried by BBQr (Coldcard Q): the text
	// (type U) or JSON (type J) of any format Import reads, most often the
	// Coldcard multisig setup file. Import only.
	FormatBBQr Format = "bbqr"
)

// ErrCosignerExport is wrapped when the QR text is one signer's key
// export (crypto-account, account-descriptor), not a wallet: its key goes
// into a wallet with --cosigner. It wraps descriptor.ErrInvalid.
var ErrCosignerExport = fmt.Errorf("%w: a cosigner's key export, not a wallet", descriptor.ErrInvalid)

// CosignerExportError carries the keys of a cosigner export, one per
// multisig script type the signer offered, so the caller can show them.
type CosignerExportError struct {
	Fingerprint [4]byte
	Keys        []CosignerKey
}

// CosignerKey is one account key of a cosigner export.
type CosignerKey struct {
	Script descriptor.ScriptType
	Key    descriptor.Key // [fingerprint/path]xpub, without /<0;1>/*
}

func (e *CosignerExportError) Error() string {
	var keys []string
	for _, k := range e.Keys {
		keys = append(keys, k.Script.String()+" "+k.Key.String())
	}
	return fmt.Sprintf("the QR code is signer %s's key export (ur:crypto-account), not a whole wallet; use its key in a wallet with --cosigner: %s",
		hex.EncodeToString(e.Fingerprint[:]), strings.Join(keys, ", "))
}

func (e *CosignerExportError) Unwrap() error { return ErrCosignerExport }

// detectQR names the QR format of text whose first non-empty line is a UR
// or BBQr part; the readers check the other lines.
func detectQR(t string) Format {
	first, _, _ := strings.Cut(t, "\n")
	first = strings.TrimSpace(first)
	switch {
	case len(first) >= 3 && strings.EqualFold(first[:3], "ur:"):
		return FormatUR
	case bbqr.IsPart(first):
		return FormatBBQr
	}
	return ""
}

// qrLines splits pasted or scanned text into parts.
func qrLines(text string) []string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// importUR joins the parts of a UR and reads the wallet it carries.
func importUR(text string, o ImportOptions) (*Wallet, error) {
	d := ur.Decoder{MaxMessageLen: maxImportSize}
	for i, p := range qrLines(text) {
		if _, err := d.Receive(p); err != nil {
			return nil, wrapInvalid(fmt.Sprintf("UR part %d", i+1), err)
		}
	}
	u, err := d.Result()
	if err != nil {
		have, total := d.Progress()
		return nil, invalidf("the UR is incomplete: %d of %d parts; scan or paste the others too (%v)", have, total, err)
	}
	var desc, name string
	switch u.Type {
	case ur.TypeCryptoOutput:
		dd, err := ur.DecodeCryptoOutputDescriptor(u.CBOR)
		if err != nil {
			return nil, wrapInvalid("ur:crypto-output", err)
		}
		desc = dd.Multipath().String()
	case ur.TypeOutputDescriptor:
		if desc, name, err = ur.DecodeOutputDescriptor(u.CBOR); err != nil {
			return nil, wrapInvalid("ur:output-descriptor", err)
		}
	case ur.TypeCryptoAccount, ur.TypeAccountDescriptor:
		return nil, cosignerExport(u)
	default:
		return nil, fmt.Errorf("%w: ur:%s is not a wallet (want ur:crypto-output or ur:output-descriptor)", ErrUnknownFormat, u.Type)
	}
	w, err := importDescriptor(desc, o.DefaultNet)
	if err != nil {
		return nil, err
	}
	w.Name = name
	return w, nil
}

// cosignerExport turns an account export into the error that shows its
// multisig keys.
func cosignerExport(u ur.UR) error {
	a, err := ur.DecodeAccount(u.CBOR)
	if err != nil {
		return wrapInvalid("ur:"+u.Type, err)
	}
	e := &CosignerExportError{Fingerprint: a.MasterFingerprint}
	for _, st := range []descriptor.ScriptType{descriptor.ScriptWsh, descriptor.ScriptShWsh, descriptor.ScriptSh} {
		if k, err := a.Multisig(st); err == nil {
			e.Keys = append(e.Keys, CosignerKey{Script: st, Key: k})
		}
	}
	if len(e.Keys) == 0 {
		return invalidf("the ur:%s of signer %x has no multisig key (sh, sh-wsh or wsh): export the multisig xpub on the device", u.Type, a.MasterFingerprint)
	}
	return e
}

// importBBQr joins the parts of a BBQr and imports the file inside.
func importBBQr(text string, o ImportOptions) (*Wallet, Format, error) {
	var j bbqr.Joiner
	j.MaxSize = maxImportSize
	for i, p := range qrLines(text) {
		if _, err := j.Add(p); err != nil {
			return nil, "", wrapInvalid(fmt.Sprintf("BBQr part %d", i+1), err)
		}
	}
	ft, data, err := j.Result()
	if err != nil {
		if errors.Is(err, bbqr.ErrIncomplete) {
			have, total := j.Progress()
			return nil, "", invalidf("the BBQr is incomplete: %d of %d parts; scan or paste the others too", have, total)
		}
		return nil, "", wrapInvalid("BBQr", err)
	}
	if ft != bbqr.FileTypeUnicode && ft != bbqr.FileTypeJSON {
		return nil, "", fmt.Errorf("%w: the BBQr carries a %s, not a wallet file (text or JSON)", ErrUnknownFormat, bbqr.FileTypeName(ft))
	}
	if detectQR(strings.TrimSpace(string(data))) != "" {
		return nil, "", invalidf("the BBQr holds QR parts again")
	}
	w, inner, err := ImportWithOptions(data, o)
	if err != nil {
		return nil, "", fmt.Errorf("the file in the BBQr: %w", err)
	}
	return w, inner, nil
}
