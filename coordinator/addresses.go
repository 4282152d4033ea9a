package coordinator

import (
	"context"
	"encoding/hex"
	"strings"
	"time"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/hw"
	"github.com/countersign/countersign/wallet"
)

// Address is one address of a wallet.
type Address struct {
	Branch       uint32 // 0 receive, 1 change
	Index        uint32
	Address      string
	ScriptPubKey []byte
	Label        string
	HandedOut    bool // recorded as given out by NextAddress
}

// NextAddress hands out the wallet's next unused receive address and
// records it with label; no two callers, in any process, get the same one.
func (c *Coordinator) NextAddress(ctx context.Context, name, label string) (*Address, error) {
	w, err := c.Wallet(ctx, name)
	if err != nil {
		return nil, err
	}
	var script []byte
	idx, addr, err := c.Store.NextAddress(ctx, name, 0, func(i uint32) (string, error) {
		d, err := w.Descriptor.Derive(0, i, w.Network)
		if err != nil {
			return "", err
		}
		script = d.ScriptPubKey
		return d.Address, nil
	}, label)
	if err != nil {
		return nil, err
	}
	return &Address{Branch: 0, Index: idx, Address: addr, ScriptPubKey: script, Label: label, HandedOut: true}, nil
}

// Addresses derives count addresses of a branch from index from; nothing is
// recorded.
func (c *Coordinator) Addresses(ctx context.Context, name string, branch, from, count uint32) ([]Address, error) {
	w, err := c.Wallet(ctx, name)
	if err != nil {
		return nil, err
	}
	ds, err := w.Descriptor.DeriveRange(branch, from, count, w.Network)
	if err != nil {
		return nil, err
	}
	out := make([]Address, len(ds))
	for i, d := range ds {
		out[i] = Address{Branch: branch, Index: d.Index, Address: d.Address, ScriptPubKey: d.ScriptPubKey}
	}
	return out, nil
}

// VerifyAddress shows the wallet's address at (branch, index) on a signer
// and checks that the device computed the same one (hw.ErrMismatch, a
// refusal, when not).
func (c *Coordinator) VerifyAddress(ctx context.Context, w *Wallet, s *hw.Signer, branch, index uint32) (string, error) {
	hw, err := c.signerWallet(ctx, w, s)
	if err != nil {
		return "", err
	}
	return s.DisplayAddress(ctx, hw, branch, index)
}

// signerWallet is the wallet as a signer is told about it, with the
// registration token stored for that signer's fingerprint.
func (c *Coordinator) signerWallet(ctx context.Context, w *Wallet, s *hw.Signer) (*hw.Wallet, error) {
	fp := s.Info().Fingerprint
	if fp == "" {
		return w.signing(nil), nil
	}
	regs, err := c.Store.Registrations(ctx, w.Name)
	if err != nil {
		return nil, err
	}
	for _, r := range regs {
		if strings.EqualFold(r.Fingerprint, fp) && len(r.Token) > 0 {
			return w.signing(r.Token), nil
		}
	}
	return w.signing(nil), nil
}

// RegisterResult is what RegisterOnDevice did.
type RegisterResult struct {
	Fingerprint string
	Recorded    bool // the registration is in the store (the signer has a fingerprint)
}

// RegisterOnDevice enrols the wallet on a signer (the device shows the
// policy for approval) and records the registration, with the device's
// proof where it gives one, in the store.
func (c *Coordinator) RegisterOnDevice(ctx context.Context, name string, s *hw.Signer) (*RegisterResult, error) {
	w, err := c.Wallet(ctx, name)
	if err != nil {
		return nil, err
	}
	token, err := s.Register(ctx, w.signing(nil))
	if err != nil {
		return nil, err
	}
	info := s.Info()
	if info.Fingerprint == "" {
		// A device that did not tell its fingerprint in the scan is asked,
		// so that its registration (and proof) is kept.
		if fp, err := s.Fingerprint(ctx); err == nil {
			info.Fingerprint = hex.EncodeToString(fp[:])
		}
	}
	res := &RegisterResult{Fingerprint: info.Fingerprint}
	if info.Fingerprint != "" {
		reg := &wallet.Registration{Fingerprint: info.Fingerprint, DeviceType: info.Type, NameOnDevice: w.Name, Token: token}
		if err := c.Store.SetRegistration(ctx, w.Name, reg); err != nil {
			return nil, err
		}
		res.Recorded = true
	}
	return res, nil
}

