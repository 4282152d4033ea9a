package psbt

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/btcec/v2/schnorr/musig2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg/chainhash"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/internal/secp"
)

// BIP-373 MuSig2 PSBT fields. btcd's psbt package does not know them: they
// travel as unknown records, which its parser keeps, and are written and
// read here, keyed as BIP-373 says.
const (
	inMuSigParticipants  = 0x1a // PSBT_IN_MUSIG2_PARTICIPANT_PUBKEYS: <agg 33> -> <participant 33>*
	inMuSigPubNonce      = 0x1b // PSBT_IN_MUSIG2_PUB_NONCE: <participant 33><agg 33>[<leaf hash 32>] -> <66-byte nonce>
	inMuSigPartialSig    = 0x1c // PSBT_IN_MUSIG2_PARTIAL_SIG: same key -> <32-byte partial signature>
	outMuSigParticipants = 0x08 // PSBT_OUT_MUSIG2_PARTICIPANT_PUBKEYS
)

// maxMuSigParticipants bounds a participants record: verifying partial
// signatures costs n key aggregations of n keys each, so a crafted record
// must not be allowed to make that quadratic cost unbounded. BIP-387's
// 999-key limit fits.
const maxMuSigParticipants = 1000

// muSigParticipantRecords lists one participants record per MuSig2
// aggregate of the derived output: the plain KeyAgg result (before the
// BIP-328 steps) and the participants in aggregation order (sorted, as
// BIP-390 requires).
func muSigParticipantRecords(keyType byte, d *descriptor.Derived) []*bpsbt.Unknown {
	var out []*bpsbt.Unknown
	for _, m := range d.Tap.MuSig {
		parts := slices.Clone(m.Participants)
		slices.SortFunc(parts, bytes.Compare)
		var v []byte
		for _, p := range parts {
			v = append(v, p...)
		}
		key := append([]byte{keyType}, m.AggregateKey...)
		if slices.ContainsFunc(out, func(u *bpsbt.Unknown) bool { return bytes.Equal(u.Key, key) }) {
			continue
		}
		out = append(out, &bpsbt.Unknown{Key: key, Value: v})
	}
	return out
}

// removeMuSigRecords drops records of one BIP-373 key type, so an update
// replaces them rather than piling up duplicates.
func removeMuSigRecords(us []*bpsbt.Unknown, keyType byte) []*bpsbt.Unknown {
	return slices.DeleteFunc(slices.Clone(us), func(u *bpsbt.Unknown) bool {
		return u != nil && len(u.Key) > 0 && u.Key[0] == keyType
	})
}

// ErrNonceUsed is returned by a NonceStore when it holds no secret nonce
// for an id: never made on this machine, or already used (and erased).
var ErrNonceUsed = errors.New("no secret nonce for this MuSig2 session: it was already used or was not made here")

// NonceStore keeps MuSig2 secret nonces between the two signing rounds
// (BIP-327: a secret nonce must be used at most once; reusing it with
// another aggregate nonce reveals the private key). Save is called before
// the public nonce is published; Take returns the secret nonce and erases
// it in the same step, so a second Take for the id fails with ErrNonceUsed.
type NonceStore interface {
	Save(ctx context.Context, id [32]byte, secNonce [musig2.SecNonceSize]byte) error
	Take(ctx context.Context, id [32]byte) ([musig2.SecNonceSize]byte, error)
}

// muSigSession is one input's MuSig2 key-path session: the aggregate, its
// participants (in aggregation order), the tweaks from the aggregate to the
// output key, and the message.
type muSigSession struct {
	input        int
	aggregate    []byte // 33-byte plain KeyAgg result (PSBT_IN_MUSIG2_PARTICIPANT_PUBKEYS key)
	participants [][]byte
	keys         []*btcec.PublicKey
	tweaks       []musig2.KeyTweakDesc
	outputKey    []byte // 32-byte x-only
	msg          [32]byte
}

// nonceKey and sigKey are the BIP-373 record keys for participant pub.
func (s *muSigSession) recordKey(keyType byte, pub []byte) []byte {
	k := append([]byte{keyType}, pub...)
	return append(k, s.aggregate...)
}

