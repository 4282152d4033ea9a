package coordinator

import "github.com/countersign/countersign/psbt"

// Memo is the coordinator's memo, for tests that count its work.
func (c *Coordinator) Memo() *psbt.Memo { return c.memo() }
