package coordinator

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"

	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/countersign/countersign/hw"
	"github.com/countersign/countersign/psbt"
	"github.com/countersign/countersign/wallet"
)

// Inspection is what a PSBT does and what the gate says of it.
type Inspection struct {
	// Wallet is nil when no stored wallet recognises the PSBT.
	Wallet *Wallet
	Report *psbt.Report
	// Refusal is the gate's refusal (a *psbt.GateError), or nil when every
	// step would accept the PSBT. Only a wallet's PSBT is gated.
	Refusal error
	// ToSuccessor names the outputs that pay the wallet's successor (a
	// rotation's sweep); nil when none does.
	ToSuccessor *SuccessorOutputs
	// Labels are the wallet's labels of the transaction, its inputs and
	// outputs; nil for a PSBT of no stored wallet.
	Labels *Labels
}

// Inspect reports what a PSBT does for the stored wallet it spends from,
// and whether the gate lets it through: the verdict sign would give,
// after completing the PSBT from the wallet as sign does. When no stored
// wallet recognises it (and none is named), it is reported as a plain
// PSBT: Wallet is nil, addresses are for net (nil: the network its global
// xpubs say, else mainnet), inputs and outputs are all external.
func (c *Coordinator) Inspect(ctx context.Context, walletName string, p *bpsbt.Packet, net *chaincfg.Params, opts GateOptions) (*Inspection, error) {
	w, err := c.WalletFor(ctx, walletName, p)
	switch {
	case err == nil:
		// The signatures are verified on one core while the wallet's keys
		// are derived on the other (psbt.Memo.VerifyAhead).
		w.memo.VerifyAhead(p)
		rep, err := psbt.Inspect(p, w.Info())
		if err != nil {
			return nil, err
		}
		in := &Inspection{Wallet: w, Report: rep}
		big, err := c.sizeWarnings(ctx, w, p, opts.Devices)
		if err != nil {
			return nil, err
		}
		rep.Warnings = append(rep.Warnings, big...)
		if in.ToSuccessor, err = c.successorOutputs(ctx, w, rep); err != nil {
			return nil, err
		}
		if in.Labels, err = c.psbtLabels(ctx, w, in); err != nil {
			return nil, err
		}
		if _, err := c.PrepareSign(ctx, w.Name, p, opts); err != nil {
			if !errors.Is(err, psbt.ErrRefused) {
				return nil, err
			}
			in.Refusal = err
		}
		return in, nil
	case walletName == "" && errors.Is(err, ErrNoWallet):
		if net == nil {
			net = psbt.GuessNetwork(p)
		}
		rep, err := psbt.Inspect(p, psbt.WalletInfo{Network: net})
		if err != nil {
			return nil, err
		}
		big, err := c.sizeWarnings(ctx, nil, p, opts.Devices)
		if err != nil {
			return nil, err
		}
		rep.Warnings = append(rep.Warnings, big...)
		return &Inspection{Report: rep}, nil
	}
	return nil, err
}

// SignPlan is a PSBT found to be the wallet's, completed from the wallet
// and checked, ready to be shown to the user and handed to a signer.
type SignPlan struct {
	Wallet *Wallet
	PSBT   *bpsbt.Packet
	Report *psbt.Report
	// Updated lists what the wallet added or corrected in a PSBT another
	// tool made (see UpdatePSBT) before any signer saw it.
	Updated []string
	// ToSuccessor names the outputs that pay the wallet's successor.
	ToSuccessor *SuccessorOutputs
	// Opts are the step's options (the policy override travels to Sign).
	Opts GateOptions
}

// PrepareSign finds the PSBT's wallet, completes it from the wallet (a PSBT
// from another tool may lack derivations, scripts or previous transactions
// a device needs) and runs every check before any signer sees it. p is not
// changed. The caller shows Report and asks for confirmation, then calls
// Sign.
func (c *Coordinator) PrepareSign(ctx context.Context, walletName string, p *bpsbt.Packet, opts GateOptions) (*SignPlan, error) {
	w, err := c.WalletFor(ctx, walletName, p)
	if err != nil {
		return nil, err
	}
	w.memo.VerifyAhead(p)
	q, changes, rep, err := c.vet(ctx, w, p, opts)
	if err != nil {
		return nil, err
	}
	to, err := c.successorOutputs(ctx, w, rep)
	if err != nil {
		return nil, err
	}
	return &SignPlan{Wallet: w, PSBT: q, Report: rep, Updated: changes, ToSuccessor: to, Opts: opts}, nil
}

