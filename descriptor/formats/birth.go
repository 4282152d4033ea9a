package formats

import (
	"github.com/btcsuite/btcd/chaincfg"
)

// birthMargin is subtracted from a mark's time: block times are not
// monotonic (a block only has to be later than the median of the eleven
// before it), and a week costs little rescanning.
const birthMargin = 7 * 24 * 60 * 60

// birthTimestamp is the importdescriptors timestamp for a wallet born at
// height: a time no later than that block's, so Core's rescan cannot miss
// the wallet's first payments. It is 0 (rescan everything) when the height
// is unknown, below the first mark, or on a test network, where no marks
// are kept. Core's "now" is never written: it would skip every payment the
// wallet already received.
func birthTimestamp(height int32, net *chaincfg.Params) int64 {
	if net == nil || net.Name != chaincfg.MainNetParams.Name {
		return 0
	}
	// Real mainnet blocks (the subsidy halvings) and their header times.
	// Core wants a time to rescan from and a wallet knows a height; without
	// a node the only safe conversion is the time of an earlier block.
	marks := [...]struct {
		height int32
		time   int64
	}{
		{210000, 1354116278}, // 2012-11-28
		{420000, 1468082773}, // 2016-07-09
		{630000, 1589225023}, // 2020-05-11
		{840000, 1713571767}, // 2024-04-20
	}
	var ts int64
	for _, m := range marks {
		if height >= m.height {
			ts = m.time - birthMargin
		}
	}
	return ts
}
