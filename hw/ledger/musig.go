package ledger

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/countersign/countersign/hw"
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
// hw.PlanMuSig finds the sessions and the round and refuses the states that
// would lose the session (as for the Coldcard, whose firmware keys its
// records the same way); this file adds the app's side.

// muSigPlan is hw's plan of this Ledger's MuSig2 round.
type muSigPlan struct{ hw.MuSigPlan }

// hasSession reports whether input i has a session of this Ledger.
func (pl *muSigPlan) hasSession(i int) bool {
	return slices.ContainsFunc(pl.Sessions, func(s *hw.MuSigSession) bool { return s.Input == i })
}

// planMuSig decides the round from the PSBT (hw.PlanMuSig). With its
// partial signatures all in, the Ledger has no round to run but may still
// sign the wallet's script leaves: the device's copy then carries no
// MuSig2 record (its round 1 nonces are not taken). For round 2 every
// input of the wallet needs its session here: the app runs round 2 on
// every input, and would take its session and fail on one without.
func (d *Ledger) planMuSig(p *bpsbt.Packet) (*muSigPlan, error) {
	pl, err := hw.PlanMuSig(p, d.xfp, "Ledger")
	if err != nil {
		return nil, err
	}
	if pl.Round == hw.MuSigDone {
		return &muSigPlan{}, nil
	}
	if pl.Round == hw.MuSigRound2 {
		xfp := binary.LittleEndian.Uint32(d.xfp[:])
		for i := range p.Inputs {
			in := &p.Inputs[i]
			if slices.ContainsFunc(in.TaprootBip32Derivation, func(der *bpsbt.TaprootBip32Derivation) bool { return der != nil && der.MasterKeyFingerprint == xfp }) &&
				!slices.ContainsFunc(pl.Sessions, func(s *hw.MuSigSession) bool { return s.Input == i }) {
				return nil, fmt.Errorf("input %d has no MuSig2 participants record naming this Ledger while other inputs have its nonce: run `countersign psbt update` on the PSBT before its signing rounds", i)
			}
		}
	}
	return &muSigPlan{*pl}, nil
}

// deviceCopy prepares the PSBT the device sees (dev, a private copy) for
// the plan: no MuSig2 nonce or partial signature at all for round 1 (the
// app's rule is any nonce in any input) or without a round; for round 2
// every participant's nonce of each session under the app's key.
func (pl *muSigPlan) deviceCopy(dev *bpsbt.Packet) {
	for i := range dev.Inputs {
		in := &dev.Inputs[i]
		nonces := map[string][]byte{}
		for _, s := range pl.Sessions {
			if s.Input != i || pl.Round != hw.MuSigRound2 {
				continue
			}
			for _, k := range s.Participants {
				nonces[string(hw.MuSigRecordKey(hw.MuSigPubNonceType, k, s.Tweaked))] = bytes.Clone(hw.FindMuSigRecord(in, hw.MuSigRecordKey(hw.MuSigPubNonceType, k, s.Plain)))
			}
		}
		in.Unknowns = slices.DeleteFunc(in.Unknowns, func(u *bpsbt.Unknown) bool {
			return u != nil && len(u.Key) > 0 && (u.Key[0] == hw.MuSigPubNonceType || u.Key[0] == hw.MuSigPartialSigType)
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
	what, keyType, want := "public nonce", byte(hw.MuSigPubNonceType), hw.MuSigRound1
	if ps.kind == yieldMuSigSig {
		what, keyType, want = "partial signature", hw.MuSigPartialSigType, hw.MuSigRound2
	}
	if ps.leafHash != nil {
		return false, fmt.Errorf("input %d: the Ledger yielded a MuSig2 %s for a musig() key in a script leaf, which countersign's wallets do not have", ps.input, what)
	}
	if pl.Round == hw.MuSigNone && ps.kind == yieldMuSigNonce {
		return false, nil // a round 1 no one takes part in: not used
	}
	if pl.Round == hw.MuSigRound1 && ps.kind == yieldMuSigNonce && !pl.hasSession(ps.input) {
		return false, nil // the PSBT names no session for the input
	}
	if pl.Round != want {
		return false, fmt.Errorf("input %d: the Ledger yielded a MuSig2 %s in a round that does not make one", ps.input, what)
	}
	s := pl.Session(ps.input, ps.agg)
	if s == nil {
		return false, fmt.Errorf("input %d: the Ledger yielded a MuSig2 %s for aggregate key %x, which is not the input's output key", ps.input, what, ps.agg)
	}
	if !bytes.Equal(ps.pubKey, s.Own) {
		return false, fmt.Errorf("input %d: the Ledger yielded a MuSig2 %s for participant %x, not for its own key %x", ps.input, what, ps.pubKey, s.Own)
	}
	in := &p.Inputs[ps.input]
	key := hw.MuSigRecordKey(keyType, s.Own, s.Plain)
	if old := hw.FindMuSigRecord(in, key); old != nil {
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
func muSigRefusal(round hw.MuSigRound, err error) error {
	var se *StatusError
	if round != hw.MuSigRound2 || !errors.As(err, &se) || se.HasCode {
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
