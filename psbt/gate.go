package psbt

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/txscript"
)

// The rules of the gate, named in its refusals.
const (
	RuleWallet    = "wallet"       // inputs and change derive from the wallet; UTXOs proven; SIGHASH_ALL
	RuleIndex     = "change-index" // the wallet's outputs stay within the addresses a sync finds
	RuleFee       = "fee"          // no absurd fee without --allow-high-fee
	RuleSignature = "signature"    // signatures already present are valid
	RuleNetwork   = "network"      // the PSBT is for the wallet's network
)

// GateError is a refusal by the gate: which rule, and why. It wraps
// ErrRefused (exit code 4).
type GateError struct {
	Rule string
	Err  error
}

func (e *GateError) Error() string {
	// The inner error may already say "refused: ..." (it wraps ErrRefused
	// for callers of CheckWallet); once is enough.
	return "refused by the " + e.Rule + " rule: " + strings.TrimPrefix(e.Err.Error(), ErrRefused.Error()+": ")
}
func (e *GateError) Unwrap() []error { return []error{ErrRefused, e.Err} }

func refuse(rule string, err error) error { return &GateError{Rule: rule, Err: err} }

// GateRules are the limits a wallet sets on every PSBT it handles.
type GateRules struct {
	// ReceiveLimit and ChangeLimit are the first index, per branch, that a
	// wallet output may not use: the next index to hand out plus the gap
	// limit. Coins paid beyond it would not be found by a sync. 0: no
	// limit.
	ReceiveLimit, ChangeLimit uint32
	// Gap is the gap limit the limits were computed with, for messages.
	Gap uint32
	// AllowHighFee lets a fee above 1,000 sat/vB or 5% of the amount sent
	// through.
	AllowHighFee bool
	// VerifySignatures checks the partial signatures already present (sign
	// does: a bad one must be named as not the new signer's).
	VerifySignatures bool
	// Locate says where a script is in the wallet, for inputs that are
	// already finalized (their scripts and derivations are gone): they must
	// still spend the wallet's coins. nil: finalized inputs are refused.
	Locate func(pkScript []byte) (branch, index uint32, ok bool)
}

// Gate is the one safety check every step runs (spend, sign before any
// signer sees the PSBT, combine, finalize, broadcast): every input derives
// from the wallet (or, finalized, spends a script the wallet has) with its
// amount proven by the previous transaction and SIGHASH_ALL; every output
// that claims to be the wallet's re-derives, within the gap of addresses a
// sync finds; the fee is sane unless allowed; with VerifySignatures, the
// signatures present are valid; global xpub records of the wallet's keys
// are for its network. It returns the PSBT's report; a refusal is a
// *GateError naming the rule.
func Gate(p *bpsbt.Packet, w WalletInfo, rules GateRules) (*Report, error) {
	if err := checkShape(p); err != nil {
		return nil, err
	}
	w = w.withMemo()
	v := newWalletView(w)
	if v == nil {
		return nil, refuse(RuleWallet, errors.New("no wallet descriptor or network to check the PSBT against"))
	}
	if err := v.checkXpubNetwork(p); err != nil {
		return nil, refuse(RuleNetwork, err)
	}
	a := analyze(p, w.Memo)
	v.prefetchPacket(p, a)
	if err := w.Memo.checkKeys(p); err != nil {
		return nil, err
	}
	if err := v.walletRule(p, a, rules.Locate); err != nil {
		var g *GateError
		if errors.As(err, &g) {
			return nil, g
		}
		return nil, refuse(RuleWallet, err)
	}
	rep := report(p, w, v, a, rules.VerifySignatures)
	for j, o := range rep.Outputs {
		if o.Branch == nil || o.Index == nil {
			continue
		}
		limit, branch := rules.ChangeLimit, "change"
		if *o.Branch == 0 {
			limit, branch = rules.ReceiveLimit, "receive"
		}
		if limit > 0 && *o.Index >= limit {
			return nil, refuse(RuleIndex, fmt.Errorf("output %d (%d sat) pays the wallet's %s address %d/%d, beyond index %d: the wallet hands out %s addresses in order and a sync looks only %d addresses past the last one used, so these coins would not be found; do not sign",
				j, o.Amount, branch, *o.Branch, *o.Index, limit-1, branch, rules.Gap))
		}
	}
	if err := checkFee(rep.Fee, rep.VSize, rep.Sent, rules.AllowHighFee); err != nil {
		return nil, refuse(RuleFee, err)
	}
	if rules.VerifySignatures {
		for i, in := range rep.Inputs {
			if len(in.Signatures) != signatureCount(&p.Inputs[i]) && !in.Finalized && in.Required > 0 {
				return nil, refuse(RuleSignature, fmt.Errorf("input %d carries a signature by %s that does not verify: the PSBT was changed or corrupted after that cosigner signed (a signer about to sign has not touched it yet); ask that cosigner to sign again",
					i, strings.Join(invalidSigners(p.Inputs[i].PartialSigs, in), ", ")))
			}
		}
	}
	return rep, nil
}

