package psbt

// Replacement rules (BIP-125), as the node countersign tests against
// enforces them: btcd v0.26.2, mempool/mempool.go, validateReplacement
// (github.com/btcsuite/btcd tag v0.26.2). A replacement must
//
//   - pay a higher fee rate than the transaction it replaces, compared in
//     whole sat/kvB rounded down (btcd's FeePerKB: fee*1000/vsize);
//   - pay at least the replaced fee plus the minimum relay fee for its
//     own size (btcd's calcMinRequiredTxRelayFee with the default
//     --minrelaytxfee of 1,000 sat/kvB: 1 sat/vB), BIP-125 rule 4's
//     "incremental relay fee";
//   - spend no unconfirmed output that the replaced transaction did not
//     already spend (rule 2), and evict at most 100 transactions.
//
// Bitcoin Core's defaults (-incrementalrelayfee=0.00001 BTC/kvB up to
// v28; lower since) are met by the same numbers, so a replacement built to
// these rules relays through either node. Descendants of the replaced
// transaction add their fees to what must be beaten; the caller counts the
// ones it knows of in oldFee.

// IncrementalRelayFee is the rate, in sat/vB, a replacement pays for its
// own size on top of the replaced fee.
const IncrementalRelayFee = 1

// MinReplacementFee is the lowest fee a replacement of newVSize vbytes may
// pay to replace transactions paying oldFee at oldVSize: both the
// absolute-fee rule and the higher-rate rule above.
func MinReplacementFee(oldFee, oldVSize, newVSize int64) int64 {
	byFee := oldFee + IncrementalRelayFee*newVSize
	if oldVSize <= 0 || newVSize <= 0 {
		return byFee
	}
	// floor(fee*1000/newVSize) > floor(oldFee*1000/oldVSize) = r
	// holds exactly when fee*1000 >= (r+1)*newVSize.
	r := oldFee * 1000 / oldVSize
	byRate := ((r+1)*newVSize + 999) / 1000
	return max(byFee, byRate)
}
