package hw

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/btcutil"
	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/txscript"
)

// A device's part in a musig() wallet's MuSig2 key path, in one place for
// every driver whose device runs the two rounds itself (the Ledger Bitcoin
// app 2.4, Coldcard EDGE 6.5.0X): which key-path sessions of a PSBT are
// the device's, which round a signing call runs, and the states refused
// before the device is asked because any call would lose or misuse its
// one-use session (its nonce in some inputs and not others, its partial
// signature in some, a round 2 with a cosigner's nonce still missing).
//
// Both firmwares key their nonce and partial-signature records by the
// aggregate key after every tweak (the BIP-328 steps and BIP-341's
// TapTweak: the output key with its parity byte), while BIP-373 and
// countersign's psbt package key them by the plain KeyAgg key of the
// PSBT_IN_MUSIG2_PARTICIPANT_PUBKEYS record. A MuSigSession carries both,
// and the drivers translate with MuSigRecordKey.

// BIP-373 input record types.
const (
	MuSigParticipantsType = 0x1a // <aggregate 33> -> <participant 33>*
	MuSigPubNonceType     = 0x1b // <participant 33><aggregate 33>[<leaf hash 32>] -> <66-byte nonce>
	MuSigPartialSigType   = 0x1c // same key -> <32-byte partial signature>
)

// MuSigSession is one input's key-path MuSig2 session a device takes part
// in.
type MuSigSession struct {
	Input        int
	Plain        []byte   // 33-byte KeyAgg result: BIP-373's aggregate key
	Tweaked      []byte   // 33-byte output key: the firmwares' aggregate key
	Participants [][]byte // 33-byte keys, as the participants record lists them
	Own          []byte   // the device's participant key
}

// MuSigRecordKey is the BIP-373 key of a record of keyType by participant
// under aggregate agg (a session's Plain for the PSBT, Tweaked for a
// device).
func MuSigRecordKey(keyType byte, participant, agg []byte) []byte {
	return append(append([]byte{keyType}, participant...), agg...)
}

// FindMuSigRecord returns the value of the input's record with key k, or
// nil.
func FindMuSigRecord(in *bpsbt.PInput, k []byte) []byte {
	for _, u := range in.Unknowns {
		if u != nil && bytes.Equal(u.Key, k) {
			return u.Value
		}
	}
	return nil
}