// finalizedInput checks an input that is already finalized: its amount is
// proven and it spends a script of the wallet.
func finalizedInput(p *bpsbt.Packet, a *analysis, i int, locate func([]byte) (uint32, uint32, bool)) error {
	st := &a.in[i]
	op := p.UnsignedTx.TxIn[i].PreviousOutPoint
	switch {
	case st.prevErr != nil:
		return st.prevErr
	case p.Inputs[i].NonWitnessUtxo == nil:
		return fmt.Errorf("%w: input %d (%s) is finalized without its previous transaction: its amount cannot be proven", ErrRefused, i, op)
	case locate == nil:
		return fmt.Errorf("%w: input %d (%s) is already finalized: its scripts and derivations are gone, so it can no longer be checked against the wallet; finalize or broadcast this PSBT instead", ErrRefused, i, op)
	}
	if _, _, ok := locate(st.prevOut.PkScript); !ok {
		return fmt.Errorf("%w: input %d (%s) spends script %x, which is not one of the wallet's", ErrRefused, i, op, st.prevOut.PkScript)
	}
	// A finalizer clears every other record (BIP-174); what is left or
	// added afterwards must not contradict the final scripts.
	in := &p.Inputs[i]
	if in.SighashType != 0 && in.SighashType != txscript.SigHashAll {
		return fmt.Errorf("%w: input %d (%s) is finalized but asks for sighash type %s; only SIGHASH_ALL is accepted", ErrRefused, i, op, SighashName(in.SighashType))
	}
	if len(in.PartialSigs) > 0 {
		return refuse(RuleSignature, fmt.Errorf("input %d (%s) is finalized but carries %d partial signature(s) a finalizer would have cleared: they were added afterwards", i, op, len(in.PartialSigs)))
	}
	if isP2TR(st.prevOut.PkScript) {
		return checkTapFinal(in, i, op)
	}
	for _, sig := range finalSignatures(in) {
		if h := txscript.SigHashType(sig[len(sig)-1]); h != txscript.SigHashAll {
			return fmt.Errorf("%w: input %d (%s) is finalized with a signature of sighash type %s; only SIGHASH_ALL is accepted", ErrRefused, i, op, SighashName(h))
		}
	}
	return nil
}

// finalSignatures are the signatures in a finalized multisig input: the
// witness items between the leading empty item (CHECKMULTISIG's extra pop)
// and the witness script, or the same pushes of a P2SH scriptSig.
func finalSignatures(in *bpsbt.PInput) [][]byte {
	var items [][]byte
	if len(in.FinalScriptWitness) > 0 {
		w, err := parseWitness(in.FinalScriptWitness)
		if err != nil {
			return nil
		}
		items = w
	} else if len(in.FinalScriptSig) > 0 {
		pushes, err := txscript.PushedData(in.FinalScriptSig)
		if err != nil {
			return nil
		}
		items = pushes
	}
	if len(items) < 2 {
		return nil
	}
	var sigs [][]byte
	for _, it := range items[1 : len(items)-1] {
		// A miniscript witness also holds public keys (pkh), 1 and empty
		// items (branch choices, dissatisfactions): only DER signatures
		// (SEQUENCE tag 0x30, at least 9 bytes) are signatures.
		if len(it) >= 9 && it[0] == 0x30 {
			sigs = append(sigs, it)
		}
	}
	return sigs
}

// checkXpubNetwork refuses global xpub records of the wallet's keys that
// are serialized for another network than the wallet's: the PSBT was made
// for another chain.
func (v *walletView) checkXpubNetwork(p *bpsbt.Packet) error {
	want, err := globalXpubs(v.d)
	if err != nil {
		return err
	}
	const keyMaterial = 1 + 4 + 1 + 4 + 4
	for _, u := range p.Unknowns {
		if u == nil || len(u.Key) != 1+xpubSerializedBytes || u.Key[0] != globalXpub {
			continue
		}
		for _, w := range want {
			if !bytes.Equal(u.Key[keyMaterial:], w.Key[keyMaterial:]) {
				continue
			}
			if got := u.Key[1:5]; !sameNetworkFamily(got, v.w.Network) {
				return fmt.Errorf("the PSBT's global xpub record of a wallet key is serialized for another network (version %x) than the wallet's %s", got, v.w.Network.Name)
			}
		}
	}
	return nil
}

// sameNetworkFamily reports whether extended-key version bytes belong to
// net's family (mainnet xpub, or the test networks' tpub), SLIP-132
// versions included.
func sameNetworkFamily(version []byte, net *chaincfg.Params) bool {
	main := net.Name == chaincfg.MainNetParams.Name
	switch {
	case bytes.Equal(version, chaincfg.MainNetParams.HDPublicKeyID[:]):
		return main
	case bytes.Equal(version, chaincfg.TestNet3Params.HDPublicKeyID[:]):
		return !main
	}
	// SLIP-132 (Ypub/Zpub mainnet 0x0295b43f/0x02aa7ed3; Upub/Vpub test
	// 0x024289ef/0x02575483): Electrum writes plain xpubs, but be lenient.
	mainSlip := bytes.Equal(version, []byte{0x02, 0x95, 0xb4, 0x3f}) || bytes.Equal(version, []byte{0x02, 0xaa, 0x7e, 0xd3})
	testSlip := bytes.Equal(version, []byte{0x02, 0x42, 0x89, 0xef}) || bytes.Equal(version, []byte{0x02, 0x57, 0x54, 0x83})
	return (main && mainSlip) || (!main && testSlip)
}

// invalidSigners names the cosigners whose partial signatures on an input
// are not among its valid ones: by fingerprint and label when the wallet
// knows the key, else by public key.
func invalidSigners(sigs []*bpsbt.PartialSig, in InputReport) []string {
	valid := map[string]bool{}
	for _, c := range in.Signatures {
		valid[c.PubKey] = true
	}
	var names []string
	for _, ps := range sigs {
		pub := hex.EncodeToString(ps.PubKey)
		if valid[pub] {
			continue
		}
		name := "key " + pub + " (not a key of this input)"
		for _, c := range in.NotSigned {
			if c.PubKey == pub {
				name = c.Fingerprint
				if c.Label != "" {
					name += " (" + c.Label + ")"
				}
			}
		}
		names = append(names, name)
	}
	return names
}