// findMuSigSession finds input i's key-path MuSig2 session: a participants
// record whose aggregate, derived along the input's taproot derivation of
// the internal key (BIP-328) and tweaked with the merkle root (BIP-341),
// is the output key. Nil when the input has none.
func findMuSigSession(p *bpsbt.Packet, a *analysis, i int) (*muSigSession, error) {
	in, st := &p.Inputs[i], &a.in[i]
	if st.spend == nil || st.spend.kind != kindTr || st.spend.tap.internal == nil {
		return nil, nil
	}
	internal := st.spend.tap.internal
	for _, u := range in.Unknowns {
		if u == nil || len(u.Key) != 34 || u.Key[0] != inMuSigParticipants {
			continue
		}
		if len(u.Value) > maxMuSigParticipants*33 {
			return nil, fmt.Errorf("%w: input %d: MuSig2 participants record lists more than %d keys", ErrRefused, i, maxMuSigParticipants)
		}
		if len(u.Value) == 0 || len(u.Value)%33 != 0 {
			return nil, fmt.Errorf("%w: input %d: MuSig2 participants record of %d bytes is not a list of 33-byte keys", ErrRefused, i, len(u.Value))
		}
		agg := u.Key[1:]
		aggKey, err := btcec.ParsePubKey(agg)
		if err != nil {
			return nil, fmt.Errorf("%w: input %d: MuSig2 aggregate key: %v", ErrRefused, i, err)
		}
		// The steps from the aggregate to the internal key.
		var steps []uint32
		if !bytes.Equal(agg[1:], internal) {
			var fp [4]byte
			copy(fp[:], btcutil.Hash160(agg))
			found := false
			for _, d := range in.TaprootBip32Derivation {
				if d != nil && bytes.Equal(d.XOnlyPubKey, internal) && fingerprintOf(&bpsbt.Bip32Derivation{MasterKeyFingerprint: d.MasterKeyFingerprint}) == fp {
					steps, found = d.Bip32Path, true
				}
			}
			if !found {
				continue
			}
		}
		s := &muSigSession{input: i, aggregate: bytes.Clone(agg), outputKey: st.spend.tap.outputKey}
		for off := 0; off < len(u.Value); off += 33 {
			k, err := btcec.ParsePubKey(u.Value[off : off+33])
			if err != nil {
				return nil, fmt.Errorf("%w: input %d: MuSig2 participant key: %v", ErrRefused, i, err)
			}
			s.participants = append(s.participants, bytes.Clone(u.Value[off:off+33]))
			s.keys = append(s.keys, k)
		}
		agg2, _, _, err := musig2.AggregateKeys(s.keys, true)
		if err != nil || !bytes.Equal(agg2.FinalKey.SerializeCompressed(), agg) {
			return nil, fmt.Errorf("%w: input %d: the MuSig2 participants do not aggregate to the key they are recorded for", ErrRefused, i)
		}
		tweaks, derived, err := bip328Tweaks(aggKey, steps)
		if err != nil {
			return nil, fmt.Errorf("%w: input %d: %v", ErrRefused, i, err)
		}
		if !bytes.Equal(derived.SerializeCompressed()[1:], internal) {
			continue
		}
		t := chainhash.TaggedHash(chainhash.TagTapTweak, internal, in.TaprootMerkleRoot)
		s.tweaks = append(tweaks, musig2.KeyTweakDesc{Tweak: *t, IsXOnly: true})
		h, err := a.tapSighash(i, nil)
		if err != nil {
			return nil, fmt.Errorf("input %d: key-path sighash: %v", i, err)
		}
		copy(s.msg[:], h)
		return s, nil
	}
	return nil, nil
}

