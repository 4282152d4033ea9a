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
//   - pending spends: list every draft with its state, show, abandon;
//   - fee bumping: replace a stuck spend (BIP-125 bump or cancel), or pay
//     for it with a child (CPFP);
//   - the audit journal: read, verify its hash chain, export, sign its
//     head with a cosigner's key;
//   - labels (BIP-329) and the spending policy;
//   - register: enrol a wallet on a device and keep its proof.
//
// Every workflow is testable without a node or a terminal: the backend is a
// function the caller supplies, signers are hw.Signer adapters over any
// hw.Device.
package coordinator

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/countersign/countersign/chain"
	"github.com/countersign/countersign/hw/soft"
	"github.com/countersign/countersign/psbt"
	"github.com/countersign/countersign/wallet"
)

// Coordinator runs the workflows over one store.
type Coordinator struct {
	Store *wallet.Store

	// BackendOverride, when set, is the backend URL for every wallet (the
	// --backend flag). BackendDefault is used when neither the wallet nor
	// the store names one ($COUNTERSIGN_BACKEND).
	BackendOverride, BackendDefault string
	// OpenBackend opens a backend URL; chain.OpenWith when nil. Tests put
	// a fake chain here.
	OpenBackend func(url string, opt chain.OpenOptions) (chain.Backend, error)
	// Insecure allows, for this run, a backend URL that sends credentials
	// or the wallet's addresses unencrypted to another computer (the
	// --insecure flag). A saved URL can carry the same permission,
	// given when it was saved (SetBackend).
	Insecure bool

	// LocalKeys lists this computer's software keys, to name cosigners a
	// wallet has no label for; nil means none.
	LocalKeys func() ([]soft.KeyInfo, error)

	memoOnce sync.Once
	memoVal  *psbt.Memo // see memo
	// Now is the clock the spending policy's 24-hour window is read
	// against; time.Now when nil.
	Now func() time.Time
}

// ErrNoBackend means no backend URL is configured anywhere. It is bad
// usage (exit 2): the fix is a flag or a setting.
var ErrNoBackend = errors.New("no chain backend configured")

// settingInsecure is the setting (global, or of one wallet) that records
// `backend set --insecure`: its value is the saved backend URL it was
// given for, password hidden, so the permission ends when the URL is
// replaced by any means and never spreads to another URL.
const settingInsecure = "backend_insecure"

// BackendURL resolves which backend a wallet uses: the override, then the
// wallet's saved URL, then the store's global one, then the default.
// walletName "" skips the wallet's own setting.
func (c *Coordinator) BackendURL(ctx context.Context, walletName string) (string, error) {
	url, _, err := c.resolveBackend(ctx, walletName)
	return url, err
}

// resolveBackend is BackendURL and whether that URL may be sent in clear:
// with --insecure always, and for a saved URL when it was saved with
// --insecure.
func (c *Coordinator) resolveBackend(ctx context.Context, walletName string) (url string, insecure bool, err error) {
	if c.BackendOverride != "" {
		return c.BackendOverride, c.Insecure, nil
	}
	if walletName != "" {
		w, err := c.Store.Wallet(ctx, walletName)
		if err != nil {
			return "", false, err
		}
		if w.Backend != "" {
			ok, err := c.savedInsecure(ctx, walletName, w.Backend)
			return w.Backend, c.Insecure || ok, err
		}
	}
	v, err := c.Store.Setting(ctx, "", wallet.SettingBackend)
	if err == nil && v != "" {
		ok, err := c.savedInsecure(ctx, "", v)
		return v, c.Insecure || ok, err
	}
	if err != nil && !errors.Is(err, wallet.ErrNotFound) {
		return "", false, err
	}
	if c.BackendDefault != "" {
		return c.BackendDefault, c.Insecure, nil
	}
	return "", false, ErrNoBackend
}

// savedInsecure reports whether url, saved for walletName ("" globally),
// was saved with --insecure.
func (c *Coordinator) savedInsecure(ctx context.Context, walletName, url string) (bool, error) {
	v, err := c.Store.Setting(ctx, walletName, settingInsecure)
	if errors.Is(err, wallet.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return v == chain.Redact(url), nil
}

// Backend opens the wallet's backend, with retries, and refuses one on
// another network than the wallet's.
func (c *Coordinator) Backend(ctx context.Context, w *Wallet) (chain.Backend, error) {
	url, insecure, err := c.resolveBackend(ctx, w.Name)
	if err != nil {
		return nil, err
	}
	b, err := c.openBackend(url, insecure)
	if err != nil {
		return nil, err
	}
	b = chain.WithRetry(b)
	if err := chain.CheckNetwork(ctx, b, w.Network); err != nil {
		return nil, err
	}
	return b, nil
}

func (c *Coordinator) openBackend(url string, insecure bool) (chain.Backend, error) {
	opt := chain.OpenOptions{Insecure: insecure}
	if c.OpenBackend != nil {
		return c.OpenBackend(url, opt)
	}
	return chain.OpenWith(url, opt)
}

// CheckBackend opens the backend a wallet (or, with walletName "", the
// store) uses and asks it for its network and tip.
func (c *Coordinator) CheckBackend(ctx context.Context, walletName string) (*BackendStatus, error) {
	url, insecure, err := c.resolveBackend(ctx, walletName)
	if err != nil {
		return nil, err
	}
	b, err := c.openBackend(url, insecure)
	if err != nil {
		return nil, err
	}
	// The URL parsed when it was opened (a test's fake may take others).
	cleartext, _ := chain.Cleartext(url)
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
	return &BackendStatus{URL: url, Network: net, Height: h, Tip: hash, Insecure: cleartext}, nil
}

// SetBackend saves a backend URL for one wallet, or for the store when
// walletName is "". The URL must parse, and one that would send
// credentials or addresses unencrypted to another computer is refused
// (chain.ErrInsecure) unless insecure, which is then saved with it. It
// reports whether that permission was saved: only for a URL that needs it.
func (c *Coordinator) SetBackend(ctx context.Context, walletName, url string, insecure bool) (saved bool, err error) {
	if _, err := chain.OpenWith(url, chain.OpenOptions{Insecure: insecure}); err != nil {
		return false, err
	}
	cleartext, err := chain.Cleartext(url)
	if err != nil {
		return false, err
	}
	grant := ""
	if insecure && cleartext {
		grant = chain.Redact(url)
	}
	// The permission names the URL it is for, so the order of the two
	// writes cannot leave a permission on a URL it was not given for.
	if walletName != "" {
		err = c.Store.SetWalletBackend(ctx, walletName, url)
	} else {
		err = c.Store.SetSetting(ctx, "", wallet.SettingBackend, url)
	}
	if err != nil {
		return false, err
	}
	if err := c.Store.SetSetting(ctx, walletName, settingInsecure, grant); err != nil {
		return false, err
	}
	return grant != "", nil
}
