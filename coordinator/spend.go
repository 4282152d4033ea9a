package coordinator

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

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
	// Note is stored with the draft and labels its transaction (BIP-329).
	Note string
	// AllowConflict lets the spend use coins a live draft (not yet
	// broadcast, not abandoned) already spends; without it they are left
	// out and the result says which.
	AllowConflict bool
	// OverridePolicy is the reason to go through a breach of the wallet's
	// spending policy (journaled); "" refuses.
	OverridePolicy string
	// Path is the spending path of a miniscript wallet ("" or "primary",
	// "recovery", ...; see descriptor.SpendPaths): a locked path spends
	// only coins whose lock has opened, with the nSequence/nLockTime it
	// needs, and is refused (exit 4) while locked.
	Path string
	// SelfSend sends every selected coin (UTXOs, with SendAll) to the
	// wallet's next change address instead of Outputs: the refresh of a
	// miniscript wallet's relative locks (see Refresh).
	SelfSend bool
	// MaxPSBTSize keeps every PSBT, with all the signatures it needs
	// (SignedSize), at most this many bytes: > 0 is the limit, < 0 none,
	// 0 the smallest limit of the device kinds registered for the wallet
	// (DeviceLimits). A sweep (SendAll) over it is split into several
	// transactions, each its own draft; a payment over it is refused
	// (ErrPSBTTooLarge). MaxPSBTSource says where a given limit comes
	// from ("coldcard"); "" means --max-psbt-size.
	MaxPSBTSize   int
	MaxPSBTSource string
}

// SpendResult is the new draft.
type SpendResult struct {
	Draft     *wallet.Draft
	PSBT      *bpsbt.Packet
	Summary   *psbt.BuildSummary
	Report    *psbt.Report
	FeeSource string // where the fee rate came from, for the user
	// LeftOut are coins left out because a live draft spends them;
	// Conflicts the coins this spend shares with live drafts (only with
	// AllowConflict).
	LeftOut, Conflicts []CoinConflict
	// Limit is the PSBT size the spend kept to; SignedSize the PSBT's
	// size with every signature it needs.
	Limit      PSBTLimit
	SignedSize int
	// Parts, when a sweep over Limit was split, are its transactions in
	// order, each saved as a draft (the first is also Draft and PSBT
	// above); nil when the spend is one transaction.
	Parts []SpendPart
	// TooSmall are coins a split sweep left out: each is worth no more
	// than the fee to spend it.
	TooSmall []psbt.UTXO
}

// SpendPart is one transaction of a split sweep.
type SpendPart struct {
	Draft      *wallet.Draft
	PSBT       *bpsbt.Packet
	Summary    *psbt.BuildSummary
	Report     *psbt.Report
	Size       int // serialized bytes, unsigned
	SignedSize int // with every signature it needs
}

// CoinConflict is a coin that a live draft already spends.
type CoinConflict struct {
	OutPoint wire.OutPoint
	Draft    string // the draft's id (its first version)
}

// ErrNoCoins means the wallet has nothing to spend as of its last sync.
var ErrNoCoins = fmt.Errorf("%w: no spendable coins as of the last sync", psbt.ErrInsufficientFunds)

// Spend builds a PSBT for the payment from the wallet's coins, with change
// to the wallet's next change address, and saves it as a draft. Choosing
// the change index, saving the draft and advancing the change counter are
// one store transaction: concurrent spends never share a change address,
// and never a coin (unless AllowConflict).
func (c *Coordinator) Spend(ctx context.Context, req SpendRequest) (*SpendResult, error) {
	return retryStale(ctx, func() (*SpendResult, error) { return c.spendOnce(ctx, req) })
}

