package coldcard

// MuSig2 as EDGE 6.5.0X enrols and signs it, following the firmware's
// new_edge branch (github.com/Coldcard/firmware, commit 8919b84a):
//
//   - docs/musig.md (the limits): musig() only as a tr() key expression,
//     not nested, at most one own key, unique extended keys without
//     derivation steps of their own, sorted before aggregation, the
//     aggregate's derivation unhardened and ranged (/<0;1>/* implied);
//   - shared/desc_utils.py MusigKey (parsing, BIP-390 aggregation, the
//     BIP-328 synthetic xpub with chain code sha256("MuSig2MuSig2MuSig2"));
//   - shared/psbt.py musig_process_input and sign_it (the two rounds).
//
// The two rounds (psbt.py sign_it, musig_process_input): a signing pass
// whose transaction has no session in the device's volatile
// MUSIG_SESSION_CACHE (keyed by a hash of the unsigned transaction and the
// master fingerprint) is round 1: it draws 32 random bytes, derives each
// input's nonce randomness as sha256(rand || le32(input) || le32(musig
// index)), adds its PSBT_IN_MUSIG2_PUB_NONCE and keeps rand only when the
// pass added a nonce and finished. A pass that finds the session pops it
// (one chance) and is round 2: it regenerates the secret nonce, checks
// that its nonce in the PSBT is the one regenerated, and signs once every
// participant's nonce is in. Round 1 with its nonce already in the PSBT
// fails ("musig needs restart"); round 2 without it fails ("resign").
//
// The firmware keys its nonce and partial-signature records by the
// aggregate after every tweak: the BIP-328 steps and, on the key path,
// BIP-341's TapTweak, as a 33-byte key with its parity (psbt.py,
// musig_process_input: der_agg_k = musig_pubkey_xonly_tweak_add(...)), not
// by the plain KeyAgg key its PSBT_IN_MUSIG2_PARTICIPANT_PUBKEYS record
// is keyed by (that one it looks participants up under).
//
// When its partial signature completes the set, the firmware also writes
// the aggregate as PSBT_IN_TAP_KEY_SIG; so does the emulator. Not
// modelled: musig() inside script leaves (the firmware allows
// pk(musig(...)) there).

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/btcec/v2/schnorr/musig2"
	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

// BIP-373 input records.
const (
	inMuSigParticipants = 0x1a // <plain aggregate 33> -> <participant 33>*
	inMuSigPubNonce     = 0x1b // <participant 33><aggregate 33>[<leaf hash>] -> 66-byte nonce
	inMuSigPartialSig   = 0x1c // same key -> 32-byte partial signature
)

// musigChainCode is BIP-328's chain code of the synthetic xpub.
func musigChainCode() []byte {
	h := sha256.Sum256([]byte("MuSig2MuSig2MuSig2"))
	return h[:]
}

// parseMusig reads "musig(KEY,...)[/<a;b>/*]" after "musig(" was eaten,
// appending the participants to p.keys; it returns their indexes and the
// aggregate's two branches.
func (p *descParser) parseMusig(my uint32) ([]int, [2]uint32, error) {
	var idx []int
	var br [2]uint32
	own := 0
	for {
		text := p.until(",)")
		if strings.HasPrefix(text, "musig(") {
			return nil, br, p.fail("nested musig not allowed")
		}
		rest := text
		if _, after, ok := strings.Cut(text, "]"); ok {
			rest = after
		}
		if strings.Contains(rest, "/") {
			return nil, br, p.fail("key derivation not allowed inside musig")
		}
		k, err := p.e.parseKey(text, false)
		if err != nil {
			return nil, br, p.fail("%v", err)
		}
		k.musig = true
		for _, j := range idx {
			if p.keys[j].text == k.text {
				return nil, br, p.fail("musig keys not unique")
			}
		}
		if k.xfp == my {
			own++
		}
		p.keys = append(p.keys, k)
		idx = append(idx, len(p.keys)-1)
		if !p.eat(",") {
			break
		}
	}
	if own > 1 {
		return nil, br, p.fail("multiple own keys in musig")
	}
	if err := p.expect(")"); err != nil {
		return nil, br, err
	}
	br = [2]uint32{0, 1}
	if p.eat("/") {
		suffix := p.until(",)")
		var a, b uint32
		if n, err := fmt.Sscanf(suffix, "<%d;%d>/*", &a, &b); err != nil || n != 2 || fmt.Sprintf("<%d;%d>/*", a, b) != suffix || a == b || a >= 1<<31 || b >= 1<<31 {
			return nil, br, p.fail("musig() derivation %q: only unhardened /<a;b>/* is allowed", suffix)
		}
		br = [2]uint32{a, b}
	}
	return idx, br, nil
}

