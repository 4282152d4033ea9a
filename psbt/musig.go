package psbt

import (
	"bytes"
	"slices"

	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"

	"github.com/countersign/countersign/descriptor"
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