// bip328Tweaks walks unhardened BIP-32 steps from the synthetic xpub of an
// aggregate key (BIP-328 chain code) and returns each step's I_L as a plain
// tweak (BIP-328: "provided in the session context ... plain"), and the key
// reached.
func bip328Tweaks(agg *btcec.PublicKey, steps []uint32) ([]musig2.KeyTweakDesc, *btcec.PublicKey, error) {
	key, chain := agg, descriptor.MuSigChainCode()
	var tweaks []musig2.KeyTweakDesc
	for _, s := range steps {
		if s >= descriptor.HardenedKeyStart {
			return nil, nil, errors.New("hardened step after a MuSig2 aggregate: there is no aggregate private key")
		}
		mac := hmac.New(sha512.New, chain)
		mac.Write(key.SerializeCompressed())
		var idx [4]byte
		binary.BigEndian.PutUint32(idx[:], s)
		mac.Write(idx[:])
		I := mac.Sum(nil)
		var il btcec.ModNScalar
		if overflow := il.SetByteSlice(I[:32]); overflow {
			return nil, nil, errors.New("BIP-32 step gives an invalid tweak")
		}
		var p, t, sum btcec.JacobianPoint
		key.AsJacobian(&p)
		secp.MulG(&il, &t)
		btcec.AddNonConst(&p, &t, &sum)
		if (sum.X.IsZero() && sum.Y.IsZero()) || sum.Z.IsZero() {
			return nil, nil, errors.New("BIP-32 step reaches the point at infinity")
		}
		sum.ToAffine()
		key = btcec.NewPublicKey(&sum.X, &sum.Y)
		var tw [32]byte
		copy(tw[:], I[:32])
		tweaks = append(tweaks, musig2.KeyTweakDesc{Tweak: tw})
		chain = I[32:]
	}
	return tweaks, key, nil
}

// findRecord returns the value of the unknown record with key k.
func findRecord(us []*bpsbt.Unknown, k []byte) []byte {
	for _, u := range us {
		if u != nil && bytes.Equal(u.Key, k) {
			return u.Value
		}
	}
	return nil
}

// nonceID binds a secret nonce to its session: participant, aggregate,
// message and the public nonce published for it.
func nonceID(s *muSigSession, pub []byte, pubNonce []byte) [32]byte {
	return *chainhash.TaggedHash([]byte("countersign/musig2-secnonce"), pub, s.aggregate, s.msg[:], pubNonce)
}

// MuSig2Result counts what SignMuSig2 added.
type MuSig2Result struct {
	Nonces, PartialSigs int
	// Waiting counts sessions where this key has given its nonce and other
	// participants have not yet.
	Waiting int
}

// SignMuSig2 takes one master key's part in the MuSig2 key-path sessions
// of p's taproot inputs (BIP-327, PSBT fields of BIP-373). For each input
// whose participants include a key of master: with no public nonce of ours
// yet, it makes a nonce pair, saves the secret nonce in store and adds the
// public nonce; once every participant's public nonce is present, it takes
// (and so erases) the secret nonce from store and adds the partial
// signature. A public nonce of ours whose secret nonce store no longer has
// is refused: signing again with it could reveal the key.
func SignMuSig2(ctx context.Context, p *bpsbt.Packet, master *hdkeychain.ExtendedKey, store NonceStore) (MuSig2Result, error) {
	var res MuSig2Result
	if master == nil || !master.IsPrivate() {
		return res, malformed("signing needs a private master key (xprv/tprv)")
	}
	if err := checkShape(p); err != nil {
		return res, err
	}
	pub, err := master.ECPubKey()
	if err != nil {
		return res, err
	}
	var fp [4]byte
	copy(fp[:], btcutil.Hash160(pub.SerializeCompressed()))
	keys := &keyChain{root: master, nodes: make(map[string]*hdkeychain.ExtendedKey)}
	a := analyze(p, nil)
	for i := range p.Inputs {
		in := &p.Inputs[i]
		if a.in[i].finalized || len(in.TaprootKeySpendSig) > 0 {
			continue
		}
		s, err := findMuSigSession(p, a, i)
		if err != nil {
			return res, err
		}
		if s == nil {
			continue
		}
		for _, d := range in.TaprootBip32Derivation {
			if d == nil || fingerprintOf(&bpsbt.Bip32Derivation{MasterKeyFingerprint: d.MasterKeyFingerprint}) != fp {
				continue
			}
			priv, err := keys.privKey(d.Bip32Path)
			if err != nil {
				return res, fmt.Errorf("input %d: %w", i, err)
			}
			mine := priv.PubKey().SerializeCompressed()
			if !bytes.Equal(mine[1:], d.XOnlyPubKey) || !slices.ContainsFunc(s.participants, func(k []byte) bool { return bytes.Equal(k, mine) }) {
				continue
			}
			if err := signerChecks(in, &a.in[i], i, true); err != nil {
				return res, err
			}
			if err := muSigStep(ctx, in, s, priv, store, &res); err != nil {
				return res, err
			}
		}
	}
	return res, nil
}