// WalletSummary is a wallet as `wallet show` presents it.
type WalletSummary struct {
	Wallet       *Wallet
	FirstAddress string
	Cosigners    []CosignerSummary
	// Paths are the wallet's spending paths in words; a miniscript
	// wallet's locked paths list each coin's opening height as of
	// SyncedHeight (the last sync; 0 when never synced).
	Paths        []PathSummary
	SyncedHeight int32
	// Rotation is the wallet's place in a key rotation, as stored (Summary
	// reads; retiring is the business of a sync); nil when it was never
	// part of one.
	Rotation *RotationSummary
}

// RotationSummary says what a key rotation made of a wallet.
type RotationSummary struct {
	// Status is "rotating" (a successor exists, the sweep has not
	// confirmed), "retired", or "" for a wallet that only succeeded
	// another.
	Status        string
	Successor     string // "" when the wallet was not rotated
	Predecessor   string // "" when the wallet succeeded none
	RetiredHeight int32  // 0 unless retired
}

// CosignerSummary is one key of a wallet with its registrations.
type CosignerSummary struct {
	Position      int // 1-based, descriptor order
	Label         string
	Fingerprint   string
	Path          string
	Xpub          string
	Registrations []wallet.Registration
	// Replaced is set when the wallet was rotated and the successor does
	// not have this key: it is the one rotated out (or removed).
	Replaced bool
}

// Summary describes a stored wallet: policy, cosigners, registrations,
// first address.
func (c *Coordinator) Summary(ctx context.Context, name string) (*WalletSummary, error) {
	w, err := c.Wallet(ctx, name)
	if err != nil {
		return nil, err
	}
	regs, err := c.Store.Registrations(ctx, name)
	if err != nil {
		return nil, err
	}
	sum, err := summarize(w, regs)
	if err != nil {
		return nil, err
	}
	var coins []wallet.UTXO
	var syncedAt time.Time
	if w.Descriptor.IsMiniscript() {
		if coins, err = c.Store.UTXOs(ctx, name); err != nil {
			return nil, err
		}
		st, err := c.Store.ScanState(ctx, name)
		if err != nil {
			return nil, err
		}
		sum.SyncedHeight, syncedAt = st.Height, st.SyncedAt
	}
	if sum.Paths, err = pathSummaries(ctx, c.clock(w), w, coins, sum.SyncedHeight, syncedAt); err != nil {
		return nil, err
	}
	if sum.Rotation, err = c.rotationSummary(ctx, sum); err != nil {
		return nil, err
	}
	return sum, nil
}

// rotationSummary reads sum's wallet's rotations and marks the keys its
// successor does not have.
func (c *Coordinator) rotationSummary(ctx context.Context, sum *WalletSummary) (*RotationSummary, error) {
	rs, err := c.Store.Rotations(ctx)
	if err != nil {
		return nil, err
	}
	var out *RotationSummary
	for _, r := range rs {
		switch sum.Wallet.Name {
		case r.Wallet:
			if out == nil {
				out = &RotationSummary{}
			}
			out.Successor, out.Status = r.Successor, "rotating"
			if r.Retired {
				out.Status, out.RetiredHeight = "retired", r.RetiredHeight
			}
		case r.Successor:
			if out == nil {
				out = &RotationSummary{}
			}
			out.Predecessor = r.Wallet
		}
	}
	if out == nil || out.Successor == "" {
		return out, nil
	}
	succ, err := c.Wallet(ctx, out.Successor)
	if err != nil {
		// A successor deleted since: the keys cannot be compared.
		if isNotFound(err) {
			return out, nil
		}
		return nil, err
	}
	gone := map[string]bool{}
	for _, fp := range rotatedOut(sum.Wallet, succ) {
		gone[fp] = true
	}
	for i := range sum.Cosigners {
		sum.Cosigners[i].Replaced = gone[sum.Cosigners[i].Fingerprint]
	}
	return out, nil
}

