package jade

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/wire"
)

// sign_psbt (Blockstream/Jade@cfce08ce: main/process/sign_psbt.c,
// sign_psbt and sign_psbt_process; main/utils/psbt.c key_iter).

// Signing flags of sign_psbt: which kinds of inputs are signed, and
// whether all multisig inputs fit one registration (then that
// registration's outputs are recognised as change).
const (
	signingSinglesig     = 0x1
	signingMultisig      = 0x2
	signingSingleRecord  = 0x10
	signingChangeAbandon = 0x20
)

// signPSBT handles sign_psbt: it signs, then sends the PSBT back in
// chunks, each after the host's get_extended_data for it.
func (s *session) signPSBT(ctx context.Context, req *request) error {
	e := s.e
	var p struct {
		Network string `cbor:"network"`
		PSBT    []byte `cbor:"psbt"`
	}
	if err := req.params(&p); err != nil {
		return s.fail(req.ID, err)
	}
	n, rerr := e.checkNetwork(p.Network)
	if rerr != nil {
		return s.fail(req.ID, rerr)
	}
	if len(p.PSBT) == 0 {
		return s.fail(req.ID, rpcErr(codeBadParams, "Failed to extract psbt bytes from parameters"))
	}
	pk, err := parsePSBT(p.PSBT)
	if err != nil {
		return s.fail(req.ID, rpcErr(codeBadParams, "Failed to extract psbt from passed bytes"))
	}
	if rerr := e.sign(ctx, n, pk); rerr != nil {
		return s.fail(req.ID, rerr)
	}
	out := pk.serialize()
	// The firmware sends len/chunk+1 messages, which would leave an empty
	// last one when the length is an exact multiple; the emulator rounds up.
	size := e.cfg.OutputChunk
	total := (len(out) + size - 1) / size
	id := req.ID
	for i := 0; i < total; i++ {
		part := out[i*size : min(len(out), (i+1)*size)]
		if err := s.write(seqReply{ID: id, SeqNum: i + 1, SeqLen: total, Result: part}); err != nil {
			return err
		}
		if i+1 == total {
			return nil
		}
		next, err := s.next(ctx)
		if err != nil {
			return err
		}
		if next.Method != "get_extended_data" {
			return s.fail(next.ID, rpcErr(codeProtocol, "Unexpected message, expecting 'get_extended_data'"))
		}
		var q struct {
			OrigID string `cbor:"origid"`
			Orig   string `cbor:"orig"`
			SeqNum uint64 `cbor:"seqnum"`
			SeqLen uint64 `cbor:"seqlen"`
		}
		if err := next.params(&q); err != nil || q.OrigID != req.ID || q.Orig != "sign_psbt" ||
			q.SeqNum != uint64(i+2) || q.SeqLen != uint64(total) {
			return s.fail(next.ID, rpcErr(codeProtocol, "Mismatched fields in 'get_extended_data' message"))
		}
		id = next.ID
	}
	return nil
}

// keyCache derives the device's keys once per path during one request.
type keyCache struct {
	master *hdkeychain.ExtendedKey
	fp     [4]byte
	keys   map[string]*hdkeychain.ExtendedKey
}

func (c *keyCache) key(path []uint32) (*hdkeychain.ExtendedKey, error) {
	id := fmt.Sprint(path)
	if k, ok := c.keys[id]; ok {
		return k, nil
	}
	k, err := derive(c.master, path)
	if err != nil {
		return nil, err
	}
	c.keys[id] = k
	return k, nil
}

// own returns the derivations that are this device's keys: its
// fingerprint, and a path that derives the public key given
// (wally_map_keypath_get_bip32_key_from).
func (c *keyCache) own(ds []derivation) []derivation {
	var out []derivation
	for _, d := range ds {
		if d.fingerprint != c.fp {
			continue
		}
		k, err := c.key(d.path)
		if err != nil {
			continue
		}
		pub, err := k.ECPubKey()
		if err == nil && bytes.Equal(pub.SerializeCompressed(), d.pub) {
			out = append(out, d)
		}
	}
	return out
}

// unhardenedTail is the path after its last hardened step
// (path_get_unhardened_tail_index): the part every cosigner shares.
func unhardenedTail(p []uint32) []uint32 {
	i := len(p)
	for i > 0 && p[i-1] < hdkeychain.HardenedKeyStart {
		i--
	}
	return p[i:]
}

