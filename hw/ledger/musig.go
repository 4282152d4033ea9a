package ledger

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/btcutil"
	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/txscript"
)

// The Ledger's part in a musig() wallet's MuSig2 key path (app 2.4.0 and
// later), following app-bitcoin-new at fc8d7ab6: doc/bitcoin.md
// (SIGN_PSBT's MuSig2 YIELDs), doc/musig.md (the psbt-level session) and
// src/handler/sign_psbt.c with src/handler/sign_psbt/musig_signing.c.
//
// The app runs one MuSig2 round per SIGN_PSBT, and which one depends on
// the whole PSBT (sign_psbt.c, input_keys_callback: any
// PSBT_IN_MUSIG2_PUB_NONCE record in any input sets
// has_musig2_pub_nonces):
//
//   - round 1, when no input holds a public nonce: the app draws a fresh
//     rand_root, yields its public nonce for every musig() key expression
//     it signs for on every input of the wallet (produce_musig2_pubnonces,
//     tag 0xFFFFFFFF), and keeps rand_root on the device only once the
//     whole command succeeded (musigsession_commit). A second round 1 for
//     the same transaction replaces it: earlier nonces are then dead.
//   - round 2, when some input holds a public nonce: for each such key
//     expression and input it reads its own nonce and every participant's
//     from the PSBT (SW_INCORRECT_DATA when one is missing), takes the
//     session out of storage (musigsession_round2_initialize: gone even if
//     signing then fails; SW_BAD_STATE when there is none), regenerates its
//     secret nonce from rand_root and yields its partial signature (tag
//     0xFFFFFFFE). doc/musig.md says the regenerated public nonce is
//     checked against the PSBT's (countersign's emulator does, with
//     SW_INCORRECT_DATA); the app's code at fc8d7ab6 reads it but does not
//     compare. Either way the secret nonce serves once (the session is
//     gone), and a partial signature made against another nonce than the
//     PSBT's fails the adapter's BIP-327 PartialSigVerify and is refused.
//
// Plain keys (the wallet's script leaves) are signed in either round after
// the user approves the transaction.
//
// The app keys its records by the aggregate key after all tweaks (the two
// BIP-32 steps of /<M;N>/* from the BIP-328 synthetic xpub and, on the key
// path, BIP-341's tweak: the output key, with its parity byte;
// musig_signing.c, musig_my_psbt_id), while BIP-373 and countersign's psbt
// package key them by the plain KeyAgg result, the key of the input's
// PSBT_IN_MUSIG2_PARTICIPANT_PUBKEYS record. The driver translates both
// ways: the device's copy of a round-2 PSBT carries the nonces under the
// app's keys, and what the app yields goes back under BIP-373's.

// BIP-373 input record types.
const (
	inMuSigParticipants = 0x1a // <aggregate 33> -> <participant 33>*
	inMuSigPubNonce     = 0x1b // <participant 33><aggregate 33>[<leaf hash 32>] -> <66-byte nonce>
	inMuSigPartialSig   = 0x1c // same key -> <32-byte partial signature>
)

// muSigSession is one input's MuSig2 key-path session in which this Ledger
// takes part.
type muSigSession struct {
	input        int
	plain        []byte   // 33-byte KeyAgg result: BIP-373's aggregate key
	tweaked      []byte   // 33-byte aggregate after every tweak: the app's
	participants [][]byte // 33-byte keys, as the participants record lists them
	own          []byte   // this Ledger's participant key (33 bytes)
}

// recordKey is the BIP-373 key of a record of keyType by participant,
// under aggregate agg (s.plain for the PSBT, s.tweaked for the app).
func recordKey(keyType byte, participant, agg []byte) []byte {
	return append(append([]byte{keyType}, participant...), agg...)
}

// muSigRound is what the Ledger's MuSig2 sessions ask of this SIGN_PSBT.
type muSigRound int

const (
	// muSigNone: no MuSig2 session of this Ledger in the PSBT, or its
	// partial signatures are all in: the device's copy carries no nonce,
	// and the app signs the script leaves (and makes nonces of a round 1
	// no one will use; they are not taken).
	muSigNone muSigRound = iota
	// muSigRound1: its public nonces are not in the PSBT yet.
	muSigRound1
	// muSigRound2: every participant's nonce is in, its partial signature
	// is not.
	muSigRound2
)

// muSigPlan is the round this call runs and the sessions it runs it for.
type muSigPlan struct {
	round    muSigRound
	sessions []*muSigSession
}

