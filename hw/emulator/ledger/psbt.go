package ledger

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/btcsuite/btcd/wire"
)

// PSBT key types (BIP-174, BIP-370) the emulator reads. Version 2 maps
// carry the transaction field by field; the emulator reads it from them,
// as the app does, and parses every field itself.
const (
	globalUnsignedTx       = 0x00
	globalTxVersion        = 0x02
	globalFallbackLocktime = 0x03
	globalInputCount       = 0x04
	globalOutputCount      = 0x05
	globalVersion          = 0xFB

	inNonWitnessUtxo  = 0x00
	inWitnessUtxo     = 0x01
	inSighashType     = 0x03
	inRedeemScript    = 0x04
	inWitnessScript   = 0x05
	inBip32Derivation = 0x06
	inTapBip32        = 0x16 // BIP-371 PSBT_IN_TAP_BIP32_DERIVATION
	inPreviousTxid    = 0x0E
	inOutputIndex     = 0x0F
	inSequence        = 0x10

	outBip32Derivation = 0x02
	outTapBip32        = 0x07 // BIP-371 PSBT_OUT_TAP_BIP32_DERIVATION
	outAmount          = 0x03
	outScript          = 0x04
)

// maxInputs is the app's limit on inputs (since 2.0.4); outputs get the
// same bound here.
const (
	maxInputs  = 512
	maxOutputs = 512
)

// maxMoney is the total supply in satoshis: the app refuses amounts above
// it (sign_psbt.c, BITCOIN_TOTAL_SUPPLY).
const maxMoney = 21_000_000 * 100_000_000

// maxDerivationSteps is the app's MAX_BIP32_PATH_STEPS (src/constants.h):
// a BIP32_DERIVATION value longer than the fingerprint and that many steps
// is an error.
const maxDerivationSteps = 10

// signRequest is SIGN_PSBT's data.
type signRequest struct {
	global              mapCommitment
	nInputs, nOutputs   uint64
	inputsRoot, outputs [32]byte
	walletID            [32]byte
	hmac                []byte
}

func parseSignRequest(d []byte) (signRequest, error) {
	r := bytes.NewReader(d)
	var q signRequest
	bad := fail(swWrongDataLength, "malformed SIGN_PSBT")
	var err error
	if q.global.size, err = wire.ReadVarInt(r, 0); err != nil {
		return q, bad
	}
	if _, err := io.ReadFull(r, q.global.keysRoot[:]); err != nil {
		return q, bad
	}
	if _, err := io.ReadFull(r, q.global.valsRoot[:]); err != nil {
		return q, bad
	}
	if q.nInputs, err = wire.ReadVarInt(r, 0); err != nil {
		return q, bad
	}
	if _, err := io.ReadFull(r, q.inputsRoot[:]); err != nil {
		return q, bad
	}
	if q.nOutputs, err = wire.ReadVarInt(r, 0); err != nil {
		return q, bad
	}
	if _, err := io.ReadFull(r, q.outputs[:]); err != nil {
		return q, bad
	}
	if _, err := io.ReadFull(r, q.walletID[:]); err != nil {
		return q, bad
	}
	q.hmac = make([]byte, 32)
	if _, err := io.ReadFull(r, q.hmac); err != nil || r.Len() != 0 {
		return q, bad
	}
	return q, nil
}

