package coldcard

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

// The Coldcard's part in a musig() wallet's MuSig2 key path (EDGE 6.5.0X
// and later), following github.com/Coldcard/firmware, branch new_edge at
// 8919b84a: docs/musig.md and shared/psbt.py (sign_it,
// musig_process_input).
//
// The firmware runs one MuSig2 round per signing pass ("stxn"), and which
// one depends on its volatile memory, not on the PSBT: a pass for a
// transaction it has no session for is round 1 (it adds its
// PSBT_IN_MUSIG2_PUB_NONCE and keeps the session's randomness only if the
// whole pass succeeded); a pass that finds the session takes it out (one
// chance) and is round 2 (it adds its PSBT_IN_MUSIG2_PARTIAL_SIG once every
// participant's nonce is in, and signs nothing otherwise). Its nonce in
// the PSBT on a round 1 fails with "musig needs restart", its nonce missing
// on a round 2 with "resign"; docs/musig.md: "inputs that are in different
// musig rounds in same PSBT are not allowed". The session is lost when the
// device is powered off.
//
// The firmware keys its nonce and partial-signature records by the
// aggregate key after every tweak: the BIP-328 steps and BIP-341's TapTweak,
// the output key with its parity byte (musig_process_input: der_agg_k =
// musig_pubkey_xonly_tweak_add(keyagg_cache, tweak32).to_bytes()), while
// BIP-373 and countersign's psbt package key them by the plain KeyAgg key
// of the PSBT_IN_MUSIG2_PARTICIPANT_PUBKEYS record (the firmware looks the
// participants up under that one too). The driver translates both ways,
// as the Ledger driver does for the same convention.

// BIP-373 input record types.
const (
	inMuSigParticipants = 0x1a // <aggregate 33> -> <participant 33>*
	inMuSigPubNonce     = 0x1b // <participant 33><aggregate 33>[<leaf hash 32>] -> <66-byte nonce>
	inMuSigPartialSig   = 0x1c // same key -> <32-byte partial signature>
)

// MuSigFirmware is the first EDGE release that signs a MuSig2 key path.
const MuSigFirmware = "6.5.0X (EDGE; 6.5.0QX on the Q)"

// muSigSession is one input's key-path MuSig2 session this Coldcard takes
// part in.
type muSigSession struct {
	input        int
	plain        []byte   // 33-byte KeyAgg result: BIP-373's aggregate key
	tweaked      []byte   // 33-byte output key: the firmware's
	participants [][]byte // 33-byte keys, as the participants record lists them
	own          []byte   // this Coldcard's participant key
}

func recordKey(keyType byte, participant, agg []byte) []byte {
	return append(append([]byte{keyType}, participant...), agg...)
}

func findRecord(in *bpsbt.PInput, k []byte) []byte {
	for _, u := range in.Unknowns {
		if u != nil && bytes.Equal(u.Key, k) {
			return u.Value
		}
	}
	return nil
}

// muSigSessions finds the key-path sessions of this Coldcard: a
// participants record whose aggregate derives the input's internal key
// (the derivation's fingerprint is the BIP-328 synthetic xpub's, or the
// aggregate is the internal key) and lists a key the PSBT derives from
// this device's fingerprint.
func (c *Coldcard) muSigSessions(p *bpsbt.Packet) ([]*muSigSession, error) {
	xfp := binary.LittleEndian.Uint32(c.xfp[:])
	var out []*muSigSession
	for i := range p.Inputs {
		in := &p.Inputs[i]
		if len(in.TaprootInternalKey) != 32 {
			continue
		}
		for _, u := range in.Unknowns {
			if u == nil || len(u.Key) != 34 || u.Key[0] != inMuSigParticipants || len(u.Value) == 0 || len(u.Value)%33 != 0 {
				continue
			}
			plain := u.Key[1:]
			if !bytes.Equal(plain[1:], in.TaprootInternalKey) && !derivesInternal(in, plain) {
				continue
			}
			s := &muSigSession{input: i, plain: bytes.Clone(plain)}
			for off := 0; off < len(u.Value); off += 33 {
				k := bytes.Clone(u.Value[off : off+33])
				s.participants = append(s.participants, k)
				if tapDerivation(in, k[1:], xfp) != nil {
					s.own = k
				}
			}
			if s.own == nil {
				continue
			}
			q, err := outputKeyOf(p, i)
			if err != nil {
				return nil, err
			}
			s.tweaked = q
			out = append(out, s)
		}
	}
	return out, nil
}

