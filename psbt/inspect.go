package psbt

import (
	"bytes"
	"encoding/hex"
	"fmt"

	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/txscript"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/descriptor/miniscript"
)

// Report is what a PSBT does, as the wallet sees it. Field names are a
// stable interface (`--json`).
type Report struct {
	TxID     string `json:"txid"`
	Version  int32  `json:"version"`
	LockTime uint32 `json:"locktime"`
	// RBF reports whether some input signals BIP-125 replaceability.
	RBF bool `json:"rbf"`

	Inputs  []InputReport  `json:"inputs"`
	Outputs []OutputReport `json:"outputs"`

	TotalIn  int64 `json:"total_in"`  // sum of the input amounts known
	TotalOut int64 `json:"total_out"` // sum of all outputs
	Sent     int64 `json:"sent"`      // sum of the external outputs
	Change   int64 `json:"change"`    // sum of the change outputs
	// FeeKnown is false when some input's amount is unknown; Fee and
	// FeeRate are then 0.
	FeeKnown bool  `json:"fee_known"`
	Fee      int64 `json:"fee"`
	// VSize is the estimated virtual size once finalized: actual sizes for
	// finalized inputs, m worst-case (73-byte) signatures for the others.
	VSize   int64   `json:"vsize"`
	FeeRate float64 `json:"fee_rate"` // Fee / VSize, sat/vB

	// ReadyToFinalize is true when every input is finalized or holds
	// enough valid signatures.
	ReadyToFinalize bool `json:"ready_to_finalize"`
	// Next is the BIP-174 role the PSBT must go to next, as Bitcoin Core's
	// analyzepsbt says it: "updater" (an input lacks its UTXO or scripts),
	// "signer", "finalizer" or "extractor".
	Next     string   `json:"next"`
	Warnings []string `json:"warnings"`
}

// The BIP-174 roles, in the order a PSBT goes through them.
const (
	RoleUpdater   = "updater"
	RoleSigner    = "signer"
	RoleFinalizer = "finalizer"
	RoleExtractor = "extractor"
)

// InputReport describes one input.
type InputReport struct {
	OutPoint string `json:"outpoint"`
	Amount   int64  `json:"amount"`  // 0 when unknown
	Address  string `json:"address"` // "" when unknown or non-standard
	// Ours is true only when the scripts the wallet derives at the input's
	// claimed position equal the input's scripts and prevout.
	Ours   bool    `json:"ours"`
	Branch *uint32 `json:"branch,omitempty"`
	Index  *uint32 `json:"index,omitempty"`

	Finalized bool `json:"finalized"`
	Required  int  `json:"required"` // m; 0 when the script is unknown
	// SighashType is PSBT_IN_SIGHASH_TYPE when the input asks for one
	// ("ALL", "NONE|ANYONECANPAY", ...); "" when it does not.
	SighashType string `json:"sighash_type,omitempty"`
	// Signatures are the valid partial signatures present.
	Signatures []Cosigner `json:"signatures"`
	// Unchecked are partial signatures on an input whose script is not a
	// multisig countersign can check (another wallet's input): present,
	// not verified, not counted.
	Unchecked []Cosigner `json:"unchecked_signatures,omitempty"`
	// Missing is how many more signatures are needed.
	Missing int `json:"missing"`
	// NotSigned lists the cosigners whose keys have not signed.
	NotSigned []Cosigner `json:"not_signed"`
	// MuSig2 is the key-path MuSig2 progress of a taproot input (BIP-373
	// records); nil for other inputs.
	MuSig2 *MuSig2Report `json:"musig2,omitempty"`
}

// Cosigner identifies one of the wallet's signers.
type Cosigner struct {
	Fingerprint string `json:"fingerprint"` // master key fingerprint, hex; "" when unknown
	Label       string `json:"label"`
	PubKey      string `json:"pubkey"` // hex
	// Sighash is the sighash type a signature commits to ("ALL", ...);
	// "" for a cosigner who has not signed.
	Sighash string `json:"sighash,omitempty"`
}