func summarize(w *Wallet, regs []wallet.Registration) (*WalletSummary, error) {
	first, err := w.Descriptor.Derive(0, 0, w.Network)
	if err != nil {
		return nil, err
	}
	out := &WalletSummary{Wallet: w, FirstAddress: first.Address}
	for i, k := range w.Descriptor.Cosigners() {
		cs := CosignerSummary{Position: i + 1}
		if i < len(w.Labels) {
			cs.Label = w.Labels[i]
		}
		if k.Origin != nil {
			cs.Fingerprint = hex.EncodeToString(k.Origin.Fingerprint[:])
			cs.Path = descriptor.Path(k.Origin.Path).String()
		}
		if k.XPub != nil {
			cs.Xpub = k.XPub.String()
		}
		for _, r := range regs {
			if cs.Fingerprint != "" && strings.EqualFold(r.Fingerprint, cs.Fingerprint) {
				cs.Registrations = append(cs.Registrations, r)
			}
		}
		out.Cosigners = append(out.Cosigners, cs)
	}
	return out, nil
}

// Balance is a wallet's balance as of its last sync.
type Balance struct {
	Confirmed, Unconfirmed int64
	SyncedHeight           int32
	SyncedAt               time.Time // zero: never synced
}

// Balance reads the wallet's balance as of the last sync.
func (c *Coordinator) Balance(ctx context.Context, name string) (*Balance, error) {
	if _, err := c.Store.Wallet(ctx, name); err != nil {
		return nil, err
	}
	conf, unconf, err := c.Store.Balance(ctx, name)
	if err != nil {
		return nil, err
	}
	st, err := c.Store.ScanState(ctx, name)
	if err != nil {
		return nil, err
	}
	return &Balance{Confirmed: conf, Unconfirmed: unconf, SyncedHeight: st.Height, SyncedAt: st.SyncedAt}, nil
}

// Coin is an unspent output of the wallet as of the last sync.
type Coin struct {
	wallet.UTXO
	Address       string
	Confirmations int32
	Label         string // the output's label (BIP-329), else its address's
}

// Coins lists the wallet's unspent outputs as of the last sync.
func (c *Coordinator) Coins(ctx context.Context, name string) ([]Coin, error) {
	w, err := c.Wallet(ctx, name)
	if err != nil {
		return nil, err
	}
	us, err := c.Store.UTXOs(ctx, name)
	if err != nil {
		return nil, err
	}
	st, err := c.Store.ScanState(ctx, name)
	if err != nil {
		return nil, err
	}
	idx, err := c.labelIndex(ctx, name)
	if err != nil {
		return nil, err
	}
	out := make([]Coin, 0, len(us))
	for _, u := range us {
		co := Coin{UTXO: u, Address: descriptor.ScriptAddress(u.PkScript, w.Network)}
		co.Label = idx.output(u.OutPoint, co.Address)
		if u.Height > 0 {
			co.Confirmations = st.Height - u.Height + 1
		}
		out = append(out, co)
	}
	return out, nil
}

// History lists the wallet's transactions as of the last sync.
func (c *Coordinator) History(ctx context.Context, name string) ([]wallet.Tx, error) {
	if _, err := c.Store.Wallet(ctx, name); err != nil {
		return nil, err
	}
	return c.Store.History(ctx, name)
}
