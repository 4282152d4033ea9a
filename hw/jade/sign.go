package jade

import (
	"bytes"
	"context"
	"fmt"

	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"

	"github.com/countersign/countersign/hw"
)

// MaxPSBT is the largest PSBT a Jade takes in one sign_psbt request: the
// firmware's input buffer (MAX_INPUT_MSG_SIZE, 401 KiB on every
// Blockstream Jade, which all have SPIRAM) less the request's own bytes.
const MaxPSBT = 401*1024 - 128

// maxSignedPSBT bounds what the device may send back: the PSBT plus its
// new signatures.
const maxSignedPSBT = 4 << 20

// SignPSBT has the device sign p (sign_psbt; docs/index.rst "sign_psbt
// request"; main/process/sign_psbt.c). The wallet must be registered: a
// Jade would sign without, but would show its change as a payment to an
// outsider.
func (j *Jade) SignPSBT(ctx context.Context, p *bpsbt.Packet, w *hw.Wallet) (*bpsbt.Packet, error) {
	const op = "sign transaction"
	r, err := newRecord(w)
	if err != nil {
		return nil, j.fail(op, err)
	}
	var buf bytes.Buffer
	if err := p.Serialize(&buf); err != nil {
		return nil, j.fail(op, err)
	}
	if buf.Len() > MaxPSBT {
		return nil, j.fail(op, hw.Errorf(hw.ErrUnsupported, "the PSBT is %d bytes; a Jade takes at most %d: spend fewer coins at a time", buf.Len(), MaxPSBT))
	}
	if err := j.unlock(ctx, r.network); err != nil {
		return nil, err
	}
	if err := j.checkRegistered(ctx, r, w); err != nil {
		return nil, j.fail(op, err)
	}
	j.prompt(fmt.Sprintf("Check the outputs and the fee on your %s, then confirm to sign for wallet %q.", j.name(), w.Name))
	signed, _, err := j.link.callSequence(ctx, "sign_psbt", map[string]any{"network": r.network, "psbt": buf.Bytes()}, maxSignedPSBT)
	if err != nil {
		return nil, j.fail(op, err)
	}
	out, err := bpsbt.NewFromRawBytes(bytes.NewReader(signed), false)
	if err != nil {
		return nil, j.fail(op, fmt.Errorf("the Jade returned a PSBT that does not parse: %w", err))
	}
	return out, nil
}
