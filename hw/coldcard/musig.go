package coldcard

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"

	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/countersign/countersign/hw"
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
// participants up under that one too). hw.PlanMuSig finds the sessions
// and the round and refuses the states that would lose the session, as
// for the Ledger; this file adds the firmware's side: the device copy
// under its keys, what comes back, and its error texts.

// MuSigFirmware is the first EDGE release that signs a MuSig2 key path.
const MuSigFirmware = "6.5.0X (EDGE; 6.5.0QX on the Q)"

// muSigPlan is hw's plan of this Coldcard's MuSig2 round.
type muSigPlan struct{ hw.MuSigPlan }

// planMuSig decides the round from the PSBT (hw.PlanMuSig) and refuses a
// pass with nothing left to do: the firmware would take its session and
// sign nothing.
func (c *Coldcard) planMuSig(p *bpsbt.Packet) (*muSigPlan, error) {
	pl, err := hw.PlanMuSig(p, c.xfp, "Coldcard")
	if err != nil {
		return nil, err
	}
	if pl.Round == hw.MuSigDone {
		return nil, errors.New("this Coldcard's MuSig2 partial signatures are already in the PSBT: it has nothing left to sign; combine the cosigners' PSBTs and finalize")
	}
	return &muSigPlan{*pl}, nil
}

// deviceCopy rewrites dev (a copy for the device) so each session's
// records are keyed by the firmware's aggregate (the output key).
func (pl *muSigPlan) deviceCopy(dev *bpsbt.Packet) {
	for _, s := range pl.Sessions {
		in := &dev.Inputs[s.Input]
		for _, u := range in.Unknowns {
			if u == nil || len(u.Key) != 67 || (u.Key[0] != hw.MuSigPubNonceType && u.Key[0] != hw.MuSigPartialSigType) || !bytes.Equal(u.Key[34:], s.Plain) {
				continue
			}
			u.Key = hw.MuSigRecordKey(u.Key[0], u.Key[1:34], s.Tweaked)
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
			if u == nil || len(u.Key) < 67 || (u.Key[0] != hw.MuSigPubNonceType && u.Key[0] != hw.MuSigPartialSigType) {
				continue
			}
			what, want := "public nonce", hw.MuSigRound1
			if u.Key[0] == hw.MuSigPartialSigType {
				what, want = "partial signature", hw.MuSigRound2
			}
			s := pl.Session(i, u.Key[34:67])
			if s == nil {
				if slices.ContainsFunc(in.Unknowns, func(o *bpsbt.Unknown) bool { return o != nil && bytes.Equal(o.Key, u.Key) }) {
					continue // a record the PSBT had, not under a session of ours
				}
				return fmt.Errorf("input #%d: the Coldcard added a MuSig2 %s for aggregate key %x, which is not the input's output key of a session it takes part in", i, what, u.Key[34:67])
			}
			if !bytes.Equal(u.Key[1:34], s.Own) {
				if hw.FindMuSigRecord(in, hw.MuSigRecordKey(u.Key[0], u.Key[1:34], s.Plain)) != nil {
					continue // a cosigner's record, sent to the device
				}
				return fmt.Errorf("input #%d: the Coldcard added a MuSig2 %s for participant %x, not for its own key %x", i, what, u.Key[1:34], s.Own)
			}
			if len(u.Key) != 67 {
				return fmt.Errorf("input #%d: the Coldcard added a MuSig2 %s for a script leaf, which countersign's wallets do not have", i, what)
			}
			key := hw.MuSigRecordKey(u.Key[0], s.Own, s.Plain)
			if old := hw.FindMuSigRecord(in, key); old != nil {
				if bytes.Equal(old, u.Value) {
					continue
				}
				return fmt.Errorf("input #%d: the Coldcard added a second, different MuSig2 %s", i, what)
			}
			if pl.Round != want {
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
