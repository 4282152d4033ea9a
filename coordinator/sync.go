package coordinator

import (
	"context"

	"github.com/countersign/countersign/wallet/scan"
)

// SyncResult is what one sync learned, with the balance after it.
type SyncResult struct {
	*scan.Result
	Confirmed, Unconfirmed  int64
	NextReceive, NextChange uint32
	RoundTrips              int64 // backend round trips, when the backend counts them
	// Rotation is the wallet's place in a key rotation: its successor or
	// predecessor, whether this sync found the sweep confirmed and retired
	// it, and coins a retired wallet received late.
	Rotation *RotationStatus
}

// Sync scans the wallet's backend for its coins and transactions and
// stores them in one transaction (an interrupted sync changes nothing).
func (c *Coordinator) Sync(ctx context.Context, name string, opt scan.Options) (*SyncResult, error) {
	w, err := c.Wallet(ctx, name)
	if err != nil {
		return nil, err
	}
	b, err := c.Backend(ctx, w)
	if err != nil {
		return nil, err
	}
	res, err := scan.Sync(ctx, c.Store, name, w.Descriptor, w.Network, b, opt)
	if err != nil {
		return nil, err
	}
	conf, unconf, err := c.Store.Balance(ctx, name)
	if err != nil {
		return nil, err
	}
	rec, err := c.Store.Wallet(ctx, name)
	if err != nil {
		return nil, err
	}
	out := &SyncResult{Result: res, Confirmed: conf, Unconfirmed: unconf, NextReceive: rec.NextReceive, NextChange: rec.NextChange}
	if rt, ok := b.(interface{ RoundTrips() int64 }); ok {
		out.RoundTrips = rt.RoundTrips()
	}
	if out.Rotation, err = c.RotationStatus(ctx, name); err != nil {
		return nil, err
	}
	return out, nil
}
