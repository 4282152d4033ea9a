package psbt

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"slices"

	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/wire"
)

// base64Prefix and hexPrefix are how the magic bytes look in the two text
// encodings; they tell the encodings apart without guessing.
const (
	base64Prefix = "cHNidP8"
	hexPrefix    = "70736274ff"
)

// Decode parses a PSBT given as binary (starting with the magic bytes
// "psbt\xff"), as canonical base64 (RFC 4648 with padding, as BIP-174
// specifies) or as hex, in version 0 (BIP-174) or version 2 (BIP-370),
// with its records in any order. Surrounding whitespace is ignored for the
// text forms; whitespace inside base64 is not. The data must pass the
// rules of its version record by record (see Validate), with one check
// left for later: that each partial-signature and BIP-32 public key,
// whose encoding is checked here, is a point on the curve (a square root
// per key, most of the cost of decoding a large PSBT). Every function of
// this package that reads a packet (Gate, CheckWallet, Inspect, Update,
// Combine, FinalizePacket) checks it first, after deriving the wallet's
// own keys, which need none; Validate checks it too. A caller that hands a
// decoded packet on without any of those (a format converter) calls
// Validate. Errors wrap ErrMalformed and give the reason.
func Decode(data []byte) (*bpsbt.Packet, error) {
	p, _, err := DecodeVersion(data)
	return p, err
}

// The most inputs and outputs a PSBT may have. A relayable transaction
// weighs at most 400,000 units (Bitcoin Core's standardness limit): at
// least 164 units an input (41 bytes without witness) and 36 an output
// (9 bytes) make that about 2,400 inputs or 11,000 outputs. The limits sit
// above those, so that no real PSBT is refused, while a crafted one cannot
// make every step loop over millions of records.
const (
	MaxInputs  = 5_000
	MaxOutputs = 20_000
)

// DecodeVersion is Decode that also returns the PSBT's version (0 or 2),
// so that a command can write its result in the version it was given.
func DecodeVersion(data []byte) (*bpsbt.Packet, uint32, error) {
	raw, err := rawBytes(data)
	if err != nil {
		return nil, 0, err
	}
	return decodeRaw(raw)
}