// session returns the plan's session of input i with the app's aggregate
// key agg, or nil.
func (pl *muSigPlan) session(i int, agg []byte) *muSigSession {
	for _, s := range pl.sessions {
		if s.input == i && bytes.Equal(s.tweaked, agg) {
			return s
		}
	}
	return nil
}

// hasSession reports whether input i has a session of this Ledger.
func (pl *muSigPlan) hasSession(i int) bool {
	return slices.ContainsFunc(pl.sessions, func(s *muSigSession) bool { return s.input == i })
}

// muSigSessions finds, input by input, the key-path MuSig2 sessions this
// Ledger takes part in: a participants record whose aggregate is the
// input's internal key or, by the BIP-328 convention BIP-373's updater
// follows, the parent of the internal key's derivation (its fingerprint is
// the aggregate's), and whose participants include a key the PSBT derives
// from this Ledger's master fingerprint.
func (d *Ledger) muSigSessions(p *bpsbt.Packet) ([]*muSigSession, error) {
	xfp := binary.LittleEndian.Uint32(d.xfp[:])
	var out []*muSigSession
	for i := range p.Inputs {
		in := &p.Inputs[i]
		internal := in.TaprootInternalKey
		if len(internal) != 32 {
			continue
		}
		for _, u := range in.Unknowns {
			if u == nil || len(u.Key) != 34 || u.Key[0] != inMuSigParticipants || len(u.Value) == 0 || len(u.Value)%33 != 0 {
				continue
			}
			plain := u.Key[1:]
			if !bytes.Equal(plain[1:], internal) && !derivesInternal(in, plain) {
				continue // not the key path's aggregate
			}
			s := &muSigSession{input: i, plain: bytes.Clone(plain)}
			for off := 0; off < len(u.Value); off += 33 {
				k := bytes.Clone(u.Value[off : off+33])
				s.participants = append(s.participants, k)
				if tapDerivationOf(in, k[1:], xfp) != nil {
					s.own = k
				}
			}
			if s.own == nil {
				continue
			}
			tweaked, err := outputKeyOf(p, i)
			if err != nil {
				return nil, err
			}
			s.tweaked = tweaked
			out = append(out, s)
		}
	}
	return out, nil
}

// derivesInternal reports whether the input's derivation of its internal
// key names the fingerprint of aggregate agg (BIP-328's synthetic xpub).
func derivesInternal(in *bpsbt.PInput, agg []byte) bool {
	fp := binary.LittleEndian.Uint32(btcutil.Hash160(agg)[:4])
	return tapDerivationOf(in, in.TaprootInternalKey, fp) != nil
}

// tapDerivationOf returns the input's taproot derivation of x-only key x
// from the master with fingerprint fp, or nil.
func tapDerivationOf(in *bpsbt.PInput, x []byte, fp uint32) *bpsbt.TaprootBip32Derivation {
	for _, der := range in.TaprootBip32Derivation {
		if der != nil && der.MasterKeyFingerprint == fp && bytes.Equal(der.XOnlyPubKey, x) {
			return der
		}
	}
	return nil
}

// outputKeyOf is the key the app names a key-path session by: the
// internal key tweaked with the merkle root (BIP-341), as a compressed
// key with its parity (musig_signing.c, compute_musig_per_input_info), and
// checked to be the key the spent output pays to.
func outputKeyOf(p *bpsbt.Packet, i int) ([]byte, error) {
	in := &p.Inputs[i]
	internal, err := schnorr.ParsePubKey(in.TaprootInternalKey)
	if err != nil {
		return nil, fmt.Errorf("input %d: taproot internal key: %v", i, err)
	}
	q := txscript.ComputeTaprootOutputKey(internal, in.TaprootMerkleRoot)
	script := spentScript(p, i)
	if len(script) != 34 || script[0] != txscript.OP_1 || script[1] != 32 || !bytes.Equal(script[2:], schnorr.SerializePubKey(q)) {
		return nil, fmt.Errorf("input %d: the spent output does not pay to the internal key tweaked by the merkle root the PSBT gives", i)
	}
	return q.SerializeCompressed(), nil
}

// spentScript is the scriptPubKey input i spends, from its UTXO fields.
func spentScript(p *bpsbt.Packet, i int) []byte {
	in := &p.Inputs[i]
	if in.WitnessUtxo != nil {
		return in.WitnessUtxo.PkScript
	}
	if tx := in.NonWitnessUtxo; tx != nil {
		if idx := p.UnsignedTx.TxIn[i].PreviousOutPoint.Index; int(idx) < len(tx.TxOut) {
			return tx.TxOut[idx].PkScript
		}
	}
	return nil
}

