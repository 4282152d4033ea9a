package coldcard

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

// noKeyErr is the firmware's NO_KEY_ERR, word for word.
const noKeyErr = "None of the keys involved in this transaction belong to this Coldcard"

// plan is a reviewed PSBT: what the device will sign and what it shows.
type plan struct {
	p      *bpsbt.Packet
	wallet *wallet   // the enrolled wallet the inputs belong to
	ms     *msWallet // or the miniscript wallet they belong to
	named  *msWallet // the wallet stxn named (6.4.0X+), if any
	// skipped: an input with our key belongs to no enrolled miniscript
	// wallet and is left unsigned
	skipped bool
	inputs  []inputPlan
	prev    map[wire.OutPoint]*wire.TxOut
	screen  string
}

type inputPlan struct {
	sign       bool
	segwit     bool
	script     []byte              // witness script (segwit) or redeem script
	amount     int64               // value of the output spent
	candidates [][]byte            // our keys in this input without a signature yet
	subpaths   map[string][]uint32 // pubkey -> xfp, path...
	ms         *msDerived          // miniscript wallet at this input's place
	tap        bool                // a taproot input
	mssigns    []msSign            // miniscript signatures to make
	musig      *musigInput         // MuSig2 key-path work (6.5.0X+)
}

// reviewPSBT parses raw and checks everything the device checks before it
// shows a transaction: the inputs it signs belong to an enrolled wallet and
// their scripts derive from that wallet's keys, outputs that claim to be
// change really are, and the amounts add up.
func (e *Emulator) reviewPSBT(raw []byte, named *msWallet) (*plan, error) {
	p, err := bpsbt.NewFromRawBytes(bytes.NewReader(raw), false)
	if err != nil {
		return nil, fmt.Errorf("Invalid PSBT\n\n%v", err)
	}
	tx := p.UnsignedTx
	if len(tx.TxOut) == 0 {
		return nil, errors.New("need outputs")
	}
	pl := &plan{p: p, inputs: make([]inputPlan, len(tx.TxIn)), prev: map[wire.OutPoint]*wire.TxOut{}, named: named}
	seen := map[wire.OutPoint]bool{}
	for _, in := range tx.TxIn {
		if seen[in.PreviousOutPoint] {
			return nil, errors.New("Duplicate inputs")
		}
		seen[in.PreviousOutPoint] = true
	}
	my := binary.LittleEndian.Uint32(e.xfp[:])
	var totalIn int64
	inKnown, anyMine, anyToSign, tapSign := true, false, false, false
	for i := range p.Inputs {
		prev, err := e.reviewInput(pl, i, my)
		if err != nil {
			return nil, err
		}
		if prev == nil {
			inKnown = false
		} else {
			totalIn += prev.Value
		}
		if hasXFP(p.Inputs[i].Bip32Derivation, my) || hasTapXFP(p.Inputs[i].TaprootBip32Derivation, my) {
			anyMine = true
		}
		anyToSign = anyToSign || pl.inputs[i].sign
		tapSign = tapSign || pl.inputs[i].tap && pl.inputs[i].sign
	}
	if tapSign && !inKnown {
		return nil, errMissingPrevouts
	}
	if !anyMine || !anyToSign && pl.skipped {
		return nil, errors.New(noKeyErr)
	}
	if !anyToSign {
		return nil, errors.New("Transaction looks completely signed already?")
	}
	change := make([]bool, len(tx.TxOut))
	var totalOut, changeOut int64
	for j := range tx.TxOut {
		c, err := e.reviewOutput(pl, j, my)
		if err != nil {
			return nil, err
		}
		change[j] = c
		totalOut += tx.TxOut[j].Value
		if c {
			changeOut += tx.TxOut[j].Value
		}
	}
	if inKnown && totalOut > totalIn {
		return nil, errors.New("Outputs worth more than inputs!")
	}
	pl.screen = e.screen(pl, change, inKnown, totalIn, totalOut, changeOut)
	return pl, nil
}

func hasXFP(ds []*bpsbt.Bip32Derivation, xfp uint32) bool {
	for _, d := range ds {
		if d.MasterKeyFingerprint == xfp {
			return true
		}
	}
	return false
}

