package ledger

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/btcec/v2/schnorr/musig2"
	"github.com/btcsuite/btcd/btcutil"
)

// MuSig2 participation for musig() key expressions (app 2.4), following
// app-bitcoin-new doc/musig.md and src/handler/sign_psbt/musig_signing.c
// (commit fc8d7ab610afd834fe512542ba258cf65661ee08): BIP-327 through btcd's
// musig2 package, the BIP-373 PSBT fields, and the app's "psbt-level
// session": round 1 draws a random rand_root, derives each nonce's
// randomness as SHA256(rand_root || input || key expression) and keeps
// rand_root once every pubnonce is out; round 2 takes it back (once),
// regenerates the secret nonce, checks it against the pubnonce in the PSBT
// and yields the partial signature.

// YIELD tags of the MuSig2 rounds (doc/bitcoin.md, SIGN_PSBT).
const (
	yieldPubNonce   = 0xFFFFFFFF
	yieldPartialSig = 0xFFFFFFFE
)

// inMuSigPubNonce is BIP-373's PSBT_IN_MUSIG2_PUB_NONCE: key data
// participant (33) | aggregate after all tweaks (33) | tapleaf hash (32,
// script path only); value the 66-byte pubnonce.
const inMuSigPubNonce = 0x1b

// maxMuSigSessions is how many psbt-level sessions the app keeps.
const maxMuSigSessions = 8

// musigSigner is the index, in e.musig, of the last of the device's keys
// (the app keeps the last one it finds), or -1.
func (w *wallet) musigSigner(e *keyExpr) int {
	signer := -1
	for _, k := range e.musig {
		if w.keys[k].internal {
			signer = k
		}
	}
	return signer
}

// musigInput is a musig() expression's session data for one input.
type musigInput struct {
	keys       []*btcec.PublicKey // the participants, sorted (KeySort)
	mine       *btcec.PublicKey   // the device's participant key
	signer     int                // its index in the key vector
	tweaks     []musig2.KeyTweakDesc
	aggTweaked []byte    // 33-byte aggregate after every tweak
	leaf       *[32]byte // the tapleaf, for a script-path expression
}

// musigAt computes e's session data at (change, index): the two BIP-32
// tweaks from the BIP-328 aggregate xpub along /num[change]/index and, for
// the key path, BIP-341's x-only tweak with the tree's root
// (compute_musig_per_input_info).
func (w *wallet) musigAt(e *keyExpr, change, index uint32, td *tapDerived) (*musigInput, error) {
	mi := &musigInput{signer: w.musigSigner(e)}
	if mi.signer < 0 {
		return nil, fail(swBadState, "no key of this device in the musig")
	}
	var err error
	if mi.mine, err = w.keys[mi.signer].xpub.ECPubKey(); err != nil {
		return nil, fail(swBadState, "musig: %v", err)
	}
	for _, k := range e.musig {
		pk, err := w.keys[k].xpub.ECPubKey()
		if err != nil {
			return nil, fail(swBadState, "musig: %v", err)
		}
		mi.keys = append(mi.keys, pk)
	}
	agg, err := w.exprXpub(e)
	if err != nil {
		return nil, err
	}
	pub, err := agg.ECPubKey()
	if err != nil {
		return nil, fail(swBadState, "musig: %v", err)
	}
	cc := agg.ChainCode()
	for _, step := range []uint32{e.num[change], index} {
		il, next, nextCC, err := ckdPub(pub, cc, step)
		if err != nil {
			return nil, fail(swBadState, "musig: %v", err)
		}
		mi.tweaks = append(mi.tweaks, musig2.KeyTweakDesc{Tweak: il})
		pub, cc = next, nextCC
	}
	if e == w.pol.internal {
		mi.tweaks = append(mi.tweaks, musig2.KeyTweakDesc{Tweak: taggedHash("TapTweak", schnorr.SerializePubKey(pub), td.merkleRoot), IsXOnly: true})
	} else {
		for li := range td.leaves {
			for _, k := range leafExprs(td.leaves[li].n) {
				if k == e {
					mi.leaf = &td.leaves[li].hash
				}
			}
		}
		if mi.leaf == nil {
			return nil, fail(swBadState, "key expression %d is in no leaf", e.pos)
		}
	}
	full, _, _, err := musig2.AggregateKeys(mi.keys, true, musig2.WithKeyTweaks(mi.tweaks...))
	if err != nil {
		return nil, fail(swBadState, "musig: %v", err)
	}
	mi.aggTweaked = full.FinalKey.SerializeCompressed()
	if e == w.pol.internal && !bytes.Equal(mi.aggTweaked[1:], td.output[:]) {
		return nil, fail(swBadState, "musig: the tweaked aggregate is not the output key")
	}
	return mi, nil
}