// OutputReport describes one output.
type OutputReport struct {
	Address string `json:"address"` // "" for a non-standard script
	Script  string `json:"script"`  // hex scriptPubKey
	Amount  int64  `json:"amount"`
	// Kind is "change" when the script re-derives from the wallet at the
	// position its BIP-32 derivations claim, else "external".
	Kind   string  `json:"kind"`
	Branch *uint32 `json:"branch,omitempty"`
	Index  *uint32 `json:"index,omitempty"`
}

// Output kinds.
const (
	KindChange   = "change"   // pays the wallet's change branch (re-derived)
	KindReceive  = "receive"  // pays one of the wallet's receive addresses (re-derived): the money stays in the wallet
	KindExternal = "external" // pays anyone else
)

// Inspect reports what p does for the wallet w: for each input its amount,
// address, whether it is the wallet's (scripts re-derived, never taken from
// the derivations alone), the valid signatures present and who has not
// signed; for each output whether it is change (re-derived) or external;
// the fee, the estimated final size and fee rate, and warnings about
// anything the wallet would refuse. Invalid signatures are reported as
// warnings and not counted. Only a packet without a transaction or with
// mismatched maps is an error (ErrMalformed).
func Inspect(p *bpsbt.Packet, w WalletInfo) (*Report, error) {
	return inspect(p, w, true)
}

// inspect is Inspect; without verify, partial signatures of a key of the
// script are counted without the ECDSA verification (the gate, which runs
// before the step that verifies them anyway).
func inspect(p *bpsbt.Packet, w WalletInfo, verify bool) (*Report, error) {
	if err := checkShape(p); err != nil {
		return nil, err
	}
	w = w.withMemo()
	v := newWalletView(w)
	a := analyze(p, w.Memo)
	if v != nil {
		v.prefetchPacket(p, a)
	}
	if err := w.Memo.checkKeys(p); err != nil {
		return nil, err
	}
	return report(p, w, v, a, verify), nil
}

