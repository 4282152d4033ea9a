package coldcard

// Signing for miniscript and taproot wallets, as the EDGE firmware does it
// (shared/psbt.py and MiniScriptWallet.validate_script_pubkey in
// shared/wallet.py, new_edge commit 8919b84a): the wallet is found by the
// PSBT's derivations of this device's keys, the wallet is derived at the
// (branch, index) those derivations name, and the script or output key it
// gives must be the one spent. docs/taproot.md lists the BIP-371 fields it
// needs: PSBT_IN_TAP_BIP32_DERIVATION, and PSBT_IN_TAP_INTERNAL_KEY and
// PSBT_IN_TAP_MERKLE_ROOT matching the registered descriptor when present.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

// msSign is one signature to make: our key at path, for a wsh script or a
// tapscript leaf.
type msSign struct {
	pub  []byte // 33 bytes (wsh) or x-only (tr)
	path []uint32
	leaf *tapLeafInfo // tr only
}

// ownDerivation is one of our keys as the PSBT names it.
type ownDerivation struct {
	pub  []byte
	path []uint32
}

func ownDerivations(in *bpsbt.PInput, tap bool, my uint32) []ownDerivation {
	var out []ownDerivation
	if tap {
		for _, d := range in.TaprootBip32Derivation {
			if d.MasterKeyFingerprint == my {
				out = append(out, ownDerivation{d.XOnlyPubKey, d.Bip32Path})
			}
		}
		return out
	}
	for _, d := range in.Bip32Derivation {
		if d.MasterKeyFingerprint == my {
			out = append(out, ownDerivation{d.PubKey, d.Bip32Path})
		}
	}
	return out
}

func hasTapXFP(ds []*bpsbt.TaprootBip32Derivation, xfp uint32) bool {
	for _, d := range ds {
		if d.MasterKeyFingerprint == xfp {
			return true
		}
	}
	return false
}

// matchMiniscript finds the enrolled wallet (named, when the host named
// one) whose derivation at the place our derivations name gives spk.
//
// A musig() wallet is also found by the derivation of its internal key
// (tapDerivs), whose fingerprint is the BIP-328 synthetic xpub's.
func (e *Emulator) matchMiniscript(named *msWallet, own []ownDerivation, spk []byte, tap bool, my uint32, tapDerivs []*bpsbt.TaprootBip32Derivation) (*msWallet, *msDerived, error) {
	e.mu.Lock()
	wallets := append([]*msWallet(nil), e.msWallets...)
	e.mu.Unlock()
	if named != nil {
		wallets = []*msWallet{named}
	}
	for _, w := range wallets {
		if w.tap != tap {
			continue
		}
		if w.musig != nil {
			if d, der, err := w.matchMusig(e, spk, tapDerivs); err != nil || d != nil {
				return d, der, err
			}
		}
		for _, k := range w.keys {
			if k.xpub == nil || k.xfp != my || k.musig {
				continue
			}
			for _, d := range own {
				n := len(k.deriv)
				if len(d.path) != n+2 || !bytes.Equal(u32bytes(d.path[:n]), u32bytes(k.deriv)) {
					continue
				}
				for change, br := range k.branches {
					if d.path[n] != br {
						continue
					}
					der, err := w.derive(e, uint32(change), d.path[n+1])
					if err != nil {
						return nil, nil, err
					}
					if bytes.Equal(der.spk, spk) {
						return w, der, nil
					}
				}
			}
		}
	}
	return nil, nil, nil
}

// matchMusig tries the derivations of the musig() aggregate: two steps
// from its synthetic xpub (fingerprint hash160(aggregate)).
func (w *msWallet) matchMusig(e *Emulator, spk []byte, tapDerivs []*bpsbt.TaprootBip32Derivation) (*msWallet, *msDerived, error) {
	d0, err := w.derive(e, 0, 0)
	if err != nil {
		return nil, nil, err
	}
	fp := binary.LittleEndian.Uint32(hash160(d0.musigAgg)[:4])
	for _, d := range tapDerivs {
		if d.MasterKeyFingerprint != fp || len(d.Bip32Path) != 2 {
			continue
		}
		for change, br := range w.musigBr {
			if d.Bip32Path[0] != br || d.Bip32Path[1] >= 1<<31 {
				continue
			}
			der, err := w.derive(e, uint32(change), d.Bip32Path[1])
			if err != nil {
				return nil, nil, err
			}
			if bytes.Equal(der.spk, spk) {
				return w, der, nil
			}
		}
	}
	return nil, nil, nil
}