// rawBytes recognises the encoding and returns the binary PSBT.
func rawBytes(data []byte) ([]byte, error) {
	if bytes.HasPrefix(data, psbtMagic) {
		// The decoded Packet shares the bytes it is read from: a copy,
		// so that the caller's buffer stays theirs.
		return bytes.Clone(data), nil
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

// decodeRaw runs the strict scan, builds the Packet from its records (or,
// for a PSBT with taproot records, has btcd's parser read the version 0
// form of them), then runs Validate's rules. raw must not change
// afterwards: the Packet shares its bytes.
func decodeRaw(raw []byte) (p *bpsbt.Packet, version uint32, err error) {
	sc, err := scanPSBT(raw)
	if err != nil {
		return nil, 0, err
	}
	p, err = sc.packet()
	switch {
	case err == nil:
		// Whether the keys are points is checked before anything uses
		// them (Memo.checkKeys).
		if err := validate(p, curveLater); err != nil {
			return nil, 0, err
		}
		return p, sc.version, nil
	case !errors.Is(err, errUseBtcdParser):
		return nil, 0, err
	}
	if !sc.inOrder() {
		if raw, err = sc.v0Bytes(); err != nil {
			return nil, 0, err
		}
	}
	// The scan refuses everything known to crash btcd's parser; this
	// recover is the last line so that no input can take the process down.
	defer func() {
		if r := recover(); r != nil {
			p, version, err = nil, 0, malformed("the PSBT parser failed on this input (%v)", r)
		}
	}()
	p, err = bpsbt.NewFromRawBytes(bytes.NewReader(raw), false)
	if err != nil {
		return nil, 0, malformed("%v", err)
	}
	if err := validate(p, curveLater); err != nil {
		return nil, 0, err
	}
	return p, sc.version, nil
}

// Serialize returns the binary version 0 (BIP-174) serialization of p, in
// the canonical order: the known records by key type, then the unknown and
// proprietary records by key. Version 2 records that p carries are left
// out (see SerializeVersion).
func Serialize(p *bpsbt.Packet) ([]byte, error) {
	if err := checkShape(p); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	// Sized first: a sweep's PSBT is megabytes, and a buffer grown by
	// doubling allocates and copies it about twice over.
	b.Grow(sizeHint(p))
	if err := withoutCarried(p).Serialize(&b); err != nil {
		return nil, malformed("cannot serialize: %v", err)
	}
	return b.Bytes(), nil
}

// sizeHint is about the size of p serialized (a little above for the
// records' key and length bytes); it only sizes a buffer.
func sizeHint(p *bpsbt.Packet) int {
	unknowns := func(us []*bpsbt.Unknown) int {
		n := 0
		for _, u := range us {
			n += 8 + len(u.Key) + len(u.Value)
		}
		return n
	}
	n := 64 + p.UnsignedTx.SerializeSize() + unknowns(p.Unknowns) // global xpubs are among the unknowns
	tx := func(t *wire.MsgTx) int {
		if t == nil {
			return 0
		}
		return t.SerializeSize()
	}
	for i := range p.Inputs {
		in := &p.Inputs[i]
		n += 16 + tx(in.NonWitnessUtxo) + len(in.RedeemScript) + len(in.WitnessScript) + len(in.FinalScriptSig) + len(in.FinalScriptWitness)
		if in.WitnessUtxo != nil {
			n += 16 + len(in.WitnessUtxo.PkScript)
		}
		for _, s := range in.PartialSigs {
			n += 8 + len(s.PubKey) + len(s.Signature)
		}
		for _, d := range in.Bip32Derivation {
			n += 12 + len(d.PubKey) + 4*len(d.Bip32Path)
		}
		n += unknowns(in.Unknowns) + 128*(len(in.TaprootScriptSpendSig)+len(in.TaprootLeafScript)+len(in.TaprootBip32Derivation))
	}
	for i := range p.Outputs {
		out := &p.Outputs[i]
		n += 8 + len(out.RedeemScript) + len(out.WitnessScript)
		for _, d := range out.Bip32Derivation {
			n += 12 + len(d.PubKey) + 4*len(d.Bip32Path)
		}
		n += unknowns(out.Unknowns) + 128*len(out.TaprootBip32Derivation)
	}
	return n
}

// SerializeVersion writes p as a version 0 or version 2 PSBT.
func SerializeVersion(p *bpsbt.Packet, version uint32) ([]byte, error) {
	switch version {
	case 0:
		return Serialize(p)
	case 2:
		return serializeV2(p)
	}
	return nil, badRequest("PSBT version %d: countersign writes version 0 and version 2", version)
}

// withoutCarried returns p, or a shallow copy of it whose unknown records
// leave out the version 2 fields it carries and are sorted by key.
func withoutCarried(p *bpsbt.Packet) *bpsbt.Packet {
	q := *p
	q.Unknowns = sortedUnknowns(p.Unknowns, carriedGlobal)
	q.Inputs = make([]bpsbt.PInput, len(p.Inputs))
	for i := range p.Inputs {
		q.Inputs[i] = p.Inputs[i]
		q.Inputs[i].Unknowns = sortedUnknowns(p.Inputs[i].Unknowns, carriedInput)
	}
	q.Outputs = make([]bpsbt.POutput, len(p.Outputs))
	for j := range p.Outputs {
		q.Outputs[j] = p.Outputs[j]
		q.Outputs[j].Unknowns = sortedUnknowns(p.Outputs[j].Unknowns, func(uint64) bool { return false })
	}
	return &q
}

// sortedUnknowns returns us sorted by key, without the records whose type
// drop selects. us itself is not changed.
func sortedUnknowns(us []*bpsbt.Unknown, drop func(uint64) bool) []*bpsbt.Unknown {
	out := make([]*bpsbt.Unknown, 0, len(us))
	for _, u := range us {
		if u == nil {
			continue
		}
		if rec, err := recordOf(u.Key, u.Value); err == nil && drop(rec.keyType) {
			continue
		}
		out = append(out, u)
	}
	slices.SortStableFunc(out, func(a, b *bpsbt.Unknown) int { return bytes.Compare(a.Key, b.Key) })
	return out
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