// prevOut finds the output input i spends; nil when the PSBT does not say.
func prevOut(p *bpsbt.Packet, i int) (*wire.TxOut, error) {
	in := &p.Inputs[i]
	op := p.UnsignedTx.TxIn[i].PreviousOutPoint
	var full *wire.TxOut
	if in.NonWitnessUtxo != nil {
		if in.NonWitnessUtxo.TxHash() != op.Hash || int(op.Index) >= len(in.NonWitnessUtxo.TxOut) {
			return nil, fmt.Errorf("Trouble parsing UTXO given for input #%d", i)
		}
		full = in.NonWitnessUtxo.TxOut[op.Index]
	}
	if in.WitnessUtxo != nil {
		if full != nil && (full.Value != in.WitnessUtxo.Value || !bytes.Equal(full.PkScript, in.WitnessUtxo.PkScript)) {
			return nil, fmt.Errorf("Input#%d: witness UTXO does not match the full UTXO", i)
		}
		return in.WitnessUtxo, nil
	}
	return full, nil
}

// reviewInput checks input i and records what to sign in it. It returns the
// output spent, nil when unknown.
func (e *Emulator) reviewInput(pl *plan, i int, my uint32) (*wire.TxOut, error) {
	in := &pl.p.Inputs[i]
	prev, err := prevOut(pl.p, i)
	if err != nil {
		return nil, err
	}
	if prev != nil {
		pl.prev[pl.p.UnsignedTx.TxIn[i].PreviousOutPoint] = prev
	}
	if !hasXFP(in.Bip32Derivation, my) && !hasTapXFP(in.TaprootBip32Derivation, my) {
		return prev, nil // someone else's input: shown, not signed
	}
	if prev == nil {
		return nil, errors.New("Missing own UTXO(s). Cannot determine value being signed")
	}
	if e.hasMiniscript() || txscript.IsPayToTaproot(prev.PkScript) || pl.named != nil {
		if ok, err := e.reviewMiniscriptInput(pl, i, my, prev); err != nil || ok {
			return prev, err
		}
	}
	if pl.ms != nil {
		return nil, fmt.Errorf("Input #%d: inputs from more than one wallet", i)
	}
	if in.SighashType != 0 && in.SighashType != txscript.SigHashAll {
		return nil, fmt.Errorf("Unsupported sighash flag 0x%x", uint32(in.SighashType))
	}
	ip := inputPlan{amount: prev.Value, subpaths: map[string][]uint32{}}
	for _, d := range in.Bip32Derivation {
		ip.subpaths[string(d.PubKey)] = append([]uint32{d.MasterKeyFingerprint}, d.Bip32Path...)
	}
	spk := prev.PkScript
	var af uint32
	switch {
	case txscript.IsPayToWitnessScriptHash(spk):
		af, ip.segwit, ip.script = afP2WSH, true, in.WitnessScript
	case txscript.IsPayToScriptHash(spk):
		af, ip.script = afP2SH, in.RedeemScript
		if len(in.RedeemScript) == 34 && in.RedeemScript[0] == 0 && in.RedeemScript[1] == 32 {
			af, ip.segwit, ip.script = afP2WSHP2SH, true, in.WitnessScript
		}
	default:
		return nil, fmt.Errorf("Unhandled scriptPubKey: %x", spk)
	}
	if len(ip.script) == 0 {
		if ip.segwit {
			return nil, fmt.Errorf("Need witness script for input #%d", i)
		}
		return nil, fmt.Errorf("Missing redeem/witness script for input #%d", i)
	}
	if !ip.segwit && in.NonWitnessUtxo == nil {
		return nil, fmt.Errorf("Legacy input #%d requires non-witness UTXO", i)
	}
	m, keys, err := multisigScript(ip.script)
	if err != nil {
		return nil, fmt.Errorf("Input #%d: %v", i, err)
	}
	if len(in.PartialSigs) >= m {
		pl.inputs[i] = ip // fully signed: nothing to add
		return prev, nil
	}
	xfpPaths := make([][]uint32, 0, len(ip.subpaths))
	for _, p := range ip.subpaths {
		xfpPaths = append(xfpPaths, p)
	}
	sort.Slice(xfpPaths, func(a, b int) bool { return lessPath(xfpPaths[a], xfpPaths[b]) })
	if pl.wallet == nil {
		if pl.wallet = e.findMatch(m, len(keys), xfpPaths, af); pl.wallet == nil {
			return nil, errors.New("Unknown multisig wallet")
		}
	} else if w := pl.wallet; w.m != m || w.n != len(keys) || w.addrFmt != af || !w.matchingSubpaths(xfpPaths) {
		return nil, fmt.Errorf("Input #%d: inputs from more than one wallet (M/N, address format or XFP/derivs differ)", i)
	}
	if err := pl.wallet.validateScript(ip.script, ip.subpaths, nil); err != nil {
		return nil, fmt.Errorf("Input #%d: %v", i, err)
	}
	if !bytes.Equal(scriptPubKey(af, ip.script), spk) {
		return nil, fmt.Errorf("Input #%d: spk mismatch", i)
	}
	for _, d := range in.Bip32Derivation {
		if d.MasterKeyFingerprint == my && !signedBy(in, d.PubKey) {
			ip.candidates = append(ip.candidates, d.PubKey)
		}
	}
	ip.sign = len(ip.candidates) > 0
	pl.inputs[i] = ip
	return prev, nil
}