func u32bytes(p []uint32) []byte {
	var b []byte
	for _, v := range p {
		b = le32(b, v)
	}
	return b
}

// reviewMiniscriptInput checks input i against the miniscript wallets. It
// reports false when no miniscript wallet claims a P2WSH input, so the
// multisig review can have it.
func (e *Emulator) reviewMiniscriptInput(pl *plan, i int, my uint32, prev *wire.TxOut) (bool, error) {
	in := &pl.p.Inputs[i]
	spk := prev.PkScript
	tap := txscript.IsPayToTaproot(spk)
	if !tap && !txscript.IsPayToWitnessScriptHash(spk) {
		return false, nil
	}
	own := ownDerivations(in, tap, my)
	w, der, err := e.matchMiniscript(pl.named, own, spk, tap, my, in.TaprootBip32Derivation)
	if err != nil {
		return false, fmt.Errorf("Input #%d: %v", i, err)
	}
	if w == nil {
		if tap || pl.named != nil {
			// Like psbt.py (new_edge), which clears sp_idxs:
			// an input of no enrolled wallet (or not of the wallet named)
			// is left unsigned, not refused.
			pl.inputs[i] = inputPlan{}
			pl.skipped = true
			return true, nil
		}
		return false, nil
	}
	if pl.ms != nil && pl.ms != w {
		return false, fmt.Errorf("Input #%d: inputs from more than one wallet", i)
	}
	pl.ms = w
	if in.SighashType != 0 && in.SighashType != txscript.SigHashAll && !(tap && in.SighashType == txscript.SigHashDefault) {
		return false, fmt.Errorf("Unsupported sighash flag 0x%x", uint32(in.SighashType))
	}
	ip := inputPlan{amount: prev.Value, segwit: true, ms: der, tap: tap}
	if tap {
		if len(in.TaprootInternalKey) > 0 && !bytes.Equal(in.TaprootInternalKey, der.internal) {
			return false, fmt.Errorf("Input #%d: internal key mismatch", i)
		}
		if len(in.TaprootMerkleRoot) > 0 && !bytes.Equal(in.TaprootMerkleRoot, der.root) {
			return false, fmt.Errorf("Input #%d: merkle root mismatch", i)
		}
		for li := range der.leaves {
			leaf := &der.leaves[li]
			for ki, k := range w.keys {
				if k.xfp != my || k.xpub == nil || !leaf.node.usesKey(ki) {
					continue
				}
				if hasTapScriptSig(in, der.pubs[ki], leaf.hash[:]) {
					continue
				}
				path, ok := pathOf(own, der.pubs[ki])
				if !ok {
					continue // the PSBT does not name this key: not signed
				}
				ip.mssigns = append(ip.mssigns, msSign{pub: der.pubs[ki], path: path, leaf: leaf})
			}
		}
		if w.musig != nil {
			if ip.musig, err = e.reviewMusig(w, der, in, own, my, i); err != nil {
				return false, err
			}
		}
	} else {
		if len(in.WitnessScript) == 0 {
			return false, fmt.Errorf("Need witness script for input #%d", i)
		}
		if !bytes.Equal(in.WitnessScript, der.script) {
			return false, fmt.Errorf("Input #%d: witness script mismatch", i)
		}
		ip.script = der.script
		for ki, k := range w.keys {
			if k.xfp != my || k.xpub == nil || signedBy(in, der.pubs[ki]) {
				continue
			}
			if path, ok := pathOf(own, der.pubs[ki]); ok {
				ip.mssigns = append(ip.mssigns, msSign{pub: der.pubs[ki], path: path})
			}
		}
	}
	ip.sign = len(ip.mssigns) > 0 || ip.musig != nil
	pl.inputs[i] = ip
	return true, nil
}

func pathOf(own []ownDerivation, pub []byte) ([]uint32, bool) {
	for _, d := range own {
		if bytes.Equal(d.pub, pub) {
			return d.path, true
		}
	}
	return nil, false
}

