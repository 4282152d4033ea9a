// Package coordinator is countersign's application layer: the workflows a
// coordinator of multisig wallets runs, each one a function over the store
// (wallet), the chain backend (chain) and the signers (hw), with the PSBT
// and descriptor rules below them (psbt, descriptor). The CLI parses flags,
// calls one of these and renders the result; it holds no Bitcoin logic.
//
// The workflows:
//
//   - wallets: create (from cosigner keys or signers), import, export,
//     load, and find the stored wallet a PSBT spends from;
//   - addresses: hand out the next receive address, show, verify on a
//     device;
//   - sync: scan the backend for the wallet's coins;
//   - spend: choose coins, build the PSBT, save the draft and reserve the
//     change index in one store transaction;
//   - sign: check, route to one signer, verify and merge what it returns,
//     record the draft;
//   - combine, finalize, broadcast;
//   - register: enrol a wallet on a device and keep its proof.
//
// Every workflow is testable without a node or a terminal: the backend is a
// function the caller supplies, signers are hw.Signer adapters over any
// hw.Device.
package coordinator

import (
	"context"
	"errors"

	"github.com/countersign/countersign/chain"
	"github.com/countersign/countersign/hw/soft"
	"github.com/countersign/countersign/wallet"
)

// Coordinator runs the workflows over one store.
type Coordinator struct {
	Store *wallet.Store

	// BackendOverride, when set, is the backend URL for every wallet (the
	// --backend flag). BackendDefault is used when neither the wallet nor
	// the store names one ($COUNTERSIGN_BACKEND).
	BackendOverride, BackendDefault string
	// OpenBackend opens a backend URL; chain.Open when nil. Tests put a
	// fake chain here.
	OpenBackend func(url string) (chain.Backend, error)

	// LocalKeys lists this computer's software keys, to name cosigners a
	// wallet has no label for; nil means none.
	LocalKeys func() ([]soft.KeyInfo, error)
}

// ErrNoBackend means no backend URL is configured anywhere. It is bad
// usage (exit 2): the fix is a flag or a setting.
var ErrNoBackend = errors.New("no chain backend configured")

// BackendURL resolves which backend a wallet uses: the override, then the
// wallet's saved URL, then the store's global one, then the default.
// walletName "" skips the wallet's own setting.
func (c *Coordinator) BackendURL(ctx context.Context, walletName string) (string, error) {
	if c.BackendOverride != "" {
		return c.BackendOverride, nil
	}
	if walletName != "" {
		w, err := c.Store.Wallet(ctx, walletName)
		if err != nil {
			return "", err
		}
		if w.Backend != "" {
			return w.Backend, nil
		}
	}
	v, err := c.Store.Setting(ctx, "", wallet.SettingBackend)
	if err == nil && v != "" {
		return v, nil
	}
	if err != nil && !errors.Is(err, wallet.ErrNotFound) {
		return "", err
	}
	if c.BackendDefault != "" {
		return c.BackendDefault, nil
	}
	return "", ErrNoBackend
}

// Backend opens the wallet's backend, with retries, and refuses one on
// another network than the wallet's.
func (c *Coordinator) Backend(ctx context.Context, w *Wallet) (chain.Backend, error) {
	url, err := c.BackendURL(ctx, w.Name)
	if err != nil {
		return nil, err
	}
	b, err := c.openBackend(url)
	if err != nil {
		return nil, err
	}
	b = chain.WithRetry(b)
	if err := chain.CheckNetwork(ctx, b, w.Network); err != nil {
		return nil, err
	}
	return b, nil
}

func (c *Coordinator) openBackend(url string) (chain.Backend, error) {
	if c.OpenBackend != nil {
		return c.OpenBackend(url)
	}
	return chain.Open(url)
}

// CheckBackend opens the backend a wallet (or, with walletName "", the
// store) uses and asks it for its network and tip.
func (c *Coordinator) CheckBackend(ctx context.Context, walletName string) (*BackendStatus, error) {
	url, err := c.BackendURL(ctx, walletName)
	if err != nil {
		return nil, err
	}
	b, err := c.openBackend(url)
	if err != nil {
		return nil, err
	}
	net, err := b.Network(ctx)
	if err != nil {
		return nil, err
	}
	if walletName != "" {
		w, err := c.Wallet(ctx, walletName)
		if err != nil {
			return nil, err
		}
		if err := chain.CheckNetwork(ctx, b, w.Network); err != nil {
			return nil, err
		}
	}
	h, hash, err := b.Tip(ctx)
	if err != nil {
		return nil, err
	}
	return &BackendStatus{URL: url, Network: net, Height: h, Tip: hash}, nil
}

// SetBackend saves a backend URL for one wallet, or for the store when
// walletName is "". The URL must parse.
func (c *Coordinator) SetBackend(ctx context.Context, walletName, url string) error {
	if _, err := chain.Open(url); err != nil {
		return err
	}
	if walletName != "" {
		return c.Store.SetWalletBackend(ctx, walletName, url)
	}
	return c.Store.SetSetting(ctx, "", wallet.SettingBackend, url)
}
