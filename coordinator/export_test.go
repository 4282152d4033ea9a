package coordinator

import (
	"context"

	"github.com/countersign/countersign/psbt"
)

// Memo is the coordinator's memo, for tests that count its work.
func (c *Coordinator) Memo() *psbt.Memo { return c.memo() }

// LocateFor is the wallet's update source's Locate, for tests that call
// it the way the gate does: from several goroutines at once.
func (c *Coordinator) LocateFor(ctx context.Context, name string) (func([]byte) (uint32, uint32, bool), error) {
	w, err := c.Wallet(ctx, name)
	if err != nil {
		return nil, err
	}
	src, err := c.updateSource(ctx, w)
	if err != nil {
		return nil, err
	}
	return src.Locate, nil
}

// DescriptorKey is the key of w's rows in the store's script index.
func DescriptorKey(w *Wallet) string { return descriptorKey(w) }