func derivesInternal(in *bpsbt.PInput, agg []byte) bool {
	fp := binary.LittleEndian.Uint32(btcutil.Hash160(agg)[:4])
	return tapDerivation(in, in.TaprootInternalKey, fp) != nil
}

func tapDerivation(in *bpsbt.PInput, x []byte, fp uint32) *bpsbt.TaprootBip32Derivation {
	for _, d := range in.TaprootBip32Derivation {
		if d != nil && d.MasterKeyFingerprint == fp && bytes.Equal(d.XOnlyPubKey, x) {
			return d
		}
	}
	return nil
}

// outputKeyOf is the firmware's aggregate key of a key-path session: the
// internal key tweaked with the merkle root (BIP-341), with its parity,
// checked to be the key the spent output pays to.
func outputKeyOf(p *bpsbt.Packet, i int) ([]byte, error) {
	in := &p.Inputs[i]
	internal, err := schnorr.ParsePubKey(in.TaprootInternalKey)
	if err != nil {
		return nil, fmt.Errorf("input %d: taproot internal key: %v", i, err)
	}
	q := txscript.ComputeTaprootOutputKey(internal, in.TaprootMerkleRoot)
	var script []byte
	if in.WitnessUtxo != nil {
		script = in.WitnessUtxo.PkScript
	} else if tx := in.NonWitnessUtxo; tx != nil {
		if idx := p.UnsignedTx.TxIn[i].PreviousOutPoint.Index; int(idx) < len(tx.TxOut) {
			script = tx.TxOut[idx].PkScript
		}
	}
	if len(script) != 34 || script[0] != txscript.OP_1 || script[1] != 32 || !bytes.Equal(script[2:], schnorr.SerializePubKey(q)) {
		return nil, fmt.Errorf("input %d: the spent output does not pay to the internal key tweaked by the merkle root the PSBT gives", i)
	}
	return q.SerializeCompressed(), nil
}

// muSigRound is what a signing pass asks of the Coldcard's sessions.
type muSigRound int

const (
	muSigNone   muSigRound = iota // no session, or its partial signatures are in
	muSigRound1                   // its nonces are not in the PSBT yet
	muSigRound2                   // every nonce is in, its partial signature is not
)

type muSigPlan struct {
	round    muSigRound
	sessions []*muSigSession
}

func (pl *muSigPlan) session(i int, agg []byte) *muSigSession {
	for _, s := range pl.sessions {
		if s.input == i && bytes.Equal(s.tweaked, agg) {
			return s
		}
	}
	return nil
}

// planMuSig decides the round from the PSBT and refuses, before the device
// is asked, the states in which the firmware would fail or lose its
// session: its nonce in some inputs and not in others (docs/musig.md:
// "inputs that are in different musig rounds in same PSBT are not
// allowed"), its nonce in with a cosigner's still missing (round 2 would
// take the session and sign nothing), and its partial signatures all in.
func (c *Coldcard) planMuSig(p *bpsbt.Packet) (*muSigPlan, error) {
	sessions, err := c.muSigSessions(p)
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
		return nil, fmt.Errorf("the PSBT holds this Coldcard's MuSig2 nonce for input(s) %s but not for input(s) %s: it comes from two signing rounds, which the Coldcard refuses (its docs/musig.md: inputs in different MuSig2 rounds); start over from the unsigned PSBT (or remove every MuSig2 nonce and partial signature) and have every cosigner sign it twice again",
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
		return nil, errors.New("this Coldcard's MuSig2 partial signatures are already in the PSBT: it has nothing left to sign; combine the cosigners' PSBTs and finalize")
	}
	if len(pending) < len(sessions) {
		return nil, fmt.Errorf("the PSBT holds this Coldcard's MuSig2 partial signature for some inputs and not for input(s) %s: it comes from two signing rounds; start over from the unsigned PSBT", inputList(inputsOf(pending)))
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
		return nil, fmt.Errorf("this Coldcard has given its MuSig2 nonce and makes its partial signature once every cosigner's nonce is in the PSBT (%s): have them sign, combine their PSBTs with this one, then sign with the Coldcard again; asking it now would discard its session", strings.Join(waiting, "; "))
	}
	pl.round, pl.sessions = muSigRound2, sessions
	return pl, nil
}

func inputsOf(ss []*muSigSession) []int {
	var out []int
	for _, s := range ss {
		out = append(out, s.input)
	}
	return out
}