// spendOnce is one attempt of Spend.
func (c *Coordinator) spendOnce(ctx context.Context, req SpendRequest) (*SpendResult, error) {
	w, err := c.Wallet(ctx, req.Wallet)
	if err != nil {
		return nil, err
	}
	all, err := c.spendableCoins(ctx, req.Wallet)
	if err != nil {
		return nil, err
	}
	// Coins a live draft spends are left out, so that two drafts do not
	// fight over one coin, unless the user asks for them. The newest draft
	// is read first: a draft saved after it makes the store refuse this
	// one (wallet.ErrStale), and the spend is built again with that
	// draft's coins known.
	seen, err := c.Store.NewestDraftSeq(ctx, w.Name)
	if err != nil {
		return nil, err
	}
	live, err := c.liveSpends(ctx, w)
	if err != nil {
		return nil, err
	}
	res := &SpendResult{}
	var coins []psbt.UTXO
	for _, u := range all {
		if p, ok := live[u.OutPoint]; ok {
			cc := CoinConflict{OutPoint: u.OutPoint, Draft: p.ID}
			if !req.AllowConflict {
				if slices.Contains(req.UTXOs, u.OutPoint) {
					return nil, fmt.Errorf("coin %s is spent by draft %s, which is not yet broadcast: %w; pass --allow-conflict to spend it again, or abandon that draft (countersign psbt abandon %s)",
						u.OutPoint, p.ID[:12], wallet.ErrInvalid, p.ID[:12])
				}
				if len(req.UTXOs) == 0 {
					res.LeftOut = append(res.LeftOut, cc)
				}
				continue
			}
			if len(req.UTXOs) == 0 || slices.Contains(req.UTXOs, u.OutPoint) {
				res.Conflicts = append(res.Conflicts, cc)
			}
		}
		coins = append(coins, u)
	}
	if len(all) == 0 {
		return nil, fmt.Errorf("wallet %q: %w", req.Wallet, ErrNoCoins)
	}
	tip, feeRate, feeSource, err := c.tipAndFeeRate(ctx, w, req.FeeRate, req.TargetBlocks)
	if err != nil {
		return nil, err
	}

	ps, err := c.applyPath(ctx, w, req.Path, coins, req.UTXOs, tip)
	if err != nil {
		return nil, err
	}
	coins = ps.coins

	rules, err := c.rules(ctx, w)
	if err != nil {
		return nil, err
	}
	rules.AllowHighFee = req.AllowHighFee
	if res.Limit, err = c.spendLimit(ctx, w, req.MaxPSBTSize, req.MaxPSBTSource); err != nil {
		return nil, err
	}
	sp := splitParams{tip: tip, feeRate: feeRate, feeSource: feeSource, rules: rules, lockTime: ps.lockTime, sequence: ps.sequence, seen: seen}
	if req.SendAll {
		// A sweep of more coins than one standard transaction holds is
		// split at once (Build would refuse it).
		n := len(coins)
		if len(req.UTXOs) > 0 {
			n = len(req.UTXOs)
		}
		vs, err := psbt.EstimateVSize(w.Descriptor, n, nil)
		if err != nil {
			return nil, err
		}
		if vs > maxStandardVSize {
			return c.spendSplit(ctx, w, req, res, coins, sp)
		}
	}
	prevTxs := c.prevTxs(ctx, w.Name)
	var built *bpsbt.Packet
	var sum *psbt.BuildSummary
	var rep *psbt.Report
	draft, err := c.Store.CreateDraft(ctx, req.Wallet, func(changeIndex uint32) (*wallet.Draft, bool, error) {
		// The policy is read here, under the store's write lock: what the
		// wallet sent or has in flight cannot change until this draft is
		// saved, so two operators drafting at once on a shared store
		// cannot both fit under the daily limit the pair exceeds.
		pol, err := c.loadPolicy(ctx, w, chainhash.Hash{}, GateOptions{OverridePolicy: req.OverridePolicy})
		if err != nil {
			return nil, false, err
		}
		outputs, self, err := selfSendOutputs(w, req, changeIndex)
		if err != nil {
			return nil, false, err
		}
		built, sum, err = psbt.Build(psbt.BuildRequest{
			Wallet:           w.Info(),
			UTXOs:            coins,
			PrevTxs:          prevTxs,
			Outputs:          outputs,
			SendAll:          req.SendAll,
			Preselected:      req.UTXOs,
			FeeRate:          feeRate,
			MinConfirmations: req.MinConf,
			ChangeBranch:     1,
			ChangeIndex:      changeIndex,
			LockTime:         ps.lockTime,
			Sequence:         ps.sequence,
			DisableRBF:       req.NoRBF,
			AllowHighFee:     req.AllowHighFee,
		})
		if err != nil {
			return nil, false, err
		}
		if self != nil {
			// The output is the wallet's change: give it the derivations
			// signers check it by.
			if _, err := psbt.Update(built, w.Info(), psbt.UpdateSource{Locate: self}); err != nil {
				return nil, false, err
			}
			sum.ChangeUsed = true
		}
		// The same gate every later step runs, before anything is saved,
		// and the spending policy beside it.
		if rep, err = psbt.Gate(built, w.Info(), rules); err != nil {
			return nil, false, err
		}
		notes, err := pol.check(StepSpend, built, rep)
		if err != nil {
			return nil, false, err
		}
		if res.SignedSize, err = SignedSize(built, w.Descriptor.Threshold); err != nil {
			return nil, false, err
		}
		if res.Limit.Bytes > 0 && res.SignedSize > res.Limit.Bytes {
			return nil, false, &tooLargeError{size: res.SignedSize, inputs: len(built.Inputs), limit: res.Limit}
		}

		raw, err := psbt.Serialize(built)
		if err != nil {
			return nil, false, err
		}
		return &wallet.Draft{TxID: built.UnsignedTx.TxHash(), PSBT: raw, Note: req.Note, SeenUpTo: &seen,
			Event: &wallet.DraftEvent{Step: StepSpend, Notes: notes}}, sum.ChangeUsed, nil
	})
	var big *tooLargeError
	if errors.As(err, &big) && req.SendAll {
		// A sweep too large for the signers becomes several.
		return c.spendSplit(ctx, w, req, res, coins, sp)
	}
	if errors.Is(err, psbt.ErrInsufficientFunds) && len(res.LeftOut) > 0 {
		// The payment is valid; the coins it would need are promised to
		// drafts not yet sent.
		return nil, fmt.Errorf("%w; %d coin(s) were left out because drafts not yet broadcast spend them (%s): pass --allow-conflict to spend them again, or abandon those drafts",
			err, len(res.LeftOut), leftOutDrafts(res.LeftOut))
	}
	if err != nil {
		return nil, err
	}
	if err := c.noteLabel(ctx, w, draft.TxID, req.Note); err != nil {
		return nil, fmt.Errorf("draft %s saved, but its note did not become a label: %w", draft.ID[:12], err)
	}
	res.Draft, res.PSBT, res.Summary, res.Report, res.FeeSource = draft, built, sum, rep, feeSource
	return res, nil
}

