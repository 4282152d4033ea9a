package qrsigner

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/wire"
)

// ErrRejected is the user refusing on the device (Config.Reject).
var ErrRejected = errors.New("rejected on the device")

// review is what the device worked out about a PSBT before it asks for
// approval.
type review struct {
	p       *packet
	prev    []*wire.TxOut // the output each input spends
	toSign  []inputToSign
	change  []bool
	screen  string
	fee     int64
	spent   int64
	sending int64
}

// inputToSign is one of the device's keys in one input.
type inputToSign struct {
	input  int
	pubkey []byte
	path   []uint32
	segwit bool
	script []byte // the witness script (segwit) or the redeem script
}

// reviewPSBT checks a PSBT the way the device does before it shows it:
// every input it signs and every output that claims to be the wallet's
// must derive from the registered wallet at the position the PSBT names,
// the amounts must be known and add up, and only SIGHASH_ALL is signed.
func (e *Emulator) reviewPSBT(raw []byte) (*review, error) {
	if e.wallet == nil {
		return nil, errors.New("no multisig wallet registered: scan the wallet's descriptor QR (crypto-output) first, or start the emulator with --wallet")
	}
	p, err := parsePSBT(raw)
	if err != nil {
		return nil, fmt.Errorf("invalid PSBT: %w", err)
	}
	r := &review{p: p, prev: make([]*wire.TxOut, len(p.inputs)), change: make([]bool, len(p.outputs))}
	seen := map[wire.OutPoint]bool{}
	for i := range p.inputs {
		op := p.tx.TxIn[i].PreviousOutPoint
		if seen[op] {
			return nil, fmt.Errorf("input %d spends %s twice", i, op)
		}
		seen[op] = true
		if err := e.reviewInput(r, i); err != nil {
			return nil, fmt.Errorf("input %d: %w", i, err)
		}
		r.spent += r.prev[i].Value
	}
	if len(r.toSign) == 0 {
		return nil, errors.New("none of the inputs needs a signature from this device (not a cosigner, or already signed)")
	}
	var out int64
	for j := range p.outputs {
		c, err := e.reviewOutput(r, j)
		if err != nil {
			return nil, fmt.Errorf("output %d: %w", j, err)
		}
		r.change[j] = c
		v := p.tx.TxOut[j].Value
		if v < 0 {
			return nil, fmt.Errorf("output %d: negative amount", j)
		}
		out += v
		if !c {
			r.sending += v
		}
	}
	if out > r.spent {
		return nil, fmt.Errorf("outputs (%d sat) worth more than inputs (%d sat)", out, r.spent)
	}
	r.fee = r.spent - out
	r.screen = e.screen(r)
	return r, nil
}

// prevOut finds the output input i spends and checks that the PSBT's two
// records of it agree.
func prevOut(p *packet, i int) (*wire.TxOut, error) {
	op := p.tx.TxIn[i].PreviousOutPoint
	var full *wire.TxOut
	if v, ok := p.inputs[i].get(inNonWitnessUtxo); ok {
		var prev wire.MsgTx
		if err := prev.Deserialize(bytes.NewReader(v)); err != nil {
			return nil, errors.New("malformed previous transaction")
		}
		if prev.TxHash() != op.Hash || int(op.Index) >= len(prev.TxOut) {
			return nil, errors.New("the previous transaction is not the one spent")
		}
		full = prev.TxOut[op.Index]
	}
	if v, ok := p.inputs[i].get(inWitnessUtxo); ok {
		w, err := witnessUtxo(v)
		if err != nil {
			return nil, err
		}
		if full != nil && (full.Value != w.Value || !bytes.Equal(full.PkScript, w.PkScript)) {
			return nil, errors.New("the witness UTXO does not match the previous transaction")
		}
		return w, nil
	}
	if full == nil {
		return nil, errors.New("the amount spent is unknown (no UTXO)")
	}
	return full, nil
}

// reviewInput checks input i and records the signatures it needs.
func (e *Emulator) reviewInput(r *review, i int) error {
	in := r.p.inputs[i]
	prev, err := prevOut(r.p, i)
	if err != nil {
		return err
	}
	r.prev[i] = prev
	if _, ok := in.get(inFinalScriptSig); ok {
		return nil
	}
	if _, ok := in.get(inFinalWitness); ok {
		return nil
	}
	ders, err := derivations(in, inBip32Derivation)
	if err != nil {
		return err
	}
	signed := map[string]bool{}
	in.each(inPartialSig, func(k, _ []byte) error { signed[string(k)] = true; return nil })
	for _, d := range ders {
		if d.fingerprint != e.fp {
			continue
		}
		if v, ok := in.get(inSighashType); ok && (len(v) != 4 || binary.LittleEndian.Uint32(v) != sighashAll) {
			return errors.New("only SIGHASH_ALL is signed")
		}
		_, branch, index, ok := e.wallet.position(d.fingerprint, d.path)
		if !ok {
			return fmt.Errorf("this device's key at %s is not one of wallet %s's keys", pathString(d.path), e.wallet)
		}
		ms, redeem, spk, err := e.wallet.scripts(branch, index)
		if err != nil {
			return err
		}
		if !bytes.Equal(spk, prev.PkScript) {
			return fmt.Errorf("the coin spent is not wallet %s's address at %d/%d", e.wallet, branch, index)
		}
		t := inputToSign{input: i, pubkey: d.pubkey, path: d.path, segwit: e.wallet.script != p2sh, script: ms}
		ws, _ := in.get(inWitnessScript)
		rs, _ := in.get(inRedeemScript)
		switch {
		case t.segwit && !bytes.Equal(ws, ms):
			return errors.New("the witness script is not the wallet's")
		case e.wallet.script == p2shP2wsh && !bytes.Equal(rs, redeem):
			return errors.New("the redeem script is not the wallet's")
		case e.wallet.script == p2sh && !bytes.Equal(rs, ms):
			return errors.New("the redeem script is not the wallet's")
		case e.wallet.script == p2sh:
			if _, ok := in.get(inNonWitnessUtxo); !ok {
				return errors.New("a legacy P2SH input needs its previous transaction")
			}
		}
		if !signed[string(d.pubkey)] {
			r.toSign = append(r.toSign, t)
		}
	}
	return nil
}

