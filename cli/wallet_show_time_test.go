package cli

import (
	"bytes"
	"testing"
	"time"
)

// TestRenderTimeLockPaths: wallet show's text for coins on a lock counted
// in time: the median time past each waits for, open or not, and why it
// is unknown; a block lock's lines stay as they were.
func TestRenderTimeLockPaths(t *testing.T) {
	at := time.Date(2027, 1, 15, 8, 0, 1, 0, time.UTC)
	v := &walletJSON{SyncedHeight: 200, Paths: []pathJSON{
		{Name: "primary", Description: "any 2 of alice, bob, carol, at any time"},
		{Name: "recovery", Description: "lawyer, once the chain's median time past is later than 2027-01-15 08:00:00 UTC (unix time 1800000000)", Coins: []coinLockJSON{
			{Outpoint: "aa:0", Value: 100_000, Height: 100, OpensTime: &at},
			{Outpoint: "aa:1", Value: 200_000, Height: 100, OpensTime: &at, Open: true},
			{Outpoint: "aa:2", Value: 300_000, Height: 100, OpensTime: &at, TimeUnknown: "no chain backend configured"},
			{Outpoint: "aa:3", Value: 400_000, TimeUnknown: "the coin is unconfirmed"},
			{Outpoint: "aa:4", Value: 500_000, Height: 100, OpensAt: 244},
		}},
	}}
	var out bytes.Buffer
	renderPaths(&out, v)
	want := `Spending paths:
  primary:   any 2 of alice, bob, carol, at any time
  recovery:  lawyer, once the chain's median time past is later than 2027-01-15 08:00:00 UTC (unix time 1800000000)
             coin aa:0 (0.00100000 BTC): opens once the chain's median time past reaches 2027-01-15 08:00:01 UTC
             coin aa:1 (0.00200000 BTC): open since the chain's median time past reached 2027-01-15 08:00:01 UTC
             coin aa:2 (0.00300000 BTC): opens once the chain's median time past reaches 2027-01-15 08:00:01 UTC (whether it is open is not known: no chain backend configured)
             coin aa:3 (0.00400000 BTC): opening not known yet: the coin is unconfirmed
             coin aa:4 (0.00500000 BTC): opens at block 244, 43 blocks from the last sync at 200
`
	if got := out.String(); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}