// selfSendOutputs returns the outputs of a spend: req.Outputs, or for a
// SelfSend the wallet's change address at changeIndex, with a Locate that
// finds it.
func selfSendOutputs(w *Wallet, req SpendRequest, changeIndex uint32) ([]psbt.Output, func([]byte) (uint32, uint32, bool), error) {
	if !req.SelfSend {
		return req.Outputs, nil, nil
	}
	d, err := w.Descriptor.Derive(1, changeIndex, w.Network)
	if err != nil {
		return nil, nil, err
	}
	locate := func(pk []byte) (uint32, uint32, bool) {
		return 1, changeIndex, bytes.Equal(pk, d.ScriptPubKey)
	}
	return []psbt.Output{{Address: d.Address}}, locate, nil
}

// noteLabel makes a spend's note the label of its transaction (BIP-329),
// unless the transaction has one.
func (c *Coordinator) noteLabel(ctx context.Context, w *Wallet, txid chainhash.Hash, note string) error {
	if note == "" {
		return nil
	}
	idx, err := c.labelIndex(ctx, w.Name)
	if err != nil || idx.tx(txid) != "" {
		return err
	}
	return c.Store.SetLabel(ctx, w.Name, wallet.Label{Type: wallet.LabelTx, Ref: txid.String(), Label: &note})
}