// reviewOutput decides whether output j is change. An output carrying a
// derivation of one of the wallet's keys claims to be the wallet's; it
// must then be the wallet's script at that position, or the PSBT is
// refused: that is how a tampered PSBT would steal the change.
func (e *Emulator) reviewOutput(r *review, j int) (bool, error) {
	ders, err := derivations(r.p.outputs[j], outBip32Derivation)
	if err != nil {
		return false, err
	}
	claimed := false
	for _, d := range ders {
		for _, k := range e.wallet.keys {
			if d.fingerprint == k.fingerprint {
				claimed = true
			}
		}
	}
	if !claimed {
		return false, nil
	}
	var branch, index uint32
	found := false
	for _, d := range ders {
		if _, b, i, ok := e.wallet.position(d.fingerprint, d.path); ok {
			if found && (b != branch || i != index) {
				return false, errors.New("change derivations disagree on the address")
			}
			branch, index, found = b, i, true
		}
	}
	if !found {
		return false, fmt.Errorf("change claims wallet %s's keys at paths outside the wallet", e.wallet)
	}
	ms, _, spk, err := e.wallet.scripts(branch, index)
	if err != nil {
		return false, err
	}
	if !bytes.Equal(spk, r.p.tx.TxOut[j].PkScript) {
		return false, fmt.Errorf("change does not derive from wallet %s: the script is not the wallet's address at %d/%d", e.wallet, branch, index)
	}
	if ws, ok := r.p.outputs[j].get(outWitnessScript); ok && !bytes.Equal(ws, ms) {
		return false, errors.New("change witness script is not the wallet's")
	}
	// Every key of the wallet must be named at that position: a change
	// output whose derivations leave a cosigner out cannot be checked by
	// that cosigner.
	if len(ders) < len(e.wallet.keys) {
		return false, errors.New("change lacks some cosigners' derivations")
	}
	return true, nil
}

// screen is what the device shows for approval.
func (e *Emulator) screen(r *review) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Wallet %s\nSending %s\nFee %s\n", e.wallet, btc(r.sending), btc(r.fee))
	for j, o := range r.p.tx.TxOut {
		label := "to"
		if r.change[j] {
			label = "change"
		}
		fmt.Fprintf(&b, "  %s %s: %s\n", label, e.address(o.PkScript), btc(o.Value))
	}
	return b.String()
}

func btc(v int64) string {
	return fmt.Sprintf("%d.%08d BTC", v/1e8, v%1e8)
}

// address renders a script for the screen.
func (e *Emulator) address(spk []byte) string {
	var a btcutil.Address
	var err error
	switch {
	case len(spk) == 34 && spk[0] == 0 && spk[1] == 32:
		a, err = btcutil.NewAddressWitnessScriptHash(spk[2:], e.net)
	case len(spk) == 22 && spk[0] == 0 && spk[1] == 20:
		a, err = btcutil.NewAddressWitnessPubKeyHash(spk[2:], e.net)
	case len(spk) == 23 && spk[0] == 0xa9 && spk[1] == 20 && spk[22] == 0x87:
		a, err = btcutil.NewAddressScriptHashFromHash(spk[2:22], e.net)
	default:
		return fmt.Sprintf("script %x", spk)
	}
	if err != nil {
		return fmt.Sprintf("script %x", spk)
	}
	return a.EncodeAddress()
}

// sign adds one partial signature (SIGHASH_ALL) per key to sign and
// returns the PSBT serialized.
func (e *Emulator) sign(r *review) ([]byte, error) {
	tx := r.p.tx
	hashes := newSegwitHashes(tx)
	for _, t := range r.toSign {
		k, err := e.derive(t.path)
		if err != nil {
			return nil, err
		}
		priv, err := k.ECPrivKey()
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(priv.PubKey().SerializeCompressed(), t.pubkey) {
			return nil, fmt.Errorf("input %d: the key at %s is not the one the PSBT names", t.input, pathString(t.path))
		}
		var digest [32]byte
		if t.segwit {
			digest = witnessSighash(tx, hashes, t.input, t.script, r.prev[t.input].Value, sighashAll)
		} else {
			digest = legacySighash(tx, t.input, t.script, sighashAll)
		}
		sig := append(ecdsa.Sign(priv, digest[:]).Serialize(), sighashAll)
		r.p.inputs[t.input] = append(r.p.inputs[t.input], pair{key: append([]byte{inPartialSig}, t.pubkey...), value: sig})
	}
	return r.p.serialize(), nil
}

func pathString(path []uint32) string {
	var b strings.Builder
	b.WriteString("m")
	for _, s := range path {
		if s >= 1<<31 {
			fmt.Fprintf(&b, "/%dh", s-1<<31)
		} else {
			fmt.Fprintf(&b, "/%d", s)
		}
	}
	return b.String()
}

// txid is for log lines.
func txid(tx *wire.MsgTx) string {
	var b bytes.Buffer
	tx.SerializeNoWitness(&b)
	h := dsha(b.Bytes())
	for i, j := 0, 31; i < j; i, j = i+1, j-1 {
		h[i], h[j] = h[j], h[i]
	}
	return fmt.Sprintf("%x", h)
}