// ckdPub is BIP-32's public child derivation, returning the tweak IL too:
// IL||IR = HMAC-SHA512(c, serP(K) || ser32(i)), K' = K + IL*G.
func ckdPub(k *btcec.PublicKey, cc []byte, i uint32) ([32]byte, *btcec.PublicKey, []byte, error) {
	m := hmac.New(sha512.New, cc)
	m.Write(k.SerializeCompressed())
	m.Write(binary.BigEndian.AppendUint32(nil, i))
	sum := m.Sum(nil)
	var il [32]byte
	copy(il[:], sum[:32])
	var t btcec.ModNScalar
	if t.SetBytes(&il) != 0 {
		return il, nil, nil, errTweakOverflow
	}
	var kj, tg, r btcec.JacobianPoint
	k.AsJacobian(&kj)
	btcec.ScalarBaseMultNonConst(&t, &tg)
	btcec.AddNonConst(&kj, &tg, &r)
	if r.Z.IsZero() {
		return il, nil, nil, errTweakOverflow
	}
	r.ToAffine()
	return il, btcec.NewPublicKey(&r.X, &r.Y), sum[32:], nil
}

// musigRand is rand_{i,j} = SHA256(rand_root || i || j) (doc/musig.md),
// with i and j as 4-byte big-endian numbers.
func musigRand(root [32]byte, input, expr int) []byte {
	h := sha256.New()
	h.Write(root[:])
	h.Write(binary.BigEndian.AppendUint32(nil, uint32(input)))
	h.Write(binary.BigEndian.AppendUint32(nil, uint32(expr)))
	return h.Sum(nil)
}

// musigNonces is NonceGen with the session's synthetic randomness, the
// participant key and the tweaked aggregate (musig_nonce_gen).
func musigNonces(root [32]byte, input int, e *keyExpr, mi *musigInput) (*musig2.Nonces, error) {
	agg, err := btcec.ParsePubKey(mi.aggTweaked)
	if err != nil {
		return nil, err
	}
	return musig2.GenNonces(musig2.WithCustomRand(bytes.NewReader(musigRand(root, input, e.pos))),
		musig2.WithPublicKey(mi.mine), musig2.WithNonceCombinedKeyAux(agg))
}

// musigPayload is a MuSig2 YIELD: tag | input (varints) | data |
// participant (33) | aggregate (33) | tapleaf hash (script path only).
func musigPayload(tag uint64, input int, data []byte, mi *musigInput) []byte {
	y := append(varint(tag), varint(uint64(input))...)
	y = append(append(append(y, data...), mi.mine.SerializeCompressed()...), mi.aggTweaked...)
	if mi.leaf != nil {
		y = append(y, mi.leaf[:]...)
	}
	return y
}

// nonceKey is the key data under which a participant's pubnonce is found.
func (mi *musigInput) nonceKey(participant *btcec.PublicKey) string {
	k := append(participant.SerializeCompressed(), mi.aggTweaked...)
	if mi.leaf != nil {
		k = append(k, mi.leaf[:]...)
	}
	return string(k)
}

// musigSessionID identifies the psbt-level session of a wallet and a
// transaction in both rounds: a tagged hash of the wallet id and the
// transaction's BIP-341 digests (the app hashes the keys' root and its
// transaction hashes; the value only has to be the same in both rounds).
func musigSessionID(w *wallet, t *tx, h *bip341Hashes) [32]byte {
	v := binary.LittleEndian.AppendUint32(nil, t.version)
	v = binary.LittleEndian.AppendUint32(v, t.locktime)
	return taggedHash("PsbtSessionId", w.id[:], v, h.prevouts[:], h.amounts[:], h.scriptPubKeys[:], h.sequences[:], h.outputs[:])
}