func (s *session) signPSBT() ([]byte, error) {
	q, err := parseSignRequest(s.data)
	if err != nil {
		return nil, err
	}
	if q.nInputs == 0 || q.nInputs > maxInputs || q.nOutputs == 0 || q.nOutputs > maxOutputs {
		return nil, fail(swIncorrectData, "%d inputs, %d outputs", q.nInputs, q.nOutputs)
	}
	code := uint16(ecSignMissingHMAC)
	if err := s.checkHMAC(q.walletID, q.hmac, &code); err != nil {
		return nil, err
	}
	w, err := s.readWallet(q.walletID)
	if err != nil {
		return nil, err
	}
	if !w.hasInternalKey() {
		return nil, failCode(swIncorrectData, ecSignNoInternalKey, "no key of this device")
	}
	p, err := s.readPSBT(q)
	if err != nil {
		return nil, err
	}
	plan, text, err := s.e.review(w, p)
	if err != nil {
		return nil, err
	}
	// MuSig2 (sign_psbt.c, handler_sign_psbt): without any pubnonce in
	// the PSBT, round 1 yields this device's pubnonces, without asking the
	// user; with pubnonces, round 2 signs. Plain keys sign either way,
	// after the user approves; a PSBT only for musig() in round 1 asks
	// nothing.
	hasNonces, musigToSign, onlyMusig := false, false, true
	for i := range p.inputs {
		hasNonces = hasNonces || len(p.inputs[i].musigNonces) > 0
	}
	for pos, ok := range plan.toSign {
		if ok {
			musigToSign = musigToSign || w.pol.exprs[pos].musig != nil
			onlyMusig = onlyMusig && w.pol.exprs[pos].musig != nil
		}
	}
	var sessionID, newRoot [32]byte
	var musigRoot *[32]byte
	if musigToSign {
		prevs := make([]txOut, len(plan.inputs))
		for i := range plan.inputs {
			prevs[i] = plan.inputs[i].prev
		}
		sessionID = musigSessionID(w, p.tx, newBIP341Hashes(p.tx, prevs))
	}
	if musigToSign && !hasNonces {
		var ys [][]byte
		if ys, newRoot, err = s.e.musigRound1(w, p, plan); err != nil {
			return nil, err
		}
		if err := s.yieldAll(ys); err != nil {
			return nil, err
		}
	}
	if !onlyMusig || hasNonces {
		if musigToSign && hasNonces {
			// Round 2 uses the session once: it is gone even if
			// signing fails (musigsession_round2_initialize).
			root, ok := s.e.takeMuSigSession(sessionID)
			if !ok {
				return nil, fail(swBadState, "no MuSig2 session for this PSBT: round 1 did not run here, or round 2 already did")
			}
			musigRoot = &root
		}
		if !s.approve(Request{Kind: "sign", Text: text}) {
			return nil, fail(swDeny, "refused")
		}
		sigs, err := s.e.sign(w, p, plan, s.proto, musigRoot)
		if err != nil {
			return nil, err
		}
		if err := s.yieldAll(sigs); err != nil {
			return nil, err
		}
	}
	if musigToSign && !hasNonces {
		// Kept only now that every pubnonce is out (musigsession_commit).
		s.e.keepMuSigSession(sessionID, newRoot)
	}
	return nil, nil
}

// yieldAll sends YIELDs, each acknowledged by the host.
func (s *session) yieldAll(ys [][]byte) error {
	for _, y := range ys {
		if _, err := s.ask(append([]byte{ccYield}, y...)); err != nil {
			return err
		}
	}
	return nil
}

// derivation is one BIP32_DERIVATION entry: the key's public key and its
// origin.
type derivation struct {
	pubKey     []byte     // compressed, or x-only in a TAP_BIP32_DERIVATION
	leafHashes [][32]byte // TAP_BIP32_DERIVATION's leaves
	fpr        [4]byte
	path       []uint32
}

// psbtInput is one input map: its one-byte-key fields by type, and its
// BIP-32 derivations in key order.
type psbtInput struct {
	fields      map[byte][]byte
	derivations []derivation
	// musigNonces are the PSBT_IN_MUSIG2_PUB_NONCE values by key data.
	musigNonces map[string][]byte
}

// psbtOutput is one output map, likewise.
type psbtOutput struct {
	fields      map[byte][]byte
	derivations []derivation
}

// unsignedPSBT is what SIGN_PSBT revealed: the transaction the maps
// describe, and the maps.
type unsignedPSBT struct {
	tx      *tx
	inputs  []psbtInput
	outputs []psbtOutput
}