// MuSigSessions finds, input by input, the key-path MuSig2 sessions of the
// device with master fingerprint fp: a participants record whose
// aggregate is the input's internal key or, by the BIP-328 convention
// BIP-373's updater follows, the parent of the internal key's derivation
// (its fingerprint is the aggregate's), and whose participants include a
// key the PSBT derives from fp. Each session's output key is checked to be
// the key the spent output pays to.
func MuSigSessions(p *bpsbt.Packet, fp [4]byte) ([]*MuSigSession, error) {
	xfp := binary.LittleEndian.Uint32(fp[:])
	var out []*MuSigSession
	for i := range p.Inputs {
		in := &p.Inputs[i]
		if len(in.TaprootInternalKey) != 32 {
			continue
		}
		for _, u := range in.Unknowns {
			if u == nil || len(u.Key) != 34 || u.Key[0] != MuSigParticipantsType || len(u.Value) == 0 || len(u.Value)%33 != 0 {
				continue
			}
			plain := u.Key[1:]
			if !bytes.Equal(plain[1:], in.TaprootInternalKey) && !derivesInternal(in, plain) {
				continue // not the key path's aggregate
			}
			s := &MuSigSession{Input: i, Plain: bytes.Clone(plain)}
			for off := 0; off < len(u.Value); off += 33 {
				k := bytes.Clone(u.Value[off : off+33])
				s.Participants = append(s.Participants, k)
				if tapDerivationOf(in, k[1:], xfp) != nil {
					s.Own = k
				}
			}
			if s.Own == nil {
				continue
			}
			q, err := outputKeyOf(p, i)
			if err != nil {
				return nil, err
			}
			s.Tweaked = q
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
	for _, d := range in.TaprootBip32Derivation {
		if d != nil && d.MasterKeyFingerprint == fp && bytes.Equal(d.XOnlyPubKey, x) {
			return d
		}
	}
	return nil
}

// outputKeyOf is the key the firmwares name a key-path session by: the
// internal key tweaked with the merkle root (BIP-341), compressed with its
// parity, checked to be the key the spent output pays to.
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

// MuSigRound is what a signing call asks of a device's MuSig2 sessions.
type MuSigRound int

const (
	// MuSigNone: the device has no MuSig2 session in the PSBT.
	MuSigNone MuSigRound = iota
	// MuSigRound1: its public nonces are not in the PSBT yet.
	MuSigRound1
	// MuSigRound2: every participant's nonce is in, its partial
	// signatures are not.
	MuSigRound2
	// MuSigDone: its partial signatures are all in.
	MuSigDone
)

// MuSigPlan is the round a signing call runs and the sessions it runs it
// for.
type MuSigPlan struct {
	Round    MuSigRound
	Sessions []*MuSigSession
}

// Session returns the plan's session of input i whose firmware aggregate
// key is agg, or nil.
func (pl *MuSigPlan) Session(i int, agg []byte) *MuSigSession {
	for _, s := range pl.Sessions {
		if s.Input == i && bytes.Equal(s.Tweaked, agg) {
			return s
		}
	}
	return nil
}

// PlanMuSig decides the round of the device named device (with master
// fingerprint fp) from the PSBT's records, keyed as BIP-373 says, and
// refuses the states in which any signing call would lose or misuse the
// device's one-use session: its nonce in some inputs and not others (two
// rounds mixed: a round 1 would replace the session the nonces belong
// to), its partial signature in some inputs and not others, and its nonce
// in with a cosigner's still missing (round 2 would take the session and
// fail).
func PlanMuSig(p *bpsbt.Packet, fp [4]byte, device string) (*MuSigPlan, error) {
	sessions, err := MuSigSessions(p, fp)
	if err != nil {
		return nil, err
	}
	pl := &MuSigPlan{}
	if len(sessions) == 0 {
		return pl, nil
	}
	var with, without []int
	for _, s := range sessions {
		if FindMuSigRecord(&p.Inputs[s.Input], MuSigRecordKey(MuSigPubNonceType, s.Own, s.Plain)) != nil {
			with = append(with, s.Input)
		} else {
			without = append(without, s.Input)
		}
	}
	switch {
	case len(without) > 0 && len(with) > 0:
		return nil, fmt.Errorf("the PSBT holds this %s's MuSig2 nonce for input(s) %s but not for input(s) %s: it comes from two signing rounds, and signing it would make the %s replace or refuse the session its nonces belong to; start over from the unsigned PSBT (or remove every MuSig2 nonce and partial signature) and have every cosigner sign it again",
			device, inputList(with), inputList(without), device)
	case len(without) > 0:
		pl.Round, pl.Sessions = MuSigRound1, sessions
		return pl, nil
	}
	var pending, done []int
	for _, s := range sessions {
		if FindMuSigRecord(&p.Inputs[s.Input], MuSigRecordKey(MuSigPartialSigType, s.Own, s.Plain)) == nil {
			pending = append(pending, s.Input)
		} else {
			done = append(done, s.Input)
		}
	}
	switch {
	case len(pending) == 0:
		pl.Round, pl.Sessions = MuSigDone, sessions
		return pl, nil
	case len(done) > 0:
		return nil, fmt.Errorf("the PSBT holds this %s's MuSig2 partial signature for input(s) %s and not for input(s) %s: it comes from two signing rounds; start over from the unsigned PSBT", device, inputList(done), inputList(pending))
	}
	var waiting []string
	for _, s := range sessions {
		var missing []string
		for _, k := range s.Participants {
			if FindMuSigRecord(&p.Inputs[s.Input], MuSigRecordKey(MuSigPubNonceType, k, s.Plain)) == nil {
				missing = append(missing, cosignerName(&p.Inputs[s.Input], k))
			}
		}
		if len(missing) > 0 {
			waiting = append(waiting, fmt.Sprintf("input %d lacks the nonce of %s", s.Input, strings.Join(missing, ", ")))
		}
	}
	if len(waiting) > 0 {
		return nil, fmt.Errorf("this %s has given its MuSig2 nonce and makes its partial signature once every cosigner's nonce is in the PSBT (%s): have them sign, combine their PSBTs with this one, then sign with the %s again; asking it now would discard its session", device, strings.Join(waiting, "; "), device)
	}
	pl.Round, pl.Sessions = MuSigRound2, sessions
	return pl, nil
}

// cosignerName names a participant by the master fingerprint its PSBT
// derivation gives, else by its key.
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

// inputList writes input indexes for a message: "0, 2, 3".
func inputList(is []int) string {
	s := make([]string, len(is))
	for j, i := range is {
		s[j] = fmt.Sprint(i)
	}
	return strings.Join(s, ", ")
}