func signedBy(in *bpsbt.PInput, pub []byte) bool {
	for _, s := range in.PartialSigs {
		if bytes.Equal(s.PubKey, pub) {
			return true
		}
	}
	return false
}

// reviewOutput decides whether output j is change and refuses an output
// that claims to be ours (carries our fingerprint) but is not.
func (e *Emulator) reviewOutput(pl *plan, j int, my uint32) (bool, error) {
	out := &pl.p.Outputs[j]
	spk := pl.p.UnsignedTx.TxOut[j].PkScript
	if pl.ms != nil {
		return e.reviewMiniscriptOutput(pl, j, my)
	}
	if !hasXFP(out.Bip32Derivation, my) {
		return false, nil
	}
	subpaths := map[string][]uint32{}
	for _, d := range out.Bip32Derivation {
		subpaths[string(d.PubKey)] = append([]uint32{d.MasterKeyFingerprint}, d.Bip32Path...)
	}
	fraud := func(msg string) error { return fmt.Errorf("Output#%d: %s", j, msg) }
	switch {
	case txscript.IsPayToWitnessPubKeyHash(spk) || txscript.IsPayToPubKeyHash(spk):
		// Single-key change: the one key must be ours and hash to the
		// output.
		if len(out.Bip32Derivation) != 1 {
			return false, nil
		}
		d := out.Bip32Derivation[0]
		mine, err := e.pubAt(d.Bip32Path)
		prog := spk[2:22]
		if txscript.IsPayToPubKeyHash(spk) {
			prog = spk[3:23]
		}
		if err != nil || !bytes.Equal(mine, d.PubKey) || !bytes.Equal(hash160(d.PubKey), prog) {
			return false, fraud("Change output is fraudulent")
		}
		return true, nil
	case txscript.IsPayToWitnessScriptHash(spk) || txscript.IsPayToScriptHash(spk):
	default:
		return false, nil
	}
	rs, ws := out.RedeemScript, out.WitnessScript
	if len(rs) == 0 && len(ws) == 0 {
		return false, fmt.Errorf("Missing redeem/witness script for multisig output #%d", j)
	}
	w := pl.wallet
	if w == nil {
		return false, nil // maybe another wallet's output: not change
	}
	af := uint32(afP2SH)
	if txscript.IsPayToWitnessScriptHash(spk) {
		af = afP2WSH
	} else if len(rs) == 34 && rs[0] == 0 && rs[1] == 32 && len(ws) > 0 {
		af = afP2WSHP2SH
	}
	if af != w.addrFmt {
		return false, nil
	}
	script := ws
	if len(script) == 0 {
		script = rs
	}
	if err := w.validateScript(script, subpaths, nil); err != nil {
		return false, fraud("P2WSH or P2SH change output script: " + err.Error())
	}
	switch af {
	case afP2WSH:
		h := sha256.Sum256(ws)
		if !bytes.Equal(spk[2:], h[:]) {
			return false, fraud("P2WSH witness script has wrong hash")
		}
		return true, nil
	case afP2WSHP2SH:
		h := sha256.Sum256(ws)
		expect := append([]byte{0, 32}, h[:]...)
		if len(rs) > 0 && !bytes.Equal(rs, expect) {
			return false, fraud("P2SH-P2WSH redeem script provided, and doesn't match")
		}
		rs = expect
	}
	if !bytes.Equal(spk[2:22], hash160(rs)) {
		return false, fraud("Change output is fraudulent")
	}
	return true, nil
}