// muSigStep is one participant's next step in one session.
func muSigStep(ctx context.Context, in *bpsbt.PInput, s *muSigSession, priv *btcec.PrivateKey, store NonceStore, res *MuSig2Result) error {
	mine := priv.PubKey().SerializeCompressed()
	if findRecord(in.Unknowns, s.recordKey(inMuSigPartialSig, mine)) != nil {
		return nil
	}
	nonceKey := s.recordKey(inMuSigPubNonce, mine)
	published := findRecord(in.Unknowns, nonceKey)
	if published == nil {
		outKey, err := schnorr.ParsePubKey(s.outputKey)
		if err != nil {
			return err
		}
		nonces, err := musig2.GenNonces(musig2.WithPublicKey(priv.PubKey()), musig2.WithNonceSecretKeyAux(priv),
			musig2.WithNonceCombinedKeyAux(outKey), musig2.WithNonceMessageAux(s.msg))
		if err != nil {
			return fmt.Errorf("input %d: making a MuSig2 nonce: %v", s.input, err)
		}
		if err := store.Save(ctx, nonceID(s, mine, nonces.PubNonce[:]), nonces.SecNonce); err != nil {
			return fmt.Errorf("input %d: saving the MuSig2 secret nonce: %w", s.input, err)
		}
		in.Unknowns = append(in.Unknowns, &bpsbt.Unknown{Key: nonceKey, Value: bytes.Clone(nonces.PubNonce[:])})
		res.Nonces++
		return nil
	}
	if len(published) != musig2.PubNonceSize {
		return fmt.Errorf("%w: input %d: our MuSig2 public nonce record is %d bytes", ErrRefused, s.input, len(published))
	}
	var all [][musig2.PubNonceSize]byte
	for _, k := range s.participants {
		v := findRecord(in.Unknowns, s.recordKey(inMuSigPubNonce, k))
		if len(v) != musig2.PubNonceSize {
			res.Waiting++
			return nil
		}
		all = append(all, [musig2.PubNonceSize]byte(v))
	}
	sec, err := store.Take(ctx, nonceID(s, mine, published))
	if err != nil {
		return fmt.Errorf("%w: input %d: our public nonce is in the PSBT but its secret nonce is not available (%v); a nonce is never reused: every participant must start a new round (remove the MuSig2 nonce records and sign again)",
			ErrRefused, s.input, err)
	}
	agg, err := musig2.AggregateNonces(all)
	if err != nil {
		return fmt.Errorf("%w: input %d: aggregating MuSig2 nonces: %v", ErrRefused, s.input, err)
	}
	ps, err := musig2.Sign(sec, priv, agg, s.keys, s.msg, musig2.WithSortedKeys(), musig2.WithTweaks(s.tweaks...))
	for j := range sec {
		sec[j] = 0
	}
	if err != nil {
		return fmt.Errorf("%w: input %d: MuSig2 partial signature: %v", ErrRefused, s.input, err)
	}
	var sb [32]byte
	ps.S.PutBytes(&sb)
	in.Unknowns = append(in.Unknowns, &bpsbt.Unknown{Key: s.recordKey(inMuSigPartialSig, mine), Value: sb[:]})
	res.PartialSigs++
	return nil
}