// vet is what every step does before it acts on a PSBT: complete a copy
// from the wallet (another tool's PSBT may lack what the checks need) and
// run the gate on it with every signature present verified. p is not
// changed; the copy, what completing it changed, and its report are
// returned.
func (c *Coordinator) vet(ctx context.Context, w *Wallet, p *bpsbt.Packet, opts GateOptions) (*bpsbt.Packet, []string, *psbt.Report, error) {
	q, err := psbt.Clone(p)
	if err != nil {
		return nil, nil, nil, err
	}
	return c.vetOwned(ctx, w, q, opts)
}

// vetOwned is vet on a PSBT the caller hands over: it is completed in
// place, without the copy (megabytes for a sweep).
func (c *Coordinator) vetOwned(ctx context.Context, w *Wallet, q *bpsbt.Packet, opts GateOptions) (*bpsbt.Packet, []string, *psbt.Report, error) {
	up, err := c.update(ctx, w, q)
	if err != nil {
		return nil, nil, nil, err
	}
	rep, err := c.gate(ctx, w, q, true, opts)
	if err != nil {
		return nil, nil, nil, err
	}
	return q, up.Changes, rep, nil
}

// SignOutcome is what a signer added.
type SignOutcome struct {
	Wallet        *Wallet
	PSBT          *bpsbt.Packet // the plan's PSBT with the new signatures
	Added         int
	AlreadySigned bool          // the signer had signed everything it could; nothing was asked
	WaitingMuSig2 bool          // with AlreadySigned: its MuSig2 nonce is in, the others' are not yet
	Report        *psbt.Report  // the result as the wallet sees it
	Pending       error         // an air-gapped signer has the PSBT; its signatures come later (hw.ErrPending)
	Draft         *wallet.Draft // the version recorded in the store
}

// Sign hands a prepared PSBT to one signer (with its stored registration
// token), takes back only its verified new signatures, and records the
// result as a draft (merged with the spend's stored versions). The wallet's
// spending policy is asked first: no signer sees a PSBT it refuses.
func (c *Coordinator) Sign(ctx context.Context, plan *SignPlan, s *hw.Signer) (*SignOutcome, error) {
	w := plan.Wallet
	notes, err := c.enforcePolicy(ctx, w, plan.PSBT, plan.Report, StepSign, plan.Opts)
	if err != nil {
		return nil, err
	}
	sw, err := c.signerWallet(ctx, w, s)
	if err != nil {
		return nil, err
	}
	res, err := s.Sign(ctx, plan.PSBT, sw)
	if errors.Is(err, hw.ErrPending) {
		// The signer has the PSBT: an override that let it through is on
		// record though nothing is saved yet.
		if err := c.recordNotes(ctx, w, notes); err != nil {
			return nil, err
		}
		return &SignOutcome{Wallet: w, PSBT: plan.PSBT, Report: plan.Report, Pending: err}, nil
	}
	if err != nil {
		return nil, err
	}
	out := &SignOutcome{Wallet: w, PSBT: res.PSBT, Added: res.Added, AlreadySigned: res.AlreadySigned, WaitingMuSig2: res.WaitingMuSig2}
	if out.Report, err = psbt.Inspect(res.PSBT, w.Info()); err != nil {
		return nil, err
	}
	if res.Added > 0 {
		ev := &wallet.DraftEvent{Step: StepSign, Signers: newSigners(plan.Report, out.Report), Notes: notes}
		if out.Draft, err = c.saveDraft(ctx, w, res.PSBT, wallet.StateSigned, ev); err != nil {
			return nil, err
		}
	} else if err := c.recordNotes(ctx, w, notes); err != nil {
		return nil, err
	}
	return out, nil
}

// recordNotes journals entries that no draft save carries.
func (c *Coordinator) recordNotes(ctx context.Context, w *Wallet, notes []wallet.JournalNote) error {
	for _, n := range notes {
		if err := c.Store.Record(ctx, w.Name, n.Action, n.Detail); err != nil {
			return err
		}
	}
	return nil
}

