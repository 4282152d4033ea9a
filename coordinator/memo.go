package coordinator

import "github.com/countersign/countersign/psbt"

// memo is the psbt.Memo every workflow of this coordinator shares, made on
// first use: one command (one process) verifies each partial signature and
// derives each wallet address once, however many steps check them (each
// copy's gate, the combiner, the result's gate and report, the
// finalizer). Wallets loaded by Wallet and WalletFor carry it in their
// Info().
func (c *Coordinator) memo() *psbt.Memo {
	c.memoOnce.Do(func() { c.memoVal = psbt.NewMemo() })
	return c.memoVal
}