// aggregateMuSig returns the key-path signature of input i when every
// participant's partial signature is present, each verified (BIP-327
// PartialSigVerify) so a bad one names its cosigner; nil when the session
// is incomplete or absent.
func aggregateMuSig(p *bpsbt.Packet, a *analysis, v *walletView, i int) ([]byte, error) {
	s, err := findMuSigSession(p, a, i)
	if err != nil || s == nil {
		return nil, err
	}
	in := &p.Inputs[i]
	var nonces [][musig2.PubNonceSize]byte
	var sigs []*musig2.PartialSignature
	for _, k := range s.participants {
		n := findRecord(in.Unknowns, s.recordKey(inMuSigPubNonce, k))
		sig := findRecord(in.Unknowns, s.recordKey(inMuSigPartialSig, k))
		if len(n) != musig2.PubNonceSize || len(sig) != 32 {
			return nil, nil
		}
		nonces = append(nonces, [musig2.PubNonceSize]byte(n))
		var sc btcec.ModNScalar
		if overflow := sc.SetByteSlice(sig); overflow {
			return nil, fmt.Errorf("%w: input %d: a MuSig2 partial signature is out of range", ErrRefused, i)
		}
		ps := musig2.NewPartialSignature(&sc, nil)
		sigs = append(sigs, &ps)
	}
	agg, err := musig2.AggregateNonces(nonces)
	if err != nil {
		return nil, fmt.Errorf("%w: input %d: aggregating MuSig2 nonces: %v", ErrRefused, i, err)
	}
	for j, ps := range sigs {
		if !ps.Verify(nonces[j], agg, s.keys, s.keys[j], s.msg, musig2.WithSortedKeys(), musig2.WithTweaks(s.tweaks...)) {
			fp, label := v.cosigner(s.participants[j][1:], nil, inputDerivations(in))
			return nil, fmt.Errorf("%w: input %d: the MuSig2 partial signature of %s does not verify; ask that cosigner to start a new round", ErrRefused, i, describeCosigner(fp, label, s.participants[j]))
		}
	}
	r, err := finalNonce(agg, s.outputKey, s.msg)
	if err != nil {
		return nil, fmt.Errorf("%w: input %d: %v", ErrRefused, i, err)
	}
	for _, ps := range sigs {
		ps.R = r
	}
	sig := musig2.CombineSigs(r, sigs, musig2.WithTweakedCombine(s.msg, s.keys, s.tweaks, true))
	out := sig.Serialize()
	if err := verifySchnorr(a, i, nil, s.outputKey, out); err != nil {
		return nil, fmt.Errorf("%w: input %d: the aggregated MuSig2 signature does not verify: %v", ErrRefused, i, err)
	}
	return out, nil
}

// finalNonce is BIP-327's R = R1 + b*R2 with b = H_noncecoef(aggnonce ||
// xbytes(Q) || m), or G when that is infinity.
func finalNonce(agg [musig2.PubNonceSize]byte, q []byte, msg [32]byte) (*btcec.PublicKey, error) {
	r1, err := btcec.ParsePubKey(agg[:33])
	if err != nil {
		return nil, fmt.Errorf("aggregate nonce: %v", err)
	}
	r2, err := btcec.ParsePubKey(agg[33:])
	if err != nil {
		return nil, fmt.Errorf("aggregate nonce: %v", err)
	}
	h := chainhash.TaggedHash(musig2.NonceBlindTag, agg[:], q, msg[:])
	var b btcec.ModNScalar
	b.SetByteSlice(h[:])
	var j1, j2, bj2, sum btcec.JacobianPoint
	r1.AsJacobian(&j1)
	r2.AsJacobian(&j2)
	btcec.ScalarMultNonConst(&b, &j2, &bj2)
	btcec.AddNonConst(&j1, &bj2, &sum)
	if (sum.X.IsZero() && sum.Y.IsZero()) || sum.Z.IsZero() {
		var one btcec.ModNScalar
		one.SetInt(1)
		secp.MulG(&one, &sum)
	}
	sum.ToAffine()
	return btcec.NewPublicKey(&sum.X, &sum.Y), nil
}