// Combined is the result of merging copies of one PSBT.
type Combined struct {
	Wallet *Wallet
	PSBT   *bpsbt.Packet
	Report *psbt.Report
	// Resolved lists the records the copies disagreed on and how the
	// wallet decided (see psbt.CombineReport).
	Resolved []string
	// ToSuccessor names the outputs that pay the wallet's successor.
	ToSuccessor *SuccessorOutputs
}

// Combine merges copies of one PSBT signed by different cosigners, made by
// any tools: where copies disagree on a record that is not a signature,
// the wallet decides; every signature is verified. The result is completed
// from the wallet and recorded. The copies are the caller's no longer: once
// merged, ps is cleared (a sweep's copies are megabytes each).
func (c *Coordinator) Combine(ctx context.Context, walletName string, ps []*bpsbt.Packet, opts GateOptions) (*Combined, error) {
	if len(ps) == 0 {
		return nil, fmt.Errorf("%w: nothing to combine", psbt.ErrMalformed)
	}
	var w *Wallet
	var err error
	for _, p := range ps {
		if w, err = c.WalletFor(ctx, walletName, p); err == nil {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	// Every copy's signatures are verified in the background while the
	// first vet derives the wallet's keys (psbt.Memo.VerifyAhead).
	for _, p := range ps {
		w.memo.VerifyAhead(p)
	}
	// Each copy is vetted on its own first, so that a manipulated copy is
	// refused for what was done to it, not for the disagreement it causes.
	for i, p := range ps {
		if _, _, _, err := c.vet(ctx, w, p, opts); err != nil {
			if len(ps) > 1 {
				err = fmt.Errorf("PSBT %d of %d: %w", i+1, len(ps), err)
			}
			return nil, err
		}
	}
	out, resolved, err := psbt.CombineReport(ps, w.Info())
	if err != nil {
		return nil, err
	}
	// The copies are spent: dropped here (the caller's slice is cleared),
	// their megabytes can be reused by what follows instead of the heap
	// growing into new pages.
	clear(ps)
	if _, err := c.update(ctx, w, out); err != nil {
		return nil, err
	}
	// The combiner verified every signature; the gate asks again (the
	// memo answers) and its report is the result's.
	rep, err := c.gate(ctx, w, out, true, opts)
	if err != nil {
		return nil, err
	}
	if _, err := c.saveDraftSigned(ctx, w, out, wallet.StateSigned, &wallet.DraftEvent{Step: "combine"}, rep); err != nil {
		return nil, err
	}
	to, err := c.successorOutputs(ctx, w, rep)
	if err != nil {
		return nil, err
	}
	return &Combined{Wallet: w, PSBT: out, Report: rep, Resolved: resolved, ToSuccessor: to}, nil
}

// Finalized is a PSBT with every input finalized and its network
// transaction.
type Finalized struct {
	Wallet *Wallet
	PSBT   *bpsbt.Packet
	Tx     *wire.MsgTx
}

// Finalize builds the final scriptSig and witness of every input (once
// enough cosigners have signed), executes every input's script against its
// previous output, and records the result. p is the caller's no longer:
// it is completed and finalized in place (a sweep's copy would be
// megabytes); the result is Finalized.PSBT.
func (c *Coordinator) Finalize(ctx context.Context, walletName string, p *bpsbt.Packet, opts GateOptions) (*Finalized, error) {
	w, err := c.WalletFor(ctx, walletName, p)
	if err != nil {
		return nil, err
	}
	// Every signature present is verified, not only those the finalizer
	// picks: one that is not valid means the PSBT was changed on its way.
	// They are verified in the background while the update derives the
	// wallet's keys (psbt.Memo.VerifyAhead).
	w.memo.VerifyAhead(p)
	p, _, rep, err := c.vetOwned(ctx, w, p, opts)
	if err != nil {
		return nil, err
	}
	notes, err := c.enforcePolicy(ctx, w, p, rep, StepFinalize, opts)
	if err != nil {
		return nil, err
	}
	// FinalizePacket has executed every input's script against its
	// prevout; extracting again would run them twice.
	if err := psbt.FinalizePacket(p, w.Info()); err != nil {
		return nil, err
	}
	tx, err := bpsbt.Extract(p)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", psbt.ErrMalformed, err)
	}
	if _, err := c.saveDraft(ctx, w, p, wallet.StateFinalized, &wallet.DraftEvent{Step: StepFinalize, Notes: notes}); err != nil {
		return nil, err
	}
	return &Finalized{Wallet: w, PSBT: p, Tx: tx}, nil
}

// Broadcasted is a transaction sent.
type Broadcasted struct {
	Wallet *Wallet
	TxID   chainhash.Hash
	Tx     *wire.MsgTx
}

// Broadcast sends a finalized PSBT or a raw transaction (hex) through the
// wallet's backend after the gate: every input spends a coin of the
// wallet with its amount proven, the wallet's outputs are within its gap,
// the fee is sane unless allowed. It records the broadcast: the coins it
// spends stop counting until the next sync confirms it. A broadcast that
// succeeded but could not be recorded is reported with its txid.
func (c *Coordinator) Broadcast(ctx context.Context, walletName string, data []byte, opts GateOptions) (*Broadcasted, error) {
	p, perr := psbt.Decode(data)
	if perr != nil {
		tx, err := decodeHexTx(data)
		if err != nil {
			return nil, err
		}
		if p, err = packetOf(tx); err != nil {
			return nil, fmt.Errorf("%w: %v", psbt.ErrMalformed, err)
		}
	}
	w, err := c.broadcastWallet(ctx, walletName, p)
	if err != nil {
		return nil, err
	}
	// The gate first, so that a refusal names what was done to the PSBT;
	// then every input's script runs against its previous output.
	if p, _, _, err = c.vet(ctx, w, p, opts); err != nil {
		return nil, err
	}
	tx, err := psbt.Extract(p)
	if err != nil {
		return nil, err
	}
	b, err := c.Backend(ctx, w)
	if err != nil {
		return nil, err
	}
	if w.Descriptor.IsMiniscript() {
		tip, _, err := b.Tip(ctx)
		if err != nil {
			return nil, err
		}
		if err := c.checkLocksOpen(ctx, w, tx, tip); err != nil {
			return nil, err
		}
	}
	txid, err := b.Broadcast(ctx, tx)
	if err != nil {
		return nil, err
	}
	if err := c.Store.MarkBroadcast(ctx, tx); err != nil && !isNotFound(err) {
		return &Broadcasted{Wallet: w, TxID: txid, Tx: tx}, fmt.Errorf("broadcast %s succeeded but recording it failed: %w", txid, err)
	}
	return &Broadcasted{Wallet: w, TxID: txid, Tx: tx}, nil
}

// broadcastWallet finds the wallet a final transaction spends from: the
// named one, or the one whose coins it spends.
func (c *Coordinator) broadcastWallet(ctx context.Context, walletName string, p *bpsbt.Packet) (*Wallet, error) {
	if walletName != "" {
		return c.Wallet(ctx, walletName)
	}
	ws, err := c.Store.Wallets(ctx)
	if err != nil {
		return nil, err
	}
	if len(ws) == 1 {
		return loaded(ws[0])
	}
	found, err := c.walletsSpentBy(ctx, ws, p)
	if err != nil {
		return nil, err
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return nil, fmt.Errorf("%w: no stored wallet owns an input of this transaction: name the wallet with --wallet", wallet.ErrInvalid)
	}
	return nil, fmt.Errorf("%w: several wallets own inputs of this transaction: name one with --wallet", wallet.ErrInvalid)
}

// decodeHexTx reads a raw transaction in hex.
func decodeHexTx(data []byte) (*wire.MsgTx, error) {
	raw, err := hexDecode(bytes.TrimSpace(data))
	if err != nil {
		return nil, fmt.Errorf("%w: neither a PSBT nor a hex transaction", psbt.ErrMalformed)
	}
	tx := &wire.MsgTx{}
	if err := tx.Deserialize(bytes.NewReader(raw)); err != nil {
		return nil, fmt.Errorf("%w: transaction does not decode: %v", psbt.ErrMalformed, err)
	}
	return tx, nil
}

func hexDecode(b []byte) ([]byte, error) {
	out := make([]byte, hex.DecodedLen(len(b)))
	n, err := hex.Decode(out, b)
	return out[:n], err
}

// VSize is a transaction's virtual size in vbytes (BIP-141).
func VSize(tx *wire.MsgTx) int64 {
	w := int64(tx.SerializeSizeStripped())*3 + int64(tx.SerializeSize())
	return (w + 3) / 4
}