// tipAndFeeRate returns the chain tip (for the anti-fee-sniping lock time)
// and the fee rate to pay: feeRate when given, else the backend's
// estimate for target blocks. With an explicit fee rate and no backend
// configured, the last synced height stands in for the tip.
func (c *Coordinator) tipAndFeeRate(ctx context.Context, w *Wallet, feeRate float64, target int) (int32, float64, string, error) {
	st, err := c.Store.ScanState(ctx, w.Name)
	if err != nil {
		return 0, 0, "", err
	}
	tip := st.Height
	feeSource := "--fee-rate"
	b, berr := c.Backend(ctx, w)
	switch {
	case berr == nil:
		h, _, err := b.Tip(ctx)
		if err != nil {
			return 0, 0, "", err
		}
		tip = h
		if feeRate == 0 {
			if feeRate, feeSource, err = estimateFee(ctx, b, max(target, 1)); err != nil {
				return 0, 0, "", err
			}
		}
	case feeRate == 0:
		return 0, 0, "", fmt.Errorf("no fee rate: pass --fee-rate SAT_VB, or configure a backend for an estimate: %w", berr)
	case !errors.Is(berr, ErrNoBackend):
		return 0, 0, "", berr // a configured backend that fails is an error, not a fallback
	}
	return tip, feeRate, feeSource, nil
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

// spendableCoins turns the stored UTXO set into Build's coins, skipping
// coins already being spent by a broadcast transaction. The coins carry no
// previous transaction: Build asks prevTxs for those of the coins it
// chooses (a wallet of 30,000 coins decoded every stored transaction
// before each spend).
func (c *Coordinator) spendableCoins(ctx context.Context, name string) ([]psbt.UTXO, error) {
	us, err := c.Store.UTXOs(ctx, name)
	if err != nil {
		return nil, err
	}
	st, err := c.Store.ScanState(ctx, name)
	if err != nil {
		return nil, err
	}
	out := make([]psbt.UTXO, 0, len(us))
	for _, u := range us {
		if u.SpentBy != nil {
			continue
		}
		var conf int32
		if u.Height > 0 {
			conf = st.Height - u.Height + 1
		}
		out = append(out, psbt.UTXO{OutPoint: u.OutPoint, Value: u.Value, Branch: u.Branch, Index: u.Index, Confirmations: conf})
	}
	return out, nil
}

// prevTxs is BuildRequest.PrevTxs for the wallet's stored transactions:
// it reads and decodes the ones asked for, once each (a split sweep
// builds many candidate PSBTs from the same coins). A coin whose
// transaction the store lacks or cannot decode is an error naming it.
func (c *Coordinator) prevTxs(ctx context.Context, name string) func([]chainhash.Hash) (map[chainhash.Hash]*wire.MsgTx, error) {
	cache := map[chainhash.Hash]*wire.MsgTx{}
	return func(ids []chainhash.Hash) (map[chainhash.Hash]*wire.MsgTx, error) {
		var need []chainhash.Hash
		for _, id := range ids {
			if cache[id] == nil {
				need = append(need, id)
			}
		}
		raw, err := c.Store.RawTxs(ctx, name, need)
		if err != nil {
			return nil, err
		}
		for _, id := range need {
			b, ok := raw[id]
			if !ok {
				return nil, fmt.Errorf("transaction %s, which created a coin being spent, is not stored; run `countersign wallet sync %s`", id, name)
			}
			tx := &wire.MsgTx{}
			if err := tx.Deserialize(bytes.NewReader(b)); err != nil {
				return nil, fmt.Errorf("stored transaction %s does not decode (%v); run `countersign wallet sync %s`", id, err, name)
			}
			cache[id] = tx
		}
		out := make(map[chainhash.Hash]*wire.MsgTx, len(ids))
		for _, id := range ids {
			out[id] = cache[id]
		}
		return out, nil
	}
}

// leftOutDrafts names the drafts that hold left-out coins.
func leftOutDrafts(cs []CoinConflict) string {
	seen := map[string]bool{}
	var out []string
	for _, c := range cs {
		if id := c.Draft[:12]; !seen[id] {
			seen[id] = true
			out = append(out, "draft "+id)
		}
	}
	return strings.Join(out, ", ")
}