// report is inspect on a packet already analyzed (a) for the wallet v (nil:
// no wallet), whose positions are prefetched.
func report(p *bpsbt.Packet, w WalletInfo, v *walletView, a *analysis, verify bool) *Report {
	tx := p.UnsignedTx
	r := &Report{
		TxID:     tx.TxHash().String(),
		Version:  tx.Version,
		LockTime: tx.LockTime,
		Inputs:   make([]InputReport, len(tx.TxIn)),
		Outputs:  make([]OutputReport, len(tx.TxOut)),
		FeeKnown: true,
		Warnings: []string{},
	}

	if verify {
		a.computeSighashes(func(i int) bool { return len(p.Inputs[i].PartialSigs) > 0 && !a.in[i].finalized })
	}
	warnings := make([][]string, len(tx.TxIn))
	parallelFor(len(tx.TxIn), func(i int) {
		r.Inputs[i], warnings[i] = inspectInput(p, a, v, w.Network, i, verify)
	})

	sizes := make([]inputSize, len(tx.TxIn))
	ready := true
	for i := range tx.TxIn {
		ir, st := &r.Inputs[i], &a.in[i]
		r.Warnings = append(r.Warnings, warnings[i]...)
		if st.prevOut != nil {
			r.TotalIn += st.prevOut.Value
		} else {
			r.FeeKnown = false
		}
		if tx.TxIn[i].Sequence < SequenceNoRBF {
			r.RBF = true
		}
		sizes[i] = estimatedInputSize(&p.Inputs[i], st)
		if st.prevOut == nil || (!ir.Finalized && (st.spend == nil || ir.Missing > 0)) {
			ready = false
		}
	}
	r.ReadyToFinalize = ready && len(tx.TxIn) > 0
	r.Next = nextRole(p, a, r)
	if err := checkDuplicateInputs(p); err != nil {
		r.Warnings = append(r.Warnings, err.Error())
		r.ReadyToFinalize = false
	}

	for j, out := range tx.TxOut {
		or := &r.Outputs[j]
		or.Amount = out.Value
		or.Script = hex.EncodeToString(out.PkScript)
		or.Address = addressOf(out.PkScript, w.Network)
		or.Kind = KindExternal
		r.TotalOut += out.Value
		if v != nil {
			po := &p.Outputs[j]
			if d := v.matchOutput(po, out.PkScript); d != nil {
				or.Kind = KindChange
				if d.Branch == 0 {
					or.Kind = KindReceive
					r.Warnings = append(r.Warnings, fmt.Sprintf("output %d (%d sat) pays the wallet's own receive address %d/%d, not its change branch: the money stays in the wallet", j, out.Value, d.Branch, d.Index))
				}
				or.Branch, or.Index = ptr(d.Branch), ptr(d.Index)
			} else if v.claims(outputDerivations(po)) {
				r.Warnings = append(r.Warnings, fmt.Sprintf("output %d (%d sat to %s) claims to be change but does not derive from the wallet: treat it as a payment to someone else, and do not sign if you did not intend it",
					j, out.Value, displayAddress(or)))
			}
		}
		if or.Kind != KindExternal {
			r.Change += out.Value
		} else {
			r.Sent += out.Value
		}
		if dust := DustThreshold(out.PkScript); out.Value < dust {
			r.Warnings = append(r.Warnings, fmt.Sprintf("output %d pays %d sat, below the %d sat dust threshold: nodes will not relay the transaction", j, out.Value, dust))
		}
	}

	r.VSize = vsizeOf(txWeight(sizes, totalOutputBytes(tx), len(tx.TxOut)))
	if r.FeeKnown {
		r.Fee = r.TotalIn - r.TotalOut
		if r.VSize > 0 {
			r.FeeRate = float64(r.Fee) / float64(r.VSize)
		}
		switch {
		case r.Fee < 0:
			r.Warnings = append(r.Warnings, fmt.Sprintf("outputs (%d sat) exceed inputs (%d sat): the transaction is invalid", r.TotalOut, r.TotalIn))
		case r.Fee*1000 > maxFeeRate*r.VSize:
			r.Warnings = append(r.Warnings, fmt.Sprintf("fee rate %.1f sat/vB is above %d sat/vB", float64(r.Fee)/float64(r.VSize), maxFeeRate/1000))
		case r.Sent > 0 && r.Fee*100 > r.Sent*maxFeeShare:
			r.Warnings = append(r.Warnings, fmt.Sprintf("fee of %d sat is more than %d%% of the %d sat sent", r.Fee, maxFeeShare, r.Sent))
		}
	} else {
		r.Warnings = append(r.Warnings, "some inputs lack UTXO data: the fee is unknown")
	}
	if v == nil {
		r.Warnings = append(r.Warnings, "no stored wallet recognises this PSBT: nothing in it is checked against a wallet (inputs and outputs are shown as external)")
	}
	return r
}