// VerifyMuSig2 checks a BIP-373 record a signer returns for input i: a
// public nonce (PSBT_IN_MUSIG2_PUB_NONCE, 66 bytes, two valid points) or a
// partial signature (PSBT_IN_MUSIG2_PARTIAL_SIG), verified against the
// nonces already in the PSBT (BIP-327 PartialSigVerify). key is the whole
// record key: type, participant key, aggregate key.
func (v *SigVerifier) VerifyMuSig2(i int, key, value []byte) error {
	if i < 0 || i >= len(v.a.in) || len(key) != 67 {
		return errors.New("not a key-path MuSig2 record of this PSBT")
	}
	s, err := findMuSigSession(v.a.p, v.a, i)
	if err != nil {
		return err
	}
	if s == nil || !bytes.Equal(key[34:], s.aggregate) {
		return errors.New("the input has no MuSig2 session for this aggregate key")
	}
	pub := key[1:34]
	j := slices.IndexFunc(s.participants, func(k []byte) bool { return bytes.Equal(k, pub) })
	if j < 0 {
		return fmt.Errorf("key %x is not a participant of the MuSig2 aggregate", pub)
	}
	switch key[0] {
	case inMuSigPubNonce:
		if len(value) != musig2.PubNonceSize {
			return fmt.Errorf("public nonce of %d bytes, want 66", len(value))
		}
		if _, err := btcec.ParsePubKey(value[:33]); err != nil {
			return fmt.Errorf("public nonce: %v", err)
		}
		if _, err := btcec.ParsePubKey(value[33:]); err != nil {
			return fmt.Errorf("public nonce: %v", err)
		}
		return nil
	case inMuSigPartialSig:
		in := &v.a.p.Inputs[i]
		var nonces [][musig2.PubNonceSize]byte
		for _, k := range s.participants {
			n := findRecord(in.Unknowns, s.recordKey(inMuSigPubNonce, k))
			if len(n) != musig2.PubNonceSize {
				return errors.New("a partial signature before every participant's nonce is present")
			}
			nonces = append(nonces, [musig2.PubNonceSize]byte(n))
		}
		agg, err := musig2.AggregateNonces(nonces)
		if err != nil {
			return err
		}
		var sc btcec.ModNScalar
		if len(value) != 32 || sc.SetByteSlice(value) {
			return errors.New("partial signature is not a 32-byte scalar below n")
		}
		ps := musig2.NewPartialSignature(&sc, nil)
		if !ps.Verify(nonces[j], agg, s.keys, s.keys[j], s.msg, musig2.WithSortedKeys(), musig2.WithTweaks(s.tweaks...)) {
			return errors.New("the MuSig2 partial signature does not verify")
		}
		return nil
	}
	return errors.New("not a MuSig2 nonce or partial signature record")
}

// IsMuSig2Record reports whether an input record key is a BIP-373 nonce or
// partial signature, and returns its participant key.
func IsMuSig2Record(key []byte) ([]byte, bool) {
	if len(key) == 67 && (key[0] == inMuSigPubNonce || key[0] == inMuSigPartialSig) {
		return key[1:34], true
	}
	return nil, false
}

// MuSig2Report is the key-path MuSig2 progress of an input, for inspect.
type MuSig2Report struct {
	Participants int `json:"participants"`
	Nonces       int `json:"nonces"`
	PartialSigs  int `json:"partial_signatures"`
}

// muSigReport counts an input's MuSig2 records, or nil without a session.
func muSigReport(p *bpsbt.Packet, a *analysis, i int) *MuSig2Report {
	s, err := findMuSigSession(p, a, i)
	if err != nil || s == nil {
		return nil
	}
	r := &MuSig2Report{Participants: len(s.participants)}
	for _, k := range s.participants {
		if findRecord(p.Inputs[i].Unknowns, s.recordKey(inMuSigPubNonce, k)) != nil {
			r.Nonces++
		}
		if findRecord(p.Inputs[i].Unknowns, s.recordKey(inMuSigPartialSig, k)) != nil {
			r.PartialSigs++
		}
	}
	return r
}
