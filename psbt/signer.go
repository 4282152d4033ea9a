package psbt

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/txscript"
	"github.com/countersign/countersign/descriptor"
)

// Sign is the Signer role for one BIP-32 master key: for every input whose
// BIP-32 derivations carry master's fingerprint it derives the private key
// at the recorded path, checks that it gives the recorded public key and
// that the input's script holds that key, and adds a SIGHASH_ALL partial
// signature (RFC 6979 nonce, low S, DER): BIP-143 for sh-wsh and wsh
// inputs, the legacy sighash for sh. Inputs already signed by the key and
// finalized inputs are skipped. It returns how many signatures it added.
//
// Before signing an input it makes the BIP-174 signer checks and refuses
// (ErrRefused, nothing added) when any fails: the input must carry a
// non_witness_utxo that hashes to the txid it spends (and agrees with the
// witness_utxo), the redeem and witness scripts must be the ones the
// prevout commits to, a legacy sh input must not carry a witness_utxo, and
// a sighash type, if present, must be SIGHASH_ALL. Sign does not check that
// the PSBT belongs to a wallet; run CheckWallet first.
func Sign(p *bpsbt.Packet, master *hdkeychain.ExtendedKey) (int, error) {
	if master == nil || !master.IsPrivate() {
		return 0, malformed("signing needs a private master key (xprv/tprv)")
	}
	pub, err := master.ECPubKey()
	if err != nil {
		return 0, fmt.Errorf("%w: master key: %v", ErrMalformed, err)
	}
	var fp [4]byte
	copy(fp[:], btcutil.Hash160(pub.SerializeCompressed()))
	keys := &keyChain{root: master, nodes: make(map[string]*hdkeychain.ExtendedKey)}
	return signWith(p, fp, keys.privKey, true)
}

// keyChain derives private keys from a master key, keeping every node on
// the way so that sibling paths (one per input) share their parents.
type keyChain struct {
	root  *hdkeychain.ExtendedKey
	nodes map[string]*hdkeychain.ExtendedKey // by path prefix
}

func (c *keyChain) privKey(path []uint32) (*btcec.PrivateKey, error) {
	node := c.root
	key := make([]byte, 0, 4*len(path))
	for _, step := range path {
		key = binary.LittleEndian.AppendUint32(key, step)
		if n, ok := c.nodes[string(key)]; ok {
			node = n
			continue
		}
		child, err := node.Derive(step)
		if err != nil {
			return nil, fmt.Errorf("deriving %s: %v", descriptor.Path(path), err)
		}
		c.nodes[string(key)] = child
		node = child
	}
	return node.ECPrivKey()
}

// keySource returns the private key at a path from the master whose
// fingerprint signWith was given, or nil when it does not hold that key.
type keySource func(path []uint32) (*btcec.PrivateKey, error)

// pendingSig is a signature to make: input, key, public key as recorded.
type pendingSig struct {
	input int
	priv  *btcec.PrivateKey
	pub   []byte
}