// inspectInput reports one input and its warnings. It only writes state
// that belongs to input i.
func inspectInput(p *bpsbt.Packet, a *analysis, v *walletView, net *chaincfg.Params, i int, verify bool) (InputReport, []string) {
	in, st := &p.Inputs[i], &a.in[i]
	ir := InputReport{
		OutPoint:   p.UnsignedTx.TxIn[i].PreviousOutPoint.String(),
		Finalized:  st.finalized,
		Signatures: []Cosigner{},
		NotSigned:  []Cosigner{},
	}
	var warns []string
	if st.prevOut != nil {
		ir.Amount = st.prevOut.Value
		// An input the wallet derives gets the address it derived (the
		// same script, encoded once per process); others are encoded here.
		if v == nil || st.finalized || st.spend == nil {
			ir.Address = addressOf(st.prevOut.PkScript, net)
		}
	}
	switch {
	case st.prevErr != nil:
		warns = append(warns, st.prevErr.Error())
	case st.finalized:
		// The finalizer cleared the scripts and derivations: ownership can
		// no longer be checked, and the signatures are in the final scripts.
		return ir, warns
	default:
		if err := inputPolicy(in, st, i, p.UnsignedTx.TxIn[i].PreviousOutPoint); err != nil {
			warns = append(warns, err.Error())
		}
	}
	if in.SighashType != 0 {
		ir.SighashType = SighashName(in.SighashType)
	}
	if st.spend == nil {
		for _, ps := range in.PartialSigs {
			if ps == nil {
				continue
			}
			fp, label := v.cosigner(ps.PubKey, nil, in.Bip32Derivation)
			ir.Unchecked = append(ir.Unchecked, Cosigner{Fingerprint: fp, Label: label, PubKey: hex.EncodeToString(ps.PubKey), Sighash: sigSighash(ps.Signature)})
		}
		if len(in.PartialSigs) > 0 {
			warns = append(warns, fmt.Sprintf("input %d: its %d signatures cannot be verified without its UTXO and a multisig script", i, len(in.PartialSigs)))
		}
		return ir, warns
	}
	if st.spend.kind == kindTr {
		return tapInputReport(p, a, v, i, ir, warns, verify)
	}
	ms := st.spend.ms
	ir.Required = ms.m

	var derived *descriptor.Derived
	if v != nil {
		d, err := v.matchInput(in, st)
		if err == nil {
			ir.Ours = true
			ir.Branch, ir.Index = ptr(d.Branch), ptr(d.Index)
			ir.Address = d.Address
			derived = d
		} else {
			ir.Address = addressOf(st.prevOut.PkScript, net)
			warns = append(warns, fmt.Sprintf("input %d (%s) is not the wallet's: %v", i, ir.OutPoint, err))
		}
	}
	name := func(pub []byte) Cosigner {
		fp, label := v.cosigner(pub, derived, in.Bip32Derivation)
		return Cosigner{Fingerprint: fp, Label: label, PubKey: hex.EncodeToString(pub)}
	}

	signed := make(map[int]bool, len(in.PartialSigs))
	for _, ps := range in.PartialSigs {
		if ps == nil {
			continue
		}
		slot := ms.indexOf(ps.PubKey)
		s := name(ps.PubKey)
		switch {
		case slot < 0:
			warns = append(warns, fmt.Sprintf("input %d: a signature from %s is for a key that is not in the input's script; it does not count", i, describeCosigner(s.Fingerprint, s.Label, ps.PubKey)))
		case verify && st.sighashErr != nil:
			warns = append(warns, fmt.Sprintf("input %d: the sighash cannot be computed: %v", i, st.sighashErr))
		default:
			err := checkSigEncoding(ps.Signature)
			if err == nil && verify {
				err = a.memo.verify(st.sighash, ps.PubKey, ps.Signature)
			}
			if err != nil {
				warns = append(warns, fmt.Sprintf("input %d: invalid signature from %s: %v; it does not count", i, describeCosigner(s.Fingerprint, s.Label, ps.PubKey), err))
				continue
			}
			signed[slot] = true
			s.Sighash = sigSighash(ps.Signature)
			ir.Signatures = append(ir.Signatures, s)
		}
	}
	var usable map[string]bool
	if st.spend.mini != nil {
		usable = usableKeys(st.spend.mini, inputLocks(p.UnsignedTx, i))
	}
	for slot, pub := range ms.keys {
		if !signed[slot] && (usable == nil || usable[string(pub)]) {
			ir.NotSigned = append(ir.NotSigned, name(pub))
		}
	}
	ir.Missing = max(0, ms.m-len(signed))
	if st.spend.mini != nil {
		// Enough signatures are the ones a path open under the
		// transaction's locks can use.
		ir.Missing = max(1, ms.m-len(signed))
		if _, err := st.spend.mini.Satisfy(&miniscript.Satisfier{Keys: miniscript.PubKeyBytes, Signatures: signedSigs(in, ms, signed), Locks: inputLocks(p.UnsignedTx, i)}); err == nil {
			ir.Missing = 0
		}
	}
	return ir, warns
}