// musigRound1 makes the pubnonce YIELDs of every musig() expression the
// device signs for, for every internal input, from a fresh rand_root,
// which it returns for the session to keep.
func (e *Emulator) musigRound1(w *wallet, p *unsignedPSBT, plan *signPlan) ([][]byte, [32]byte, error) {
	var root [32]byte
	if _, err := rand.Read(root[:]); err != nil {
		return nil, root, fail(swBadState, "randomness: %v", err)
	}
	var out [][]byte
	for pos, ke := range w.pol.exprs {
		if !plan.toSign[pos] || ke.musig == nil {
			continue
		}
		for i := range plan.inputs {
			ip := &plan.inputs[i]
			if !ip.internal {
				continue
			}
			mi, err := w.musigAt(ke, ip.change, ip.index, ip.der.tap)
			if err != nil {
				return nil, root, err
			}
			n, err := musigNonces(root, i, ke, mi)
			if err != nil {
				return nil, root, fail(swBadState, "musig nonce: %v", err)
			}
			out = append(out, musigPayload(yieldPubNonce, i, n.PubNonce[:], mi))
		}
	}
	return out, root, nil
}

// musigSign is round 2 for expression ke on input i: every participant's
// pubnonce from the PSBT, ours checked against the one rand_root gives,
// BIP-327 Sign with the sorted keys and the tweaks over the BIP-341 digest.
func (e *Emulator) musigSign(w *wallet, p *unsignedPSBT, h *bip341Hashes, i int, ip *inputPlan, ke *keyExpr, root [32]byte, ht uint32) ([]byte, error) {
	mi, err := w.musigAt(ke, ip.change, ip.index, ip.der.tap)
	if err != nil {
		return nil, err
	}
	in := &p.inputs[i]
	var all [][musig2.PubNonceSize]byte
	var mineNonce []byte
	for _, k := range mi.keys {
		v, ok := in.musigNonces[mi.nonceKey(k)]
		if !ok || len(v) != musig2.PubNonceSize {
			return nil, fail(swIncorrectData, "input %d: missing or malformed MuSig2 pubnonce", i)
		}
		all = append(all, [musig2.PubNonceSize]byte(v))
		if k.IsEqual(mi.mine) {
			mineNonce = v
		}
	}
	n, err := musigNonces(root, i, ke, mi)
	if err != nil {
		return nil, fail(swBadState, "musig nonce: %v", err)
	}
	if !bytes.Equal(n.PubNonce[:], mineNonce) {
		return nil, fail(swIncorrectData, "input %d: the PSBT's pubnonce for this device is not the one it made", i)
	}
	agg, err := musig2.AggregateNonces(all)
	if err != nil {
		return nil, fail(swIncorrectData, "input %d: aggregating nonces: %v", i, err)
	}
	msg, err := taprootSighash(p.tx, h, i, ht, mi.leaf)
	if err != nil {
		return nil, fail(swBadState, "input %d: sighash: %v", i, err)
	}
	origin, err := e.privAt(w.keys[mi.signer].path)
	if err != nil {
		return nil, err
	}
	priv, err := origin.ECPrivKey()
	if err != nil {
		return nil, fail(swBadState, "derive: %v", err)
	}
	ps, err := musig2.Sign(n.SecNonce, priv, agg, mi.keys, msg, musig2.WithSortedKeys(), musig2.WithTweaks(mi.tweaks...))
	if err != nil {
		return nil, fail(swBadState, "input %d: MuSig2 partial signature: %v", i, err)
	}
	var s [32]byte
	ps.S.PutBytes(&s)
	return musigPayload(yieldPartialSig, i, s[:], mi), nil
}

// musigFingerprint is the fingerprint a PSBT derivation of a musig()
// expression's keys names: that of the aggregate's synthetic xpub.
func (w *wallet) musigFingerprint(e *keyExpr) ([4]byte, bool) {
	var fp [4]byte
	x, err := w.exprXpub(e)
	if err != nil {
		return fp, false
	}
	pk, err := x.ECPubKey()
	if err != nil {
		return fp, false
	}
	copy(fp[:], btcutil.Hash160(pk.SerializeCompressed()))
	return fp, true
}

// takeMuSigSession removes and returns a session's rand_root.
func (e *Emulator) takeMuSigSession(id [32]byte) ([32]byte, bool) {
	for j, s := range e.musigSessions {
		if s.id == id {
			e.musigSessions = append(e.musigSessions[:j], e.musigSessions[j+1:]...)
			return s.root, true
		}
	}
	return [32]byte{}, false
}

// keepMuSigSession stores a session, replacing one with the same id and
// dropping the oldest beyond maxMuSigSessions.
func (e *Emulator) keepMuSigSession(id, root [32]byte) {
	e.takeMuSigSession(id)
	e.musigSessions = append(e.musigSessions, musigSession{id: id, root: root})
	if len(e.musigSessions) > maxMuSigSessions {
		e.musigSessions = e.musigSessions[1:]
	}
}

// musigSession is a psbt-level session: its id and its secret rand_root.
type musigSession struct {
	id, root [32]byte
}