// bip328Step is one unhardened BIP-32 step from (key, chain): the child
// key, its chain code and the step's I_L (a plain MuSig2 tweak, BIP-328).
func bip328Step(key *btcec.PublicKey, chain []byte, i uint32) (*btcec.PublicKey, []byte, [32]byte, error) {
	mac := hmac.New(sha512.New, chain)
	mac.Write(key.SerializeCompressed())
	mac.Write(binary.BigEndian.AppendUint32(nil, i))
	I := mac.Sum(nil)
	var il btcec.ModNScalar
	var tw [32]byte
	if il.SetByteSlice(I[:32]) {
		return nil, nil, tw, errors.New("child idx: invalid tweak")
	}
	var kp, tp, sum btcec.JacobianPoint
	key.AsJacobian(&kp)
	btcec.ScalarBaseMultNonConst(&il, &tp)
	btcec.AddNonConst(&kp, &tp, &sum)
	if sum.Z.IsZero() {
		return nil, nil, tw, errors.New("child idx: point at infinity")
	}
	sum.ToAffine()
	copy(tw[:], I[:32])
	return btcec.NewPublicKey(&sum.X, &sum.Y), I[32:], tw, nil
}

// musigDerive aggregates the participants (sorted, BIP-390) and derives
// the aggregate along steps (BIP-328): the plain aggregate, the derived
// key and the plain tweaks of the steps.
func musigDerive(parts []*btcec.PublicKey, steps []uint32) (plain, derived *btcec.PublicKey, tweaks []musig2.KeyTweakDesc, err error) {
	agg, _, _, err := musig2.AggregateKeys(parts, true)
	if err != nil {
		return nil, nil, nil, err
	}
	plain = agg.FinalKey
	derived, tweaks, err = bip328Derive(plain, steps)
	return plain, derived, tweaks, err
}

// bip328Derive walks steps from the synthetic xpub of plain aggregate
// agg (BIP-328), returning the key reached and each step's plain tweak.
func bip328Derive(agg *btcec.PublicKey, steps []uint32) (*btcec.PublicKey, []musig2.KeyTweakDesc, error) {
	key, chain := agg, musigChainCode()
	var tweaks []musig2.KeyTweakDesc
	for _, s := range steps {
		var tw [32]byte
		var err error
		if key, chain, tw, err = bip328Step(key, chain, s); err != nil {
			return nil, nil, err
		}
		tweaks = append(tweaks, musig2.KeyTweakDesc{Tweak: tw})
	}
	return key, tweaks, nil
}

// musigInput is the MuSig2 work of one input: this device's participant
// key and path, the session's keys and tweaks, and the record key the
// firmware uses (own participant key, tweaked aggregate).
type musigInput struct {
	path      []uint32
	own       []byte // 33 bytes
	parts     []*btcec.PublicKey
	tweaks    []musig2.KeyTweakDesc
	recordAgg []byte // 33-byte output key with parity
}

func (m *musigInput) recordKey(t byte, pub []byte) []byte {
	return append(append([]byte{t}, pub...), m.recordAgg...)
}

func unknownValue(in *bpsbt.PInput, k []byte) []byte {
	for _, u := range in.Unknowns {
		if u != nil && bytes.Equal(u.Key, k) {
			return u.Value
		}
	}
	return nil
}