// readPSBT reads every map through the client commands and rebuilds the
// transaction from the version 2 fields.
func (s *session) readPSBT(q signRequest) (*unsignedPSBT, error) {
	global, err := s.readMap(q.global)
	if err != nil {
		return nil, err
	}
	g, _, err := splitMap(global, 0xff, 0xff)
	if err != nil {
		return nil, err
	}
	if _, ok := g[globalUnsignedTx]; ok {
		return nil, fail(swIncorrectData, "a version 2 PSBT with an unsigned transaction")
	}
	if v, ok := g[globalVersion]; !ok || !bytes.Equal(v, []byte{2, 0, 0, 0}) {
		return nil, fail(swIncorrectData, "PSBT_GLOBAL_VERSION is not 2")
	}
	t := &tx{}
	ver, ok := u32(g, globalTxVersion)
	if !ok {
		return nil, fail(swIncorrectData, "no PSBT_GLOBAL_TX_VERSION")
	}
	t.version = ver
	// The app uses the fallback lock time as it is and ignores the
	// inputs' PSBT_IN_REQUIRED_*_LOCKTIME (sign_psbt.c,
	// init_global_state); so does the emulator.
	if lt, ok := u32(g, globalFallbackLocktime); ok {
		t.locktime = lt
	} else if _, present := g[globalFallbackLocktime]; present {
		return nil, fail(swIncorrectData, "malformed PSBT_GLOBAL_FALLBACK_LOCKTIME")
	}
	if n, ok := count(g, globalInputCount); !ok || n != q.nInputs {
		return nil, fail(swIncorrectData, "PSBT_GLOBAL_INPUT_COUNT disagrees with the command")
	}
	if n, ok := count(g, globalOutputCount); !ok || n != q.nOutputs {
		return nil, fail(swIncorrectData, "PSBT_GLOBAL_OUTPUT_COUNT disagrees with the command")
	}
	p := &unsignedPSBT{tx: t}
	for i := uint64(0); i < q.nInputs; i++ {
		m, err := s.readListedMap(q.inputsRoot, q.nInputs, i)
		if err != nil {
			return nil, err
		}
		in, ders, err := splitMap(m, inBip32Derivation, inTapBip32)
		if err != nil {
			return nil, fail(swIncorrectData, "input %d: %v", i, err)
		}
		txid, ok := in[inPreviousTxid]
		idx, ok2 := u32(in, inOutputIndex)
		if !ok || len(txid) != 32 || !ok2 {
			return nil, fail(swIncorrectData, "input %d has no outpoint", i)
		}
		ti := txIn{prevIndex: idx, sequence: wire.MaxTxInSequenceNum}
		copy(ti.prevHash[:], txid)
		if v, present := in[inSequence]; present {
			if len(v) != 4 {
				return nil, fail(swIncorrectData, "input %d: malformed sequence", i)
			}
			ti.sequence = binary.LittleEndian.Uint32(v)
		}
		t.ins = append(t.ins, ti)
		pin := psbtInput{fields: in, derivations: ders, musigNonces: map[string][]byte{}}
		for _, e := range m {
			if len(e.key) > 1 && e.key[0] == inMuSigPubNonce {
				pin.musigNonces[string(e.key[1:])] = e.value
			}
		}
		p.inputs = append(p.inputs, pin)
	}
	for i := uint64(0); i < q.nOutputs; i++ {
		m, err := s.readListedMap(q.outputs, q.nOutputs, i)
		if err != nil {
			return nil, err
		}
		out, ders, err := splitMap(m, outBip32Derivation, outTapBip32)
		if err != nil {
			return nil, fail(swIncorrectData, "output %d: %v", i, err)
		}
		amt, ok := out[outAmount]
		script, ok2 := out[outScript]
		if !ok || len(amt) != 8 || !ok2 {
			return nil, fail(swIncorrectData, "output %d has no amount or script", i)
		}
		v := binary.LittleEndian.Uint64(amt)
		if v > maxMoney {
			return nil, fail(swIncorrectData, "output %d: amount above the supply", i)
		}
		t.outs = append(t.outs, txOut{value: int64(v), script: script})
		p.outputs = append(p.outputs, psbtOutput{fields: out, derivations: ders})
	}
	return p, nil
}

// splitMap sorts a map's entries into its one-byte-key fields and the
// BIP32_DERIVATION entries of type derType and TAP_BIP32_DERIVATION
// entries of type tapType (none when they are 0xff).
// Other entries (partial signatures, proprietary and unknown keys) play no
// part in signing, as in the app.
func splitMap(m []kv, derType, tapType byte) (map[byte][]byte, []derivation, error) {
	fields := make(map[byte][]byte, len(m))
	var ders []derivation
	for _, e := range m {
		switch {
		case len(e.key) == 1:
			fields[e.key[0]] = e.value
		case e.key[0] == derType && derType != 0xff:
			d, err := parseDerivation(e.key[1:], e.value)
			if err != nil {
				return nil, nil, err
			}
			ders = append(ders, d)
		case e.key[0] == tapType && tapType != 0xff:
			d, err := parseTapDerivation(e.key[1:], e.value)
			if err != nil {
				return nil, nil, err
			}
			ders = append(ders, d)
		}
	}
	return fields, ders, nil
}

// parseDerivation decodes a BIP32_DERIVATION entry: the key data is a
// public key, which the app requires compressed; the value the master
// fingerprint and the path, 32-bit little-endian each (BIP-174).
func parseDerivation(pub, val []byte) (derivation, error) {
	if len(pub) != 33 || (pub[0] != 2 && pub[0] != 3) {
		return derivation{}, fmt.Errorf("a BIP32_DERIVATION key is not a compressed public key")
	}
	if len(val) < 4 || len(val)%4 != 0 || len(val) > 4*(1+maxDerivationSteps) {
		return derivation{}, fmt.Errorf("a BIP32_DERIVATION value of %d bytes", len(val))
	}
	d := derivation{pubKey: pub}
	copy(d.fpr[:], val)
	for i := 4; i < len(val); i += 4 {
		d.path = append(d.path, binary.LittleEndian.Uint32(val[i:]))
	}
	return d, nil
}

