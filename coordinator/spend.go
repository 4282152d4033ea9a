package coordinator

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/countersign/countersign/chain"
	"github.com/countersign/countersign/psbt"
	"github.com/countersign/countersign/wallet"
)

// SpendRequest is a payment to build.
type SpendRequest struct {
	Wallet  string
	Outputs []psbt.Output // payments; for SendAll one output without a value
	SendAll bool
	// UTXOs, when set, are the coins to spend (coin control); otherwise
	// coins are chosen from the wallet's spendable ones.
	UTXOs []wire.OutPoint
	// FeeRate in sat/vB; 0 asks the backend for its estimate for
	// TargetBlocks.
	FeeRate      float64
	TargetBlocks int
	MinConf      int32
	NoRBF        bool
	AllowHighFee bool
	Note         string
}

// SpendResult is the new draft.
type SpendResult struct {
	Draft     *wallet.Draft
	PSBT      *bpsbt.Packet
	Summary   *psbt.BuildSummary
	Report    *psbt.Report
	FeeSource string // where the fee rate came from, for the user
}

// ErrNoCoins means the wallet has nothing to spend as of its last sync.
var ErrNoCoins = fmt.Errorf("%w: no spendable coins as of the last sync", psbt.ErrInsufficientFunds)

// Spend builds a PSBT for the payment from the wallet's coins, with change
// to the wallet's next change address, and saves it as a draft. Choosing
// the change index, saving the draft and advancing the change counter are
// one store transaction: concurrent spends never share a change address.
func (c *Coordinator) Spend(ctx context.Context, req SpendRequest) (*SpendResult, error) {
	w, err := c.Wallet(ctx, req.Wallet)
	if err != nil {
		return nil, err
	}
	coins, err := c.spendableCoins(ctx, req.Wallet)
	if err != nil {
		return nil, err
	}
	if len(coins) == 0 {
		return nil, fmt.Errorf("wallet %q: %w", req.Wallet, ErrNoCoins)
	}
	// The tip sets the anti-fee-sniping lock time; the backend gives the
	// fee estimate. With an explicit fee rate and no backend configured,
	// the last synced height stands in for the tip.
	st, err := c.Store.ScanState(ctx, req.Wallet)
	if err != nil {
		return nil, err
	}
	tip := st.Height
	feeRate, feeSource := req.FeeRate, "--fee-rate"
	b, berr := c.Backend(ctx, w)
	switch {
	case berr == nil:
		h, _, err := b.Tip(ctx)
		if err != nil {
			return nil, err
		}
		tip = h
		if feeRate == 0 {
			if feeRate, feeSource, err = estimateFee(ctx, b, req.TargetBlocks); err != nil {
				return nil, err
			}
		}
	case feeRate == 0:
		return nil, fmt.Errorf("no fee rate: pass --fee-rate SAT_VB, or configure a backend for an estimate: %w", berr)
	case !errors.Is(berr, ErrNoBackend):
		return nil, berr // a configured backend that fails is an error, not a fallback
	}

	rules, err := c.rules(ctx, w)
	if err != nil {
		return nil, err
	}
	rules.AllowHighFee = req.AllowHighFee
	var built *bpsbt.Packet
	var sum *psbt.BuildSummary
	var rep *psbt.Report
	draft, err := c.Store.CreateDraft(ctx, req.Wallet, func(changeIndex uint32) (*wallet.Draft, bool, error) {
		var err error
		built, sum, err = psbt.Build(psbt.BuildRequest{
			Wallet:           w.Info(),
			UTXOs:            coins,
			Outputs:          req.Outputs,
			SendAll:          req.SendAll,
			Preselected:      req.UTXOs,
			FeeRate:          feeRate,
			MinConfirmations: req.MinConf,
			ChangeBranch:     1,
			ChangeIndex:      changeIndex,
			LockTime:         uint32(max(tip, 0)),
			DisableRBF:       req.NoRBF,
			AllowHighFee:     req.AllowHighFee,
		})
		if err != nil {
			return nil, false, err
		}
		// The same gate every later step runs, before anything is saved.
		if rep, err = psbt.Gate(built, w.Info(), rules); err != nil {
			return nil, false, err
		}
		raw, err := psbt.Serialize(built)
		if err != nil {
			return nil, false, err
		}
		return &wallet.Draft{TxID: built.UnsignedTx.TxHash(), PSBT: raw, Note: req.Note}, sum.ChangeUsed, nil
	})
	if err != nil {
		return nil, err
	}
	return &SpendResult{Draft: draft, PSBT: built, Summary: sum, Report: rep, FeeSource: feeSource}, nil
}

// estimateFee asks the backend for a fee rate and says where it came from.
func estimateFee(ctx context.Context, b chain.Backend, target int) (float64, string, error) {
	if fe, ok := b.(chain.FeeEstimator); ok {
		e, err := fe.EstimateFee(ctx, target)
		if err != nil {
			return 0, "", err
		}
		note := fmt.Sprintf("the backend's estimate for %d blocks", target)
		if e.Fallback {
			note = "the backend's minimum relay fee (it has no estimate: " + e.Note + ")"
		}
		return e.SatPerVByte, note, nil
	}
	r, err := b.FeeRate(ctx, target)
	return r, fmt.Sprintf("the backend's estimate for %d blocks", target), err
}

// spendableCoins turns the stored UTXO set into Build's coins, each with the
// transaction that created it (stored by sync), skipping coins already being
// spent by a broadcast transaction.
func (c *Coordinator) spendableCoins(ctx context.Context, name string) ([]psbt.UTXO, error) {
	us, err := c.Store.UTXOs(ctx, name)
	if err != nil {
		return nil, err
	}
	txs, err := c.Store.Transactions(ctx, name)
	if err != nil {
		return nil, err
	}
	st, err := c.Store.ScanState(ctx, name)
	if err != nil {
		return nil, err
	}
	prev := make(map[chainhash.Hash]*wire.MsgTx, len(txs))
	for _, t := range txs {
		if len(t.Raw) == 0 {
			continue
		}
		tx := &wire.MsgTx{}
		if err := tx.Deserialize(bytes.NewReader(t.Raw)); err != nil {
			return nil, fmt.Errorf("stored transaction %s does not decode (%v); run `countersign wallet sync %s`", t.TxID, err, name)
		}
		prev[t.TxID] = tx
	}
	var out []psbt.UTXO
	for _, u := range us {
		if u.SpentBy != nil {
			continue
		}
		tx := prev[u.OutPoint.Hash]
		if tx == nil {
			return nil, fmt.Errorf("the transaction that created coin %s is not stored; run `countersign wallet sync %s`", u.OutPoint, name)
		}
		var conf int32
		if u.Height > 0 {
			conf = st.Height - u.Height + 1
		}
		out = append(out, psbt.UTXO{OutPoint: u.OutPoint, Value: u.Value, Branch: u.Branch, Index: u.Index, PrevTx: tx, Confirmations: conf})
	}
	return out, nil
}