// signWith is the signer behind Sign. requireNonWitnessUtxo is true for
// every real signer; the BIP-174 worked example predates that rule and
// gives only a witness_utxo for its P2SH-P2WSH input, so its test turns the
// requirement off.
func signWith(p *bpsbt.Packet, fp [4]byte, keys keySource, requireNonWitnessUtxo bool) (int, error) {
	if err := checkShape(p); err != nil {
		return 0, err
	}
	a := analyze(p, nil)
	nTap, err := signTap(p, a, fp, keys, requireNonWitnessUtxo)
	if err != nil {
		return 0, err
	}
	var todo []pendingSig
	need := make([]bool, len(p.Inputs))
	for i := range p.Inputs {
		in, st := &p.Inputs[i], &a.in[i]
		var mine []*bpsbt.Bip32Derivation
		for _, d := range in.Bip32Derivation {
			if d != nil && fingerprintOf(d) == fp {
				mine = append(mine, d)
			}
		}
		if len(mine) == 0 || st.finalized || st.spend != nil && st.spend.kind == kindTr {
			continue
		}
		if err := signerChecks(in, st, i, requireNonWitnessUtxo); err != nil {
			return 0, err
		}
		for _, d := range mine {
			priv, err := keys(d.Bip32Path)
			if err != nil {
				return 0, fmt.Errorf("input %d: %w", i, err)
			}
			if priv == nil {
				continue
			}
			if derived := serializePub(priv.PubKey(), len(d.PubKey)); !bytes.Equal(derived, d.PubKey) {
				return 0, fmt.Errorf("%w: input %d: the derivation records pubkey %x at %s, but this key derives %x there: the PSBT's derivations are wrong; do not sign it",
					ErrRefused, i, d.PubKey, descriptor.Path(d.Bip32Path), derived)
			}
			if st.spend.ms.indexOf(d.PubKey) < 0 {
				return 0, fmt.Errorf("%w: input %d: this key (%x at %s) is not one of the keys of the input's script; the PSBT is inconsistent",
					ErrRefused, i, d.PubKey, descriptor.Path(d.Bip32Path))
			}
			if hasSigFor(in, d.PubKey) {
				continue
			}
			todo = append(todo, pendingSig{input: i, priv: priv, pub: d.PubKey})
			need[i] = true
		}
	}
	if len(todo) == 0 {
		return nTap, nil
	}
	a.computeSighashes(func(i int) bool { return need[i] })
	sigs := make([][]byte, len(todo))
	errs := make([]error, len(todo))
	parallelFor(len(todo), func(k int) {
		st := &a.in[todo[k].input]
		if st.sighashErr != nil {
			errs[k] = fmt.Errorf("input %d: computing the sighash: %v", todo[k].input, st.sighashErr)
			return
		}
		sig := ecdsa.Sign(todo[k].priv, st.sighash).Serialize()
		sigs[k] = append(sig, byte(txscript.SigHashAll))
	})
	if err := joinInputs(errs); err != nil {
		return 0, err
	}
	for k, t := range todo {
		in := &p.Inputs[t.input]
		in.PartialSigs = append(in.PartialSigs, &bpsbt.PartialSig{PubKey: bytes.Clone(t.pub), Signature: sigs[k]})
	}
	return len(todo) + nTap, nil
}

// signerChecks are BIP-174's "data signers check for", made before any key
// is used on an input.
func signerChecks(in *bpsbt.PInput, st *inputState, i int, requireNonWitnessUtxo bool) error {
	switch {
	case st.prevErr != nil:
		return st.prevErr
	case requireNonWitnessUtxo && in.NonWitnessUtxo == nil:
		return fmt.Errorf("%w: input %d has no non_witness_utxo: without the previous transaction the amount it spends cannot be proven (BIP-143 fee attack); update the PSBT with the previous transaction", ErrRefused, i)
	case st.spendErr != nil:
		return st.spendErr
	case st.spend.kind == kindSh && in.WitnessUtxo != nil:
		return fmt.Errorf("%w: input %d carries a witness_utxo but spends a legacy P2SH output: BIP-174 forbids a non-witness signature then", ErrRefused, i)
	case in.SighashType != 0 && in.SighashType != txscript.SigHashAll:
		return fmt.Errorf("%w: input %d asks for sighash type 0x%x; only SIGHASH_ALL is signed, other types let others change the transaction", ErrRefused, i, uint32(in.SighashType))
	}
	return nil
}

func hasSigFor(in *bpsbt.PInput, pub []byte) bool {
	return slices.ContainsFunc(in.PartialSigs, func(ps *bpsbt.PartialSig) bool {
		return ps != nil && bytes.Equal(ps.PubKey, pub)
	})
}

// serializePub serializes a public key in the form (33 or 65 bytes) it was
// recorded in.
func serializePub(k *btcec.PublicKey, size int) []byte {
	if size == 65 {
		return k.SerializeUncompressed()
	}
	return k.SerializeCompressed()
}