// reviewMusig decides the MuSig2 work of a key-path musig() input of
// wallet w at der: nil when the device does not take part (no own
// participant key derived in the PSBT, no participants record for the
// aggregate: psbt.py returns without a word) or has signed already.
func (e *Emulator) reviewMusig(w *msWallet, der *msDerived, in *bpsbt.PInput, own []ownDerivation, my uint32, i int) (*musigInput, error) {
	m := &musigInput{}
	for _, ki := range w.musig {
		k := w.keys[ki]
		pk, _ := k.xpub.ECPubKey()
		m.parts = append(m.parts, pk)
		if k.xfp != my {
			continue
		}
		for _, d := range own {
			if slices.Equal(d.path, k.deriv) && bytes.Equal(d.pub, pk.SerializeCompressed()[1:]) {
				m.path, m.own = d.path, pk.SerializeCompressed()
			}
		}
	}
	if m.own == nil {
		return nil, nil
	}
	rec := unknownValue(in, append([]byte{inMuSigParticipants}, der.musigAgg...))
	if rec == nil {
		return nil, nil
	}
	if len(rec)%33 != 0 || len(rec)/33 != len(m.parts) {
		return nil, fmt.Errorf("Input #%d: MuSig2 participants record does not match the wallet", i)
	}
	for off := 0; off < len(rec); off += 33 {
		if !slices.ContainsFunc(m.parts, func(k *btcec.PublicKey) bool { return bytes.Equal(k.SerializeCompressed(), rec[off:off+33]) }) {
			return nil, fmt.Errorf("Input #%d: MuSig2 participants record does not match the wallet", i)
		}
	}
	// psbt.py: sp = inp.get_tr_der_coords_by_key(der_agg_k); assert sp
	var steps []uint32
	for _, d := range in.TaprootBip32Derivation {
		if bytes.Equal(d.XOnlyPubKey, der.internal) {
			steps = d.Bip32Path
		}
	}
	if steps == nil {
		return nil, fmt.Errorf("Input #%d: no PSBT_IN_TAP_BIP32_DERIVATION for the MuSig2 internal key", i)
	}
	_, derived, tweaks, err := musigDerive(m.parts, steps)
	if err != nil || !bytes.Equal(derived.SerializeCompressed()[1:], der.internal) {
		return nil, fmt.Errorf("Input #%d: MuSig2 internal key derivation mismatch", i)
	}
	t := chainhash.TaggedHash(chainhash.TagTapTweak, der.internal, der.root)
	m.tweaks = append(tweaks, musig2.KeyTweakDesc{Tweak: *t, IsXOnly: true})
	internal, _ := schnorr.ParsePubKey(der.internal)
	m.recordAgg = txscript.ComputeTaprootOutputKey(internal, der.root).SerializeCompressed()
	if unknownValue(in, m.recordKey(inMuSigPartialSig, m.own)) != nil {
		return nil, nil // "we have already signed"
	}
	return m, nil
}

// musigSession is one signing pass's MuSig2 session (sign_it).
type musigSession struct {
	digest [32]byte
	rand   [32]byte
	round1 bool
	store  bool // a nonce was added: keep rand for round 2
}

// startMusig pops the transaction's session from the device's memory, or
// begins round 1 with fresh randomness. The session is named as psbt.py
// names it: sha256 over the version, the inputs and the outputs (not the
// lock time), then the master fingerprint.
func (e *Emulator) startMusig(pl *plan) (*musigSession, error) {
	tx := pl.p.UnsignedTx
	var buf bytes.Buffer
	buf.Write(binary.LittleEndian.AppendUint32(nil, uint32(tx.Version)))
	if err := wire.WriteVarInt(&buf, 0, uint64(len(tx.TxIn))); err != nil {
		return nil, err
	}
	for _, in := range tx.TxIn {
		buf.Write(in.PreviousOutPoint.Hash[:])
		buf.Write(binary.LittleEndian.AppendUint32(nil, in.PreviousOutPoint.Index))
		if err := wire.WriteVarBytes(&buf, 0, in.SignatureScript); err != nil {
			return nil, err
		}
		buf.Write(binary.LittleEndian.AppendUint32(nil, in.Sequence))
	}
	if err := wire.WriteVarInt(&buf, 0, uint64(len(tx.TxOut))); err != nil {
		return nil, err
	}
	for _, out := range tx.TxOut {
		if err := wire.WriteTxOut(&buf, 0, 0, out); err != nil {
			return nil, err
		}
	}
	d := sha256.Sum256(buf.Bytes())
	s := &musigSession{digest: sha256.Sum256(append(d[:], e.xfp[:]...))}
	e.mu.Lock()
	r, ok := e.musigCache[s.digest]
	delete(e.musigCache, s.digest)
	e.mu.Unlock()
	if ok {
		s.rand = r
		return s, nil
	}
	s.round1 = true
	if _, err := rand.Read(s.rand[:]); err != nil {
		return nil, err
	}
	return s, nil
}

