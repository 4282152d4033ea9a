package psbt

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"

	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
)

// base64Prefix and hexPrefix are how the magic bytes look in the two text
// encodings; they tell the encodings apart without guessing.
const (
	base64Prefix = "cHNidP8"
	hexPrefix    = "70736274ff"
)

// Decode parses a PSBT given as binary (starting with the magic bytes
// "psbt\xff"), as canonical base64 (RFC 4648 with padding, as BIP-174
// specifies) or as hex. Surrounding whitespace is ignored for the text
// forms; whitespace inside base64 is not. The data must pass the BIP-174
// version 0 rules record by record (see Validate). Errors wrap ErrMalformed
// and give the reason.
func Decode(data []byte) (*bpsbt.Packet, error) {
	raw, err := rawBytes(data)
	if err != nil {
		return nil, err
	}
	return decodeRaw(raw)
}

// rawBytes recognises the encoding and returns the binary PSBT.
func rawBytes(data []byte) ([]byte, error) {
	if bytes.HasPrefix(data, psbtMagic) {
		return data, nil
	}
	text := bytes.TrimSpace(data)
	switch {
	case len(text) == 0:
		return nil, malformed("empty input: expected a PSBT in base64, hex or binary")
	case bytes.HasPrefix(text, []byte(base64Prefix)):
		raw, err := base64.StdEncoding.Strict().DecodeString(string(text))
		if err != nil {
			return nil, malformed("base64: %v", err)
		}
		// Go's decoder skips line breaks; BIP-174 base64 is one unbroken
		// string, so insist on the canonical form byte for byte.
		if base64.StdEncoding.EncodeToString(raw) != string(text) {
			return nil, malformed("base64 is not canonical (line breaks or other characters inside it): pass the PSBT as one unbroken base64 string")
		}
		return raw, nil
	case len(text) >= len(hexPrefix) && bytes.EqualFold(text[:len(hexPrefix)], []byte(hexPrefix)):
		raw := make([]byte, hex.DecodedLen(len(text)))
		if _, err := hex.Decode(raw, text); err != nil {
			return nil, malformed("hex: %v", err)
		}
		return raw, nil
	}
	return nil, malformed("not a PSBT: expected base64 starting %q, hex starting %q or binary starting with the bytes \"psbt\\xff\"", base64Prefix, hexPrefix)
}

// decodeRaw runs the strict scan, then btcd's parser, then Validate.
func decodeRaw(raw []byte) (p *bpsbt.Packet, err error) {
	if err := scanPSBT(raw); err != nil {
		return nil, err
	}
	// The scan refuses everything known to crash btcd's parser; this
	// recover is the last line so that no input can take the process down.
	defer func() {
		if r := recover(); r != nil {
			p, err = nil, malformed("the PSBT parser failed on this input (%v)", r)
		}
	}()
	p, err = bpsbt.NewFromRawBytes(bytes.NewReader(raw), false)
	if err != nil {
		return nil, malformed("%v", err)
	}
	if err := validate(p, true); err != nil {
		return nil, err
	}
	return p, nil
}

// Serialize returns the binary BIP-174 serialization of p. Records within
// each map are written in btcd's order: known types by key type, then the
// unknown records in the order they are held (Combine sorts them).
func Serialize(p *bpsbt.Packet) ([]byte, error) {
	if err := checkShape(p); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := p.Serialize(&b); err != nil {
		return nil, malformed("cannot serialize: %v", err)
	}
	return b.Bytes(), nil
}

// Encode returns p as canonical base64, the form BIP-174 defines for text.
func Encode(p *bpsbt.Packet) (string, error) {
	raw, err := Serialize(p)
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(raw), nil
}

// checkShape is the minimum every function needs before it indexes into a
// packet: a transaction and one map per input and output.
func checkShape(p *bpsbt.Packet) error {
	if p == nil || p.UnsignedTx == nil {
		return malformed("no PSBT (nil packet or no unsigned transaction)")
	}
	if len(p.Inputs) != len(p.UnsignedTx.TxIn) || len(p.Outputs) != len(p.UnsignedTx.TxOut) {
		return malformed("%d input maps and %d output maps for a transaction with %d inputs and %d outputs",
			len(p.Inputs), len(p.Outputs), len(p.UnsignedTx.TxIn), len(p.UnsignedTx.TxOut))
	}
	return nil
}

// txid returns the txid of the unsigned transaction as a string, for
// messages.
func txid(p *bpsbt.Packet) string {
	return p.UnsignedTx.TxHash().String()
}