func cosignerName(in *bpsbt.PInput, k []byte) string {
	for _, d := range in.TaprootBip32Derivation {
		if d != nil && bytes.Equal(d.XOnlyPubKey, k[1:]) {
			var fp [4]byte
			binary.LittleEndian.PutUint32(fp[:], d.MasterKeyFingerprint)
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

// deviceCopy rewrites dev (a copy for the device) so each session's
// records are keyed by the firmware's aggregate (the output key).
func (pl *muSigPlan) deviceCopy(dev *bpsbt.Packet) {
	for _, s := range pl.sessions {
		in := &dev.Inputs[s.input]
		for _, u := range in.Unknowns {
			if u == nil || len(u.Key) != 67 || (u.Key[0] != inMuSigPubNonce && u.Key[0] != inMuSigPartialSig) || !bytes.Equal(u.Key[34:], s.plain) {
				continue
			}
			u.Key = recordKey(u.Key[0], u.Key[1:34], s.tweaked)
		}
	}
}

// copyMuSig copies into dst the MuSig2 records the device added in
// signed, under BIP-373's aggregate key. Only this Coldcard's own
// records of a planned session in the round planned are taken; the
// adapter verifies them (points, BIP-327 PartialSigVerify) before keeping
// them. The key-path signature the firmware writes when its partial
// signature completes the set (PSBT_IN_TAP_KEY_SIG) is not taken: the
// adapter keeps key-path signatures only of a signer holding the internal
// key, and the finalizer aggregates the partial signatures itself.
func (pl *muSigPlan) copyMuSig(dst, signed *bpsbt.Packet, added []int) error {
	for i := range signed.Inputs {
		in := &dst.Inputs[i]
		for _, u := range signed.Inputs[i].Unknowns {
			if u == nil || len(u.Key) < 67 || (u.Key[0] != inMuSigPubNonce && u.Key[0] != inMuSigPartialSig) {
				continue
			}
			what, want := "public nonce", muSigRound1
			if u.Key[0] == inMuSigPartialSig {
				what, want = "partial signature", muSigRound2
			}
			s := pl.session(i, u.Key[34:67])
			if s == nil {
				if slices.ContainsFunc(in.Unknowns, func(o *bpsbt.Unknown) bool { return o != nil && bytes.Equal(o.Key, u.Key) }) {
					continue // a record the PSBT had, not under a session of ours
				}
				return fmt.Errorf("input #%d: the Coldcard added a MuSig2 %s for aggregate key %x, which is not the input's output key of a session it takes part in", i, what, u.Key[34:67])
			}
			if !bytes.Equal(u.Key[1:34], s.own) {
				if findRecord(in, recordKey(u.Key[0], u.Key[1:34], s.plain)) != nil {
					continue // a cosigner's record, sent to the device
				}
				return fmt.Errorf("input #%d: the Coldcard added a MuSig2 %s for participant %x, not for its own key %x", i, what, u.Key[1:34], s.own)
			}
			if len(u.Key) != 67 {
				return fmt.Errorf("input #%d: the Coldcard added a MuSig2 %s for a script leaf, which countersign's wallets do not have", i, what)
			}
			key := recordKey(u.Key[0], s.own, s.plain)
			if old := findRecord(in, key); old != nil {
				if bytes.Equal(old, u.Value) {
					continue
				}
				return fmt.Errorf("input #%d: the Coldcard added a second, different MuSig2 %s", i, what)
			}
			if pl.round != want {
				return fmt.Errorf("input #%d: the Coldcard added a MuSig2 %s in a round that does not make one", i, what)
			}
			in.Unknowns = append(in.Unknowns, &bpsbt.Unknown{Key: key, Value: bytes.Clone(u.Value)})
			added[i]++
		}
	}
	return nil
}

// muSigRefusal explains the firmware's MuSig2 failures (psbt.py,
// musig_process_input); nil for any other failure.
func muSigRefusal(err error) error {
	var re *replyError
	if !errors.As(err, &re) {
		return nil
	}
	switch {
	case strings.Contains(re.text, "musig needs restart"):
		return fmt.Errorf("the Coldcard has no MuSig2 session for this transaction (%w): its nonce in the PSBT is from a session it no longer holds (it made its partial signature already, a round 2 ran before every nonce was in, or it was powered off); it will not sign with that nonce: every cosigner must start a new round from the unsigned PSBT", err)
	case strings.Contains(re.text, "resign"):
		return fmt.Errorf("the Coldcard refused MuSig2 round 2 (%w): it held a session for this transaction, but this PSBT lacks the nonce it gave (it was signed on the Coldcard before, and this is not the PSBT that came back); that session is now gone, so the nonce it gave then is dead: sign this PSBT on the Coldcard again for a new round 1, and have every cosigner give a new nonce on the PSBT that comes back", err)
	}
	return nil
}