// parseTapDerivation decodes a TAP_BIP32_DERIVATION entry (BIP-371): the
// key data is an x-only public key; the value the leaf hashes the key signs
// in (a count, then 32 bytes each), the fingerprint and the path. Like the
// app (extract_bip32_derivation.c) the count is one byte, at most 128.
func parseTapDerivation(pub, val []byte) (derivation, error) {
	if len(pub) != 32 {
		return derivation{}, fmt.Errorf("a TAP_BIP32_DERIVATION key is not an x-only public key")
	}
	if len(val) < 1 || val[0] > 128 || len(val) < 1+32*int(val[0]) {
		return derivation{}, fmt.Errorf("a TAP_BIP32_DERIVATION value with bad leaf hashes")
	}
	n := int(val[0])
	d, err := parseDerivation(append([]byte{2}, pub...), val[1+32*n:])
	if err != nil {
		return derivation{}, err
	}
	d.pubKey = pub
	for i := 0; i < n; i++ {
		var h [32]byte
		copy(h[:], val[1+32*i:])
		d.leafHashes = append(d.leafHashes, h)
	}
	return d, nil
}

// readListedMap reads map i of a list of map commitments.
func (s *session) readListedMap(root [32]byte, n, i uint64) ([]kv, error) {
	raw, err := s.getLeafElement(root, n, i, 73)
	if err != nil {
		return nil, err
	}
	c, err := parseCommitment(raw)
	if err != nil {
		return nil, err
	}
	return s.readMap(c)
}

func u32(m map[byte][]byte, key byte) (uint32, bool) {
	v, ok := m[key]
	if !ok || len(v) != 4 {
		return 0, false
	}
	return binary.LittleEndian.Uint32(v), true
}

func count(m map[byte][]byte, key byte) (uint64, bool) {
	v, ok := m[key]
	if !ok {
		return 0, false
	}
	r := bytes.NewReader(v)
	n, err := wire.ReadVarInt(r, 0)
	return n, err == nil && r.Len() == 0
}

// prevOut is the output an input spends, from its UTXO fields, checked the
// way the app does (sign_psbt.c, preprocess_inputs): a non_witness_utxo
// must hash to the txid the input spends, and agree with a witness_utxo
// given beside it. hasTx reports whether the previous transaction was
// given, which proves the amount.
func prevOut(in *psbtInput, ti *txIn, i int) (out txOut, hasTx bool, err error) {
	raw, hasTx := in.fields[inNonWitnessUtxo]
	wraw, hasW := in.fields[inWitnessUtxo]
	if !hasTx && !hasW {
		return txOut{}, false, failCode(swIncorrectData, ecSignMissingUtxo, "input %d", i)
	}
	if hasTx {
		prev, err := parseTx(raw)
		if err != nil || prev.txid() != ti.prevHash || int(ti.prevIndex) >= len(prev.outs) {
			return txOut{}, true, failCode(swIncorrectData, ecSignBadNonWitnessUtxo, "input %d", i)
		}
		out = prev.outs[ti.prevIndex]
	}
	if hasW {
		w, err := parseWitnessUtxo(wraw)
		if err != nil {
			return txOut{}, hasTx, fail(swIncorrectData, "input %d: %v", i, err)
		}
		if hasTx && (w.value != out.value || !bytes.Equal(w.script, out.script)) {
			return txOut{}, true, failCode(swIncorrectData, ecSignUtxoMismatch, "input %d", i)
		}
		out = w
	}
	if out.value < 0 || out.value > maxMoney {
		return txOut{}, hasTx, fail(swIncorrectData, "input %d: amount outside the supply", i)
	}
	return out, hasTx, nil
}

// parseTx decodes a previous transaction (with or without witnesses). btcd
// parses it; the txid it is checked by is computed here (tx.txid).
func parseTx(raw []byte) (*tx, error) {
	var m wire.MsgTx
	r := bytes.NewReader(raw)
	if err := m.Deserialize(r); err != nil {
		return nil, err
	}
	if r.Len() != 0 {
		return nil, fmt.Errorf("%d bytes after the transaction", r.Len())
	}
	return txFromWire(&m), nil
}

// parseWitnessUtxo decodes a witness_utxo: amount (8 bytes, little-endian)
// and the length-prefixed scriptPubKey, a serialized transaction output.
func parseWitnessUtxo(b []byte) (txOut, error) {
	r := bytes.NewReader(b)
	var v [8]byte
	if _, err := io.ReadFull(r, v[:]); err != nil {
		return txOut{}, fmt.Errorf("malformed witness_utxo")
	}
	n, err := wire.ReadVarInt(r, 0)
	if err != nil || n != uint64(r.Len()) {
		return txOut{}, fmt.Errorf("malformed witness_utxo")
	}
	return txOut{value: int64(binary.LittleEndian.Uint64(v[:])), script: b[len(b)-int(n):]}, nil
}