// estimatedInputSize is an input's size once finalized: its actual final
// scripts, or m worst-case signatures over its scripts, or, when nothing is
// known, an outpoint and sequence with empty scripts.
func estimatedInputSize(in *bpsbt.PInput, st *inputState) inputSize {
	switch {
	case st.finalized:
		return inputSize{
			base:    outPointSize + compactSizeLen(len(in.FinalScriptSig)) + len(in.FinalScriptSig) + sequenceSize,
			witness: len(in.FinalScriptWitness),
		}
	case st.spend != nil && st.spend.mini != nil:
		if sz, err := miniscriptInputSize(st.spend.mini); err == nil {
			return sz
		}
	case st.spend != nil && st.spend.kind == kindTr:
		return tapInputSize(st.spend.tap)
	case st.spend != nil:
		return multisigInputSize(st.spend.kind, st.spend.ms.m, len(st.spend.script))
	}
	return inputSize{base: outPointSize + 1 + sequenceSize}
}

// addressOf encodes a scriptPubKey as an address of net, or "".
func addressOf(pkScript []byte, net *chaincfg.Params) string {
	return descriptor.ScriptAddress(pkScript, net)
}

func displayAddress(o *OutputReport) string {
	if o.Address != "" {
		return o.Address
	}
	return "script " + o.Script
}

func ptr(v uint32) *uint32 { return &v }

// nextRole is the role the PSBT needs next: the least advanced over its
// inputs.
func nextRole(p *bpsbt.Packet, a *analysis, r *Report) string {
	role := RoleExtractor
	for i := range p.Inputs {
		st, ir := &a.in[i], &r.Inputs[i]
		var ri string
		switch {
		case st.finalized:
			ri = RoleExtractor
		case st.prevOut == nil || st.spend == nil:
			ri = RoleUpdater
		case ir.Missing > 0:
			ri = RoleSigner
		default:
			ri = RoleFinalizer
		}
		if roleRank(ri) < roleRank(role) {
			role = ri
		}
	}
	if len(p.Inputs) == 0 {
		return RoleUpdater
	}
	return role
}

func roleRank(r string) int {
	return map[string]int{RoleUpdater: 0, RoleSigner: 1, RoleFinalizer: 2, RoleExtractor: 3}[r]
}

// SighashName spells a sighash type: "ALL", "NONE|ANYONECANPAY",
// "DEFAULT", or its number for anything undefined.
func SighashName(t txscript.SigHashType) string {
	base := map[txscript.SigHashType]string{txscript.SigHashAll: "ALL", txscript.SigHashNone: "NONE", txscript.SigHashSingle: "SINGLE"}[t&^txscript.SigHashAnyOneCanPay]
	switch {
	case t == txscript.SigHashDefault:
		return "DEFAULT"
	case base == "":
		return fmt.Sprintf("0x%x", uint32(t))
	case t&txscript.SigHashAnyOneCanPay != 0:
		return base + "|ANYONECANPAY"
	}
	return base
}

// sigSighash names the sighash byte a DER signature ends with.
func sigSighash(sig []byte) string {
	if len(sig) == 0 {
		return ""
	}
	return SighashName(txscript.SigHashType(sig[len(sig)-1]))
}

// GuessNetwork is the network a PSBT's global xpubs are for (testnet for
// tpub), or mainnet when it has none: what addresses are shown for when
// no wallet says.
func GuessNetwork(p *bpsbt.Packet) *chaincfg.Params {
	for _, u := range p.Unknowns {
		if u == nil || len(u.Key) != 1+xpubSerializedBytes || u.Key[0] != globalXpub {
			continue
		}
		if bytes.Equal(u.Key[1:5], chaincfg.TestNet3Params.HDPublicKeyID[:]) {
			return &chaincfg.TestNet3Params
		}
		return &chaincfg.MainNetParams
	}
	return &chaincfg.MainNetParams
}