// findRecord returns the value of the input's record with key k, or nil.
func findRecord(in *bpsbt.PInput, k []byte) []byte {
	for _, u := range in.Unknowns {
		if u != nil && bytes.Equal(u.Key, k) {
			return u.Value
		}
	}
	return nil
}

// planMuSig decides the round from the PSBT (the caller's records, keyed
// as BIP-373 says). It refuses the states in which any SIGN_PSBT would
// lose the device's session: its nonce in some inputs and not in others
// (a round 1 would replace the session the nonces in the PSBT belong to),
// and its nonce in with a cosigner's still missing (round 2 would take
// the session and fail).
func (d *Ledger) planMuSig(p *bpsbt.Packet) (*muSigPlan, error) {
	sessions, err := d.muSigSessions(p)
	if err != nil {
		return nil, err
	}
	pl := &muSigPlan{}
	if len(sessions) == 0 {
		return pl, nil
	}
	var with, without []int
	for _, s := range sessions {
		if findRecord(&p.Inputs[s.input], recordKey(inMuSigPubNonce, s.own, s.plain)) != nil {
			with = append(with, s.input)
		} else {
			without = append(without, s.input)
		}
	}
	switch {
	case len(without) > 0 && len(with) > 0:
		return nil, fmt.Errorf("the PSBT holds this Ledger's MuSig2 nonce for input(s) %s but not for input(s) %s: it comes from two signing rounds, and signing it would make the Ledger replace the session its nonces belong to; start over from the unsigned PSBT (or remove every MuSig2 nonce and partial signature) and have every cosigner sign it again",
			inputList(with), inputList(without))
	case len(without) > 0:
		pl.round, pl.sessions = muSigRound1, sessions
		return pl, nil
	}
	var pending []*muSigSession
	for _, s := range sessions {
		if findRecord(&p.Inputs[s.input], recordKey(inMuSigPartialSig, s.own, s.plain)) == nil {
			pending = append(pending, s)
		}
	}
	if len(pending) == 0 {
		return pl, nil // its partial signatures are in: leaves only
	}
	var waiting []string
	for _, s := range pending {
		var missing []string
		for _, k := range s.participants {
			if findRecord(&p.Inputs[s.input], recordKey(inMuSigPubNonce, k, s.plain)) == nil {
				missing = append(missing, cosignerName(&p.Inputs[s.input], k))
			}
		}
		if len(missing) > 0 {
			waiting = append(waiting, fmt.Sprintf("input %d lacks the nonce of %s", s.input, strings.Join(missing, ", ")))
		}
	}
	if len(waiting) > 0 {
		return nil, fmt.Errorf("this Ledger has given its MuSig2 nonce and makes its partial signature once every cosigner's nonce is in the PSBT (%s): have them sign, combine their PSBTs with this one, then sign with the Ledger again; asking it now would discard its session", strings.Join(waiting, "; "))
	}
	// The app runs round 2 on every input of the wallet: each needs its
	// session here, or the device would take its session and fail.
	xfp := binary.LittleEndian.Uint32(d.xfp[:])
	for i := range p.Inputs {
		in := &p.Inputs[i]
		if slices.ContainsFunc(in.TaprootBip32Derivation, func(der *bpsbt.TaprootBip32Derivation) bool { return der != nil && der.MasterKeyFingerprint == xfp }) &&
			!slices.ContainsFunc(sessions, func(s *muSigSession) bool { return s.input == i }) {
			return nil, fmt.Errorf("input %d has no MuSig2 participants record naming this Ledger while other inputs have its nonce: run `countersign psbt update` on the PSBT before its signing rounds", i)
		}
	}
	pl.round, pl.sessions = muSigRound2, sessions
	return pl, nil
}

// cosignerName names a participant by the master fingerprint its PSBT
// derivation gives, else by its key.
func cosignerName(in *bpsbt.PInput, k []byte) string {
	for _, der := range in.TaprootBip32Derivation {
		if der != nil && bytes.Equal(der.XOnlyPubKey, k[1:]) {
			var fp [4]byte
			binary.LittleEndian.PutUint32(fp[:], der.MasterKeyFingerprint)
			return "cosigner " + hex.EncodeToString(fp[:])
		}
	}
	return "participant " + hex.EncodeToString(k)
}

func inputList(is []int) string {
	s := make([]string, len(is))
	for j, i := range is {
		s[j] = fmt.Sprint(i)
	}
	return strings.Join(s, ", ")
}

