package file

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"

	"github.com/countersign/countersign/hw"
	"github.com/countersign/countersign/internal/atomicfile"
	"github.com/countersign/countersign/psbt"
)

// SignPSBT writes p into Dir as NAME-TXID8.psbt (NAME from the wallet name,
// TXID8 the first 8 hex digits of the txid) for the device to sign. Without
// Wait it returns hw.ErrPending. With Wait it polls Dir until the device's
// signed file appears and returns what it holds; the adapter takes only its
// new partial signatures, each verified. Cancelling ctx (Ctrl-C) stops the
// wait with an error wrapping ctx's (nothing was signed: exit 130, not a
// pending success); the file stays on the card and the message says how
// to add its signatures later.
func (s *Signer) SignPSBT(ctx context.Context, p *bpsbt.Packet, wal *hw.Wallet) (*bpsbt.Packet, error) {
	name := wal.Name
	if err := s.checkDir(ctx); err != nil {
		return nil, err
	}
	if p == nil || p.UnsignedTx == nil {
		return nil, fmt.Errorf("%w: no PSBT to write for the file signer", psbt.ErrMalformed)
	}
	data, err := psbt.Serialize(p)
	if err != nil {
		return nil, err
	}

	txid := p.UnsignedTx.TxHash().String()
	base := stem(name, "psbt") + "-" + txid[:8]
	fn := base + ".psbt"
	path := filepath.Join(s.Dir, fn)
	// Files already on the card (an earlier attempt, another cosigner's
	// pass) are not this device's answer; only new or changed ones count.
	w0 := newWatcher(s.Dir, base)
	if err := atomicfile.WriteWith(filepath.Join(s.Dir, fn), data, atomicfile.Options{NoChmod: true}); err != nil {
		return nil, err
	}
	s.prompt(fmt.Sprintf("Wrote %s. On the Coldcard: Ready To Sign, choose %s, check the outputs and fee, and approve; it writes %s-part.psbt (or -signed.psbt) back to the card.",
		path, fn, base))

	combineHint := fmt.Sprintf("`countersign psbt combine ORIGINAL.psbt %s -o SIGNED.psbt`", filepath.Join(s.Dir, base+"-part.psbt"))
	if !s.Wait {
		return nil, fmt.Errorf("%w: the PSBT to sign is %s; after signing on the device, add its signatures with %s (Coldcard names the file %s-part.psbt, or %s-signed.psbt when its signature completes the transaction)",
			hw.ErrPending, path, combineHint, base, base)
	}

	s.prompt(fmt.Sprintf("Waiting for the signed PSBT in %s (Ctrl-C to stop)…", s.Dir))
	poll := s.Poll
	if poll <= 0 {
		poll = defaultPoll
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("stopped waiting for the signed PSBT (%w): nothing was signed; %s stays on the card: sign it and add its signatures later with %s",
				ctx.Err(), path, combineHint)
		case <-timer.C:
		}
		out, found, err := w0.check(p)
		if err != nil {
			return nil, err
		}
		if found {
			return out, nil
		}
		timer.Reset(poll)
	}
}