// matches is verify_multisig_script_matches: every signer's key at tail,
// all among the keys the PSBT lists and as many, build spk.
func (r *record) matches(tail []uint32, listed []derivation, spk []byte) bool {
	if len(r.signers) != len(listed) || len(tail) == 0 {
		return false
	}
	suffixes := make([][]uint32, len(r.signers))
	for i := range suffixes {
		suffixes[i] = tail
	}
	script, keys, err := r.scriptFor(suffixes)
	if err != nil {
		return false
	}
	for _, k := range keys {
		found := false
		for _, d := range listed {
			if bytes.Equal(d.pub, k) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return bytes.Equal(script, spk)
}

// findRecord is get_suitable_multisig_record: the first registration that
// builds spk.
func (e *Emulator) findRecord(tail []uint32, listed []derivation, spk []byte) *record {
	e.mu.Lock()
	recs := append([]*record(nil), e.records...)
	e.mu.Unlock()
	for _, r := range recs {
		if r.matches(tail, listed, spk) {
			return r
		}
	}
	return nil
}

// bestUTXO is wally_psbt_get_input_best_utxo: the witness_utxo, else the
// spent output of non_witness_utxo (both checked when parsed).
func bestUTXO(p *packet, i int) *wire.TxOut {
	if v, ok := p.inputs[i].get(inWitnessUtxo); ok {
		out, err := parseTxOut(v)
		if err == nil {
			return out
		}
	}
	if v, ok := p.inputs[i].get(inNonWitnessUtxo); ok {
		var prev wire.MsgTx
		if prev.Deserialize(bytes.NewReader(v)) == nil {
			return prev.TxOut[p.tx.TxIn[i].PreviousOutPoint.Index]
		}
	}
	return nil
}

// singlesigScripts are the scripts a single key pays to: P2WPKH, P2PKH
// and P2SH-P2WPKH (verify_singlesig_script_matches).
func singlesigScripts(pub []byte) [][]byte {
	h := btcutil.Hash160(pub)
	wpkh := append([]byte{0x00, 0x14}, h...)
	pkh := append(append([]byte{0x76, 0xa9, 0x14}, h...), 0x88, 0xac)
	return [][]byte{wpkh, pkh, p2shScript(wpkh)}
}

// sign signs pk in place (sign_psbt): it finds the inputs holding the
// device's keys, recognises change, asks the user, and adds a partial
// signature for each of its keys in each such input.
func (e *Emulator) sign(ctx context.Context, n network, pk *packet) *rpcError {
	keys := &keyCache{master: e.master, fp: e.fp, keys: map[string]*hdkeychain.ExtendedKey{}}
	signing := make([][]derivation, len(pk.inputs))
	var flags int
	var rec *record
	var inTotal int64
	for i := range pk.inputs {
		utxo := bestUTXO(pk, i)
		if utxo == nil {
			return rpcErr(codeBadParams, "Input utxo missing")
		}
		inTotal += utxo.Value
		listed := derivations(pk.inputs[i], inBip32Derivation)
		ours := keys.own(listed)
		if len(ours) == 0 {
			continue // not ours to sign
		}
		signing[i] = ours
		if v, ok := pk.inputs[i].get(inSighashType); ok && binary.LittleEndian.Uint32(v) != hashAll {
			return rpcErr(codeBadParams, "Unsupported sighash value")
		}
		if len(listed) > 1 {
			flags |= signingMultisig
		} else {
			flags |= signingSinglesig
		}
		switch {
		case flags&signingChangeAbandon != 0:
		case flags&signingSinglesig != 0:
			flags |= signingChangeAbandon
		case flags&signingSingleRecord != 0:
			if !rec.matches(unhardenedTail(ours[0].path), listed, utxo.PkScript) {
				flags |= signingChangeAbandon
			}
		default:
			if rec = e.findRecord(unhardenedTail(ours[0].path), listed, utxo.PkScript); rec != nil {
				flags |= signingSingleRecord
			} else {
				flags |= signingChangeAbandon
			}
		}
	}

	// Outputs: the registration's (or a single key's) change is recognised,
	// everything else is shown (psbt_update_outputs).
	screen := Screen{Kind: "sign"}
	if flags == signingMultisig|signingSingleRecord {
		screen.Wallet = rec.name
	}
	var outTotal int64
	for j, out := range pk.tx.TxOut {
		outTotal += out.Value
		so := ScreenOutput{Address: address(out.PkScript, n.params), Amount: out.Value}
		listed := derivations(pk.outputs[j], outBip32Derivation)
		if ours := keys.own(listed); len(ours) > 0 {
			path := ours[0].path
			change := len(path) >= 2 && path[len(path)-2] == 1
			tail := unhardenedTail(path)
			switch {
			case len(listed) == 1 && flags&signingSinglesig != 0:
				for _, s := range singlesigScripts(ours[0].pub) {
					if bytes.Equal(s, out.PkScript) {
						so.Change = change
					}
				}
			case len(listed) > 1 && flags == signingMultisig|signingSingleRecord:
				if rec.matches(tail, listed, out.PkScript) {
					so.Change = change
					if !expectedPath(0, change, tail) {
						so.Warning = "Unusual change path suffix: " + pathString(path)
					}
				}
			}
		}
		screen.Outputs = append(screen.Outputs, so)
	}
	if outTotal > inTotal {
		return rpcErr(codeBadParams, "Total input amounts less than total output amounts")
	}
	screen.Fee = inTotal - outTotal
	if !e.approve(ctx, screen) {
		return rpcErr(codeUserCancelled, "User declined to sign psbt")
	}

	t := newSigTx(pk.tx)
	var cache *segwitCache
	for i, ours := range signing {
		if len(ours) == 0 {
			continue
		}
		utxo := bestUTXO(pk, i)
		code, segwit, err := signingScript(pk.inputs[i], utxo.PkScript)
		if err != nil {
			return rpcErr(codeInternal, "Failed to generate tx input hash")
		}
		var digest [32]byte
		if segwit {
			if cache == nil {
				cache = newSegwitCache(t)
			}
			digest, err = segwitDigest(t, cache, i, code, utxo.Value, hashAll)
		} else {
			digest, err = legacyDigest(t, i, code, hashAll)
		}
		if err != nil {
			return rpcErr(codeInternal, "Failed to generate tx input hash")
		}
		for _, d := range ours {
			k, err := keys.key(d.path)
			if err != nil {
				return rpcErr(codeInternal, "Failed to generate signature")
			}
			priv, err := k.ECPrivKey()
			if err != nil {
				return rpcErr(codeInternal, "Failed to generate signature")
			}
			sig := append(signLowR(priv, digest), hashAll)
			pk.inputs[i].set(append([]byte{inPartialSig}, d.pub...), sig)
		}
	}
	return nil
}

var errScriptMismatch = errors.New("script does not match the spent output")

// signingScript returns the scriptCode input m is signed with, and whether
// the digest is BIP-143's: the witness script of P2WSH and P2SH-P2WSH, the
// key hash's P2PKH script for P2WPKH and P2SH-P2WPKH, the redeem script of
// P2SH and the output script of P2PKH. Every script given must hash to
// the one it claims to be.
func signingScript(m psbtMap, spk []byte) ([]byte, bool, error) {
	wsh := func(program []byte) ([]byte, bool, error) {
		ws, ok := m.get(inWitnessScript)
		h := sha256.Sum256(ws)
		if !ok || !bytes.Equal(h[:], program) {
			return nil, false, errScriptMismatch
		}
		return ws, true, nil
	}
	wpkh := func(h []byte) ([]byte, bool, error) {
		return append(append([]byte{0x76, 0xa9, 0x14}, h...), 0x88, 0xac), true, nil
	}
	switch {
	case len(spk) == 34 && spk[0] == 0x00 && spk[1] == 0x20:
		return wsh(spk[2:])
	case len(spk) == 22 && spk[0] == 0x00 && spk[1] == 0x14:
		return wpkh(spk[2:])
	case len(spk) == 23 && spk[0] == 0xa9 && spk[1] == 0x14 && spk[22] == 0x87:
		rs, ok := m.get(inRedeemScript)
		if !ok || !bytes.Equal(btcutil.Hash160(rs), spk[2:22]) {
			return nil, false, errScriptMismatch
		}
		switch {
		case len(rs) == 34 && rs[0] == 0x00 && rs[1] == 0x20:
			return wsh(rs[2:])
		case len(rs) == 22 && rs[0] == 0x00 && rs[1] == 0x14:
			return wpkh(rs[2:])
		}
		return rs, false, nil
	case len(spk) == 25 && spk[0] == 0x76 && spk[1] == 0xa9 && spk[2] == 0x14:
		return spk, false, nil
	}
	return nil, false, errors.New("unsupported output script")
}

// signLowR signs hash with RFC 6979 nonces and returns the DER signature,
// grinding for a low R as libwally's wally_ec_sig_from_bytes with
// EC_FLAG_GRIND_R does (libwally-core src/sign.c): the first nonce has no
// extra data; while R's first byte is 0x80 or more, the next try passes a
// 32-byte counter (1, 2, ... little-endian) as libsecp256k1's extra
// entropy (ndata), which RFC 6979 section 3.6 feeds to the HMAC-DRBG after
// the key and the message. S is made low (BIP-62), as libsecp256k1 does.
// A low R makes the signature one byte shorter, so the same key and hash
// give the firmware's signature byte for byte.
func signLowR(priv *btcec.PrivateKey, hash [32]byte) []byte {
	d := &priv.Key
	secret := priv.Serialize()
	var e btcec.ModNScalar
	e.SetByteSlice(hash[:])
	for counter := uint32(0); ; counter++ {
		var extra []byte
		if counter > 0 {
			extra = make([]byte, 32)
			binary.LittleEndian.PutUint32(extra, counter)
		}
		for iter := uint32(0); ; iter++ {
			k := btcec.NonceRFC6979(secret, hash[:], extra, nil, iter)
			var R btcec.JacobianPoint
			btcec.ScalarBaseMultNonConst(k, &R)
			R.ToAffine()
			var r btcec.ModNScalar
			xb := R.X.Bytes()
			r.SetByteSlice(xb[:])
			if r.IsZero() {
				continue
			}
			kinv := new(btcec.ModNScalar).InverseValNonConst(k)
			s := new(btcec.ModNScalar).Mul2(&r, d).Add(&e).Mul(kinv)
			if s.IsZero() {
				continue
			}
			if s.IsOverHalfOrder() {
				s.Negate()
			}
			if rb := r.Bytes(); rb[0] < 0x80 {
				return ecdsa.NewSignature(&r, s).Serialize()
			}
			break
		}
	}
}