// deviceCopy prepares the PSBT the device sees (dev, a private copy) for
// the plan: no MuSig2 nonce or partial signature at all for round 1 (the
// app's rule is any nonce in any input) or without a round; for round 2
// every participant's nonce of each session under the app's key.
func (pl *muSigPlan) deviceCopy(dev *bpsbt.Packet) {
	for i := range dev.Inputs {
		in := &dev.Inputs[i]
		nonces := map[string][]byte{}
		for _, s := range pl.sessions {
			if s.input != i || pl.round != muSigRound2 {
				continue
			}
			for _, k := range s.participants {
				nonces[string(recordKey(inMuSigPubNonce, k, s.tweaked))] = bytes.Clone(findRecord(in, recordKey(inMuSigPubNonce, k, s.plain)))
			}
		}
		in.Unknowns = slices.DeleteFunc(in.Unknowns, func(u *bpsbt.Unknown) bool {
			return u != nil && len(u.Key) > 0 && (u.Key[0] == inMuSigPubNonce || u.Key[0] == inMuSigPartialSig)
		})
		keys := make([]string, 0, len(nonces))
		for k := range nonces {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			in.Unknowns = append(in.Unknowns, &bpsbt.Unknown{Key: []byte(k), Value: nonces[k]})
		}
	}
}

// addMuSig adds a MuSig2 yield to p as a BIP-373 record under the plain
// aggregate key. It reports whether it added one. The record is checked
// against the plan here (round, session, this Ledger's participant key);
// the adapter verifies it (a nonce's points, a partial signature against
// every nonce: BIP-327 PartialSigVerify) before keeping it.
func (pl *muSigPlan) addMuSig(p *bpsbt.Packet, ps partialSig) (bool, error) {
	what, keyType, want := "public nonce", byte(inMuSigPubNonce), muSigRound1
	if ps.kind == yieldMuSigSig {
		what, keyType, want = "partial signature", inMuSigPartialSig, muSigRound2
	}
	if ps.leafHash != nil {
		return false, fmt.Errorf("input %d: the Ledger yielded a MuSig2 %s for a musig() key in a script leaf, which countersign's wallets do not have", ps.input, what)
	}
	if pl.round == muSigNone && ps.kind == yieldMuSigNonce {
		return false, nil // a round 1 no one takes part in: not used
	}
	if pl.round == muSigRound1 && ps.kind == yieldMuSigNonce && !pl.hasSession(ps.input) {
		return false, nil // the PSBT names no session for the input
	}
	if pl.round != want {
		return false, fmt.Errorf("input %d: the Ledger yielded a MuSig2 %s in a round that does not make one", ps.input, what)
	}
	s := pl.session(ps.input, ps.agg)
	if s == nil {
		return false, fmt.Errorf("input %d: the Ledger yielded a MuSig2 %s for aggregate key %x, which is not the input's output key", ps.input, what, ps.agg)
	}
	if !bytes.Equal(ps.pubKey, s.own) {
		return false, fmt.Errorf("input %d: the Ledger yielded a MuSig2 %s for participant %x, not for its own key %x", ps.input, what, ps.pubKey, s.own)
	}
	in := &p.Inputs[ps.input]
	key := recordKey(keyType, s.own, s.plain)
	if old := findRecord(in, key); old != nil {
		if bytes.Equal(old, ps.sig) {
			return false, nil
		}
		return false, fmt.Errorf("input %d: the Ledger yielded a second, different MuSig2 %s", ps.input, what)
	}
	in.Unknowns = append(in.Unknowns, &bpsbt.Unknown{Key: key, Value: bytes.Clone(ps.sig)})
	return true, nil
}

// muSigRefusal explains a SIGN_PSBT refusal in round 2, where the app's
// MuSig2 checks give these status words (musig_signing.c,
// sign_sighash_musig_and_yield); nil for any other failure.
func muSigRefusal(round muSigRound, err error) error {
	var se *StatusError
	if round != muSigRound2 || !errors.As(err, &se) || se.HasCode {
		return nil
	}
	switch se.SW {
	case swBadState:
		return fmt.Errorf("the Ledger has no MuSig2 session for this transaction (%w): it made its partial signature for it already (a session serves once), or its nonce in the PSBT is not from its last round 1 on this device (the app keeps the newest 8 sessions, and a second round 1 for the transaction replaces the first); it will not sign with that nonce again: every cosigner must start a new round from the unsigned PSBT", err)
	case swIncorrectData:
		return fmt.Errorf("the Ledger refused MuSig2 round 2 (%w): the nonce the PSBT gives for it is not the one it made in round 1 (the PSBT or the transaction changed, or the nonce is from an earlier round), or a cosigner's nonce is malformed; its session is now gone: every cosigner must start a new round from the unsigned PSBT", err)
	}
	return nil
}