// screen is the approval text: what is sent where, the fee, the change.
func (e *Emulator) screen(pl *plan, change []bool, inKnown bool, totalIn, totalOut, changeOut int64) string {
	var b strings.Builder
	unit := e.chain // the device names testnet coins XTN
	btc := func(v int64) string { return fmt.Sprintf("%d.%08d %s", v/1e8, v%1e8, unit) }
	fmt.Fprintf(&b, "Sending %s\n", btc(totalOut-changeOut))
	if inKnown {
		fmt.Fprintf(&b, "Network fee %s\n", btc(totalIn-totalOut))
	}
	fmt.Fprintf(&b, "\n %d inputs\n %d outputs\n", len(pl.p.UnsignedTx.TxIn), len(pl.p.UnsignedTx.TxOut))
	for j, o := range pl.p.UnsignedTx.TxOut {
		label := "- to address -"
		if change[j] {
			label = "- change back -"
		}
		fmt.Fprintf(&b, "\n%s\n %s\n%s\n", btc(o.Value), label, e.render(o.PkScript))
	}
	return b.String()
}

func (e *Emulator) render(spk []byte) string {
	_, addrs, _, err := txscript.ExtractPkScriptAddrs(spk, e.net)
	if err != nil || len(addrs) != 1 {
		return fmt.Sprintf("script %x", spk)
	}
	return addrs[0].EncodeAddress()
}

// signPSBT adds one signature per input to sign, with the first of our keys
// in it the device can derive, and returns the serialised PSBT.
func (e *Emulator) signPSBT(pl *plan) ([]byte, error) {
	tx := pl.p.UnsignedTx
	hashes := txscript.NewTxSigHashes(tx, prevFetcher(pl.prev))
	var ms *musigSession
	for i := range pl.inputs {
		ip := &pl.inputs[i]
		if !ip.sign {
			continue
		}
		if ip.ms != nil {
			if err := e.signMiniscript(pl, hashes, i); err != nil {
				return nil, err
			}
			if ip.musig == nil {
				continue
			}
			if ms == nil {
				var err error
				if ms, err = e.startMusig(pl); err != nil {
					return nil, err
				}
			}
			if err := e.signMusig(pl, ms, hashes, i); err != nil {
				return nil, err
			}
			continue
		}
		var digest []byte
		var err error
		if ip.segwit {
			digest, err = txscript.CalcWitnessSigHash(ip.script, hashes, txscript.SigHashAll, tx, i, ip.amount)
		} else {
			digest, err = txscript.CalcSignatureHash(ip.script, txscript.SigHashAll, tx, i)
		}
		if err != nil {
			return nil, fmt.Errorf("Input #%d: %v", i, err)
		}
		signed := false
		for _, pub := range ip.candidates {
			path := ip.subpaths[string(pub)][1:]
			k, err := e.keyAt(path)
			if err != nil {
				continue
			}
			priv, err := k.ECPrivKey()
			if err != nil || !bytes.Equal(priv.PubKey().SerializeCompressed(), pub) {
				continue
			}
			sig := append(ecdsa.Sign(priv, digest).Serialize(), byte(txscript.SigHashAll))
			in := &pl.p.Inputs[i]
			in.PartialSigs = append(in.PartialSigs, &bpsbt.PartialSig{PubKey: pub, Signature: sig})
			// Like the firmware, drop the default sighash field.
			if in.SighashType == txscript.SigHashAll {
				in.SighashType = 0
			}
			signed = true
			break
		}
		if !signed {
			return nil, fmt.Errorf("Input #%d needs pubkey I dont have", i)
		}
	}
	var out bytes.Buffer
	if err := pl.p.Serialize(&out); err != nil {
		return nil, err
	}
	e.endMusig(ms)
	return out.Bytes(), nil
}

// prevFetcher serves txscript the outputs spent; unknown ones get an empty
// output, since txscript dereferences what it is given.
type prevFetcher map[wire.OutPoint]*wire.TxOut

func (f prevFetcher) FetchPrevOutput(op wire.OutPoint) *wire.TxOut {
	if o, ok := f[op]; ok {
		return o
	}
	return &wire.TxOut{}
}