func hasTapScriptSig(in *bpsbt.PInput, x, leaf []byte) bool {
	for _, s := range in.TaprootScriptSpendSig {
		if bytes.Equal(s.XOnlyPubKey, x) && bytes.Equal(s.LeafHash, leaf) {
			return true
		}
	}
	return false
}

// reviewMiniscriptOutput decides whether output j is change of the
// miniscript wallet being spent. An output naming our key at a place of
// the wallet that derives another script is refused.
func (e *Emulator) reviewMiniscriptOutput(pl *plan, j int, my uint32) (bool, error) {
	out := &pl.p.Outputs[j]
	spk := pl.p.UnsignedTx.TxOut[j].PkScript
	tap := txscript.IsPayToTaproot(spk)
	var own []ownDerivation
	if tap {
		for _, d := range out.TaprootBip32Derivation {
			if d.MasterKeyFingerprint == my {
				own = append(own, ownDerivation{d.XOnlyPubKey, d.Bip32Path})
			}
		}
	} else {
		for _, d := range out.Bip32Derivation {
			if d.MasterKeyFingerprint == my {
				own = append(own, ownDerivation{d.PubKey, d.Bip32Path})
			}
		}
	}
	if len(own) == 0 && !(tap && pl.ms.musig != nil && len(out.TaprootBip32Derivation) > 0) || pl.ms.tap != tap {
		return false, nil
	}
	w, _, err := e.matchMiniscript(pl.ms, own, spk, tap, my, out.TaprootBip32Derivation)
	if err != nil {
		return false, err
	}
	if w == nil {
		return false, fmt.Errorf("Output#%d: Change output is fraudulent", j)
	}
	return true, nil
}

// signMiniscript adds our signatures to input i: ECDSA for wsh, BIP-340
// script-path signatures (SIGHASH_DEFAULT) for each tapscript leaf a key
// of ours is in. All of our keys sign in one pass.
func (e *Emulator) signMiniscript(pl *plan, hashes *txscript.TxSigHashes, i int) error {
	ip := &pl.inputs[i]
	in := &pl.p.Inputs[i]
	tx := pl.p.UnsignedTx
	for _, sg := range ip.mssigns {
		k, err := e.keyAt(sg.path)
		if err != nil {
			return err
		}
		priv, err := k.ECPrivKey()
		if err != nil {
			return err
		}
		pub := priv.PubKey().SerializeCompressed()
		if ip.tap {
			if !bytes.Equal(pub[1:], sg.pub) {
				return fmt.Errorf("Input #%d needs pubkey I dont have", i)
			}
			leaf := txscript.NewBaseTapLeaf(sg.leaf.script)
			digest, err := txscript.CalcTapscriptSignaturehash(hashes, txscript.SigHashDefault, tx, i, prevFetcher(pl.prev), leaf)
			if err != nil {
				return fmt.Errorf("Input #%d: %v", i, err)
			}
			sig, err := schnorr.Sign(priv, digest)
			if err != nil {
				return err
			}
			in.TaprootScriptSpendSig = append(in.TaprootScriptSpendSig, &bpsbt.TaprootScriptSpendSig{
				XOnlyPubKey: sg.pub, LeafHash: append([]byte(nil), sg.leaf.hash[:]...),
				Signature: sig.Serialize(), SigHash: txscript.SigHashDefault,
			})
			continue
		}
		if !bytes.Equal(pub, sg.pub) {
			return fmt.Errorf("Input #%d needs pubkey I dont have", i)
		}
		digest, err := txscript.CalcWitnessSigHash(ip.script, hashes, txscript.SigHashAll, tx, i, ip.amount)
		if err != nil {
			return fmt.Errorf("Input #%d: %v", i, err)
		}
		sig := append(ecdsa.Sign(priv, digest).Serialize(), byte(txscript.SigHashAll))
		in.PartialSigs = append(in.PartialSigs, &bpsbt.PartialSig{PubKey: sg.pub, Signature: sig})
	}
	if in.SighashType == txscript.SigHashAll {
		in.SighashType = 0
	}
	return nil
}

// errMissingPrevouts: a taproot signature commits to every output spent.
var errMissingPrevouts = errors.New("Missing UTXO(s): taproot signing needs every input's UTXO")