// endMusig keeps round 1's randomness when the pass added a nonce; called
// only when the whole pass succeeded.
func (e *Emulator) endMusig(s *musigSession) {
	if s == nil || !s.round1 || !s.store {
		return
	}
	e.mu.Lock()
	if e.musigCache == nil {
		e.musigCache = map[[32]byte][32]byte{}
	}
	e.musigCache[s.digest] = s.rand
	e.mu.Unlock()
}

// signMusig runs input i's MuSig2 step: the nonce in round 1, the partial
// signature in round 2 once every participant's nonce is in.
func (e *Emulator) signMusig(pl *plan, s *musigSession, hashes *txscript.TxSigHashes, i int) error {
	m := pl.inputs[i].musig
	in := &pl.p.Inputs[i]
	mine := unknownValue(in, m.recordKey(inMuSigPubNonce, m.own))
	switch {
	case mine != nil && s.round1:
		return errors.New("musig needs restart")
	case mine == nil && !s.round1:
		return errors.New("resign")
	}
	k, err := e.keyAt(m.path)
	if err != nil {
		return err
	}
	priv, err := k.ECPrivKey()
	if err != nil {
		return err
	}
	digest, err := txscript.CalcTaprootSignatureHash(hashes, txscript.SigHashDefault, pl.p.UnsignedTx, i, prevFetcher(pl.prev))
	if err != nil {
		return fmt.Errorf("Input #%d: %v", i, err)
	}
	var msg [32]byte
	copy(msg[:], digest)
	// Index 0: the musig() internal key is the descriptor's first key.
	seed := sha256.Sum256(binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(s.rand[:len(s.rand):len(s.rand)], uint32(i)), 0))
	nonces, err := musig2.GenNonces(musig2.WithCustomRand(bytes.NewReader(seed[:])),
		musig2.WithPublicKey(priv.PubKey()), musig2.WithNonceSecretKeyAux(priv), musig2.WithNonceMessageAux(msg))
	if err != nil {
		return err
	}
	if mine == nil {
		in.Unknowns = append(in.Unknowns, &bpsbt.Unknown{Key: m.recordKey(inMuSigPubNonce, m.own), Value: slices.Clone(nonces.PubNonce[:])})
		s.store = true
		return nil
	}
	if !bytes.Equal(mine, nonces.PubNonce[:]) {
		return fmt.Errorf("Input #%d: MuSig2 nonce mismatch", i)
	}
	var all [][musig2.PubNonceSize]byte
	for _, p := range m.parts {
		n := unknownValue(in, m.recordKey(inMuSigPubNonce, p.SerializeCompressed()))
		if len(n) != musig2.PubNonceSize {
			return nil // not every nonce yet: no signature (the session is gone)
		}
		all = append(all, [musig2.PubNonceSize]byte(n))
	}
	agg, err := musig2.AggregateNonces(all)
	if err != nil {
		return fmt.Errorf("Input #%d: %v", i, err)
	}
	ps, err := musig2.Sign(nonces.SecNonce, priv, agg, m.parts, msg, musig2.WithSortedKeys(), musig2.WithTweaks(m.tweaks...))
	if err != nil {
		return fmt.Errorf("Input #%d: %v", i, err)
	}
	var b bytes.Buffer
	if err := ps.Encode(&b); err != nil {
		return err
	}
	in.Unknowns = append(in.Unknowns, &bpsbt.Unknown{Key: m.recordKey(inMuSigPartialSig, m.own), Value: b.Bytes()})
	s.store = false
	// Every participant's partial signature in: the firmware aggregates
	// them into the key-path signature (musig_partial_sig_agg; sign_it
	// writes it as PSBT_IN_TAP_KEY_SIG).
	sigs := []*musig2.PartialSignature{ps}
	for _, p := range m.parts {
		pub := p.SerializeCompressed()
		if bytes.Equal(pub, m.own) {
			continue
		}
		v := unknownValue(in, m.recordKey(inMuSigPartialSig, pub))
		var sc btcec.ModNScalar
		if len(v) != 32 || sc.SetByteSlice(v) {
			return nil
		}
		o := musig2.NewPartialSignature(&sc, ps.R)
		sigs = append(sigs, &o)
	}
	final := musig2.CombineSigs(ps.R, sigs, musig2.WithTweakedCombine(msg, m.parts, m.tweaks, true))
	in.TaprootKeySpendSig = final.Serialize()
	return nil
}
