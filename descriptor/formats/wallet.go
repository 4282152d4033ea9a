package formats

import (
	"fmt"
	"slices"

	"github.com/btcsuite/btcd/chaincfg"

	"github.com/countersign/countersign/descriptor"
)

// checkWallet validates a wallet before export and returns its descriptor
// in the multipath wallet form.
func checkWallet(w *Wallet) (*descriptor.Descriptor, error) {
	switch {
	case w == nil:
		return nil, invalidf("no wallet given")
	case w.Descriptor == nil:
		return nil, invalidf("wallet %q has no descriptor", w.Name)
	case w.Network == nil:
		return nil, invalidf("wallet %q has no network: set mainnet, testnet, signet or regtest", w.Name)
	case w.BirthHeight < 0:
		return nil, invalidf("wallet %q has birth height %d: use 0 when it is unknown", w.Name, w.BirthHeight)
	}
	d := w.Descriptor.Multipath()
	if err := d.CheckNetwork(w.Network); err != nil {
		return nil, err
	}
	if len(w.Labels) != 0 && len(w.Labels) != d.N() {
		return nil, invalidf("wallet %q has %d key labels for %d keys: give one label per key, in descriptor order, or none",
			w.Name, len(w.Labels), d.N())
	}
	return d, nil
}

// selfCheck imports an export again and compares it with the wallet, so a
// writer bug can never hand a user a file that describes other addresses.
func selfCheck(c codec, f Format, w *Wallet, out []byte) error {
	back, err := c.imp(string(out), w.Network)
	if err != nil {
		return fmt.Errorf("export %s: the written file does not read back (%w); this is a bug in countersign, please report it", f, err)
	}
	var diff string
	switch {
	case !descriptor.Equal(back.Descriptor, w.Descriptor):
		diff = "descriptor " + back.Descriptor.String() + " instead of " + w.Descriptor.Multipath().String()
	case descriptor.NetworkName(back.Network) != descriptor.NetworkName(w.Network):
		diff = "network " + descriptor.NetworkName(back.Network) + " instead of " + descriptor.NetworkName(w.Network)
	case c.carriesName && back.Name != w.Name:
		diff = fmt.Sprintf("name %q instead of %q", back.Name, w.Name)
	case c.carriesLabels && !slices.Equal(back.Labels, fullLabels(w.Labels, back.Descriptor.N())):
		diff = fmt.Sprintf("labels %q instead of %q", back.Labels, w.Labels)
	case c.carriesBirth && back.BirthHeight != w.BirthHeight:
		diff = fmt.Sprintf("birth height %d instead of %d", back.BirthHeight, w.BirthHeight)
	}
	if diff != "" {
		return fmt.Errorf("export %s: the written file reads back with %s; this is a bug in countersign, please report it", f, diff)
	}
	return nil
}

// fullLabels returns one label per key: the given ones, or n empty strings
// when there are none, so every imported Wallet can be indexed by key.
func fullLabels(labels []string, n int) []string {
	if len(labels) == n {
		return slices.Clone(labels)
	}
	return make([]string, n)
}

// newWallet assembles an imported wallet in its multipath form, with one
// (possibly empty) label per key.
func newWallet(name string, d *descriptor.Descriptor, net *chaincfg.Params, labels []string, birth int32) *Wallet {
	m := d.Multipath()
	return &Wallet{Name: name, Descriptor: m, Network: net, Labels: fullLabels(labels, m.N()), BirthHeight: birth}
}

// networkFromKeys picks the network when only the keys say something about
// it: xpub keys are mainnet; tpub keys are defaultNet when that is a test
// network and testnet otherwise; plain public keys say nothing, so
// defaultNet (or mainnet) is used. Keys of both families are refused.
func networkFromKeys(d *descriptor.Descriptor, defaultNet *chaincfg.Params) (*chaincfg.Params, error) {
	mainOK := d.CheckNetwork(&chaincfg.MainNetParams) == nil
	testOK := d.CheckNetwork(&chaincfg.TestNet3Params) == nil
	switch {
	case !mainOK && !testOK:
		return nil, invalidf("the keys mix mainnet (xpub) and test-network (tpub) keys: every cosigner must use the same network")
	case mainOK && testOK:
		if defaultNet != nil {
			if err := d.CheckNetwork(defaultNet); err != nil {
				return nil, err
			}
			return defaultNet, nil
		}
		return &chaincfg.MainNetParams, nil
	case mainOK:
		return &chaincfg.MainNetParams, nil
	}
	if defaultNet != nil && d.CheckNetwork(defaultNet) == nil {
		return defaultNet, nil
	}
	return &chaincfg.TestNet3Params, nil
}

// parseDescriptor parses one descriptor and names it in the error.
func parseDescriptor(what, s string) (*descriptor.Descriptor, error) {
	d, err := descriptor.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return d, nil
}
