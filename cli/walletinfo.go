package cli

import (
	"context"
	"encoding/hex"
	"fmt"

	"github.com/btcsuite/btcd/chaincfg"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/descriptor/formats"
	"github.com/countersign/countersign/wallet"
)

// loaded is a stored wallet with its descriptor parsed and network resolved.
type loaded struct {
	W   *wallet.Wallet
	D   *descriptor.Descriptor
	Net *chaincfg.Params
}

// loadWallet reads name from the store and parses what it holds. A stored
// descriptor that no longer parses is a corrupted store, reported as such.
func loadWallet(ctx context.Context, s *wallet.Store, name string) (*loaded, error) {
	w, err := s.Wallet(ctx, name)
	if err != nil {
		return nil, err
	}
	d, err := descriptor.Parse(w.Descriptor)
	if err != nil {
		return nil, fmt.Errorf("wallet %q: stored descriptor does not parse (%v); the store may be damaged", name, err)
	}
	net, err := descriptor.NetworkParams(w.Network)
	if err != nil {
		return nil, fmt.Errorf("wallet %q: stored network %q: %v", name, w.Network, err)
	}
	return &loaded{W: w, D: d, Net: net}, nil
}

// formatsWallet is the portable view of a stored wallet for export.
func (l *loaded) formatsWallet() *formats.Wallet {
	return &formats.Wallet{
		Name:        l.W.Name,
		Descriptor:  l.D,
		Network:     l.Net,
		Labels:      append([]string(nil), l.W.Labels...),
		BirthHeight: l.W.BirthHeight,
	}
}

// newStoredWallet turns a validated descriptor into the store's record.
// It refuses private keys: countersign stores public descriptors only.
func newStoredWallet(name string, d *descriptor.Descriptor, net *chaincfg.Params, labels []string, birth int32) (*wallet.Wallet, error) {
	if d.HasPrivate() {
		return nil, fmt.Errorf("%w: the descriptor contains private keys; countersign stores only public keys (use the xpubs, and `countersign key import` for a key you sign with)", descriptor.ErrInvalid)
	}
	if !d.IsRange() {
		return nil, fmt.Errorf("%w: a wallet descriptor needs ranged keys (xpub.../<0;1>/*), not fixed public keys", descriptor.ErrInvalid)
	}
	if err := d.CheckNetwork(net); err != nil {
		return nil, err
	}
	wd := d.Multipath()
	if wd.Branches() != 2 {
		return nil, fmt.Errorf("%w: a wallet descriptor needs a receive and a change branch (/<0;1>/*); got %d branch(es)", descriptor.ErrInvalid, wd.Branches())
	}
	n := wd.N()
	lbls := make([]string, n)
	copy(lbls, labels)
	fprs := make([]string, n)
	for i, k := range wd.Keys {
		if k.Origin != nil {
			fprs[i] = hex.EncodeToString(k.Origin.Fingerprint[:])
		}
	}
	return &wallet.Wallet{
		Name:         name,
		Descriptor:   wd.String(),
		Network:      descriptor.NetworkName(net),
		Script:       wd.Script.String(),
		Threshold:    wd.Threshold,
		N:            n,
		Labels:       lbls,
		Fingerprints: fprs,
		BirthHeight:  birth,
	}, nil
}
