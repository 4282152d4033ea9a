package formats

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/btcsuite/btcd/chaincfg"

	"github.com/countersign/countersign/descriptor"
)

// caravanUnknownPath is what Caravan writes as bip32Path when it does not
// know where a cosigner's xpub comes from.
const caravanUnknownPath = "Unknown"

// caravanConfig is Caravan's wallet configuration (apps/coordinator in
// caravan-bitcoin/caravan). Fields Caravan adds for its own use (uuid,
// ledgerPolicyHmacs, client URLs) are ignored on import.
type caravanConfig struct {
	Name                 string         `json:"name"`
	AddressType          string         `json:"addressType"`
	Network              string         `json:"network"`
	Client               *caravanClient `json:"client,omitempty"`
	Quorum               *caravanQuorum `json:"quorum"`
	ExtendedPublicKeys   []caravanKey   `json:"extendedPublicKeys"`
	StartingAddressIndex int            `json:"startingAddressIndex"`
}

type caravanClient struct {
	Type string `json:"type"`
}

type caravanQuorum struct {
	RequiredSigners int `json:"requiredSigners"`
	TotalSigners    int `json:"totalSigners"`
}

type caravanKey struct {
	Name      string `json:"name"`
	BIP32Path string `json:"bip32Path"`
	XPub      string `json:"xpub"`
	XFP       string `json:"xfp,omitempty"`
}

func caravanAddressType(t descriptor.ScriptType) string {
	switch t {
	case descriptor.ScriptWsh:
		return "P2WSH"
	case descriptor.ScriptShWsh:
		return "P2SH-P2WSH"
	}
	return "P2SH"
}

// exportCaravan writes a configuration for Caravan's "public" client
// (addresses looked up on a public block explorer), starting at address 0.
func exportCaravan(w *Wallet, d *descriptor.Descriptor) ([]byte, error) {
	const instead = `export it as "descriptor" or "bsms" instead`
	if d.IsMiniscript() {
		return nil, invalidf("Caravan wallets are m-of-n sortedmulti only and this wallet has time-locked miniscript paths: %s", instead)
	}
	if err := refuseTaproot("Caravan", d); err != nil {
		return nil, err
	}
	if !d.Sorted {
		return nil, invalidf("Caravan wallets are always sortedmulti (BIP-67 key order) and this wallet is multi with a fixed key order, so Caravan would show different addresses: %s", instead)
	}
	cfg := caravanConfig{
		Name:        w.Name,
		AddressType: caravanAddressType(d.Script),
		Network:     descriptor.NetworkName(w.Network),
		Client:      &caravanClient{Type: "public"},
		Quorum:      &caravanQuorum{RequiredSigners: d.Threshold, TotalSigners: d.N()},
	}
	labels := fullLabels(w.Labels, d.N())
	for i, k := range d.Keys {
		if !isReceiveChangeKey(k) {
			return nil, invalidf("key %d is %s; Caravan derives every cosigner's xpub at /0/* and /1/*, so each key must end in /<0;1>/*: %s", i+1, k.String(), instead)
		}
		ck := caravanKey{Name: labels[i], BIP32Path: caravanUnknownPath, XPub: k.XPub.String()}
		if k.Origin != nil {
			ck.BIP32Path = descriptor.Path(k.Origin.Path).Apostrophe()
			ck.XFP = hex.EncodeToString(k.Origin.Fingerprint[:])
		}
		cfg.ExtendedPublicKeys = append(cfg.ExtendedPublicKeys, ck)
	}
	out, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode Caravan JSON: %w", err)
	}
	return append(out, '\n'), nil
}

// importCaravan reads a Caravan configuration. Keys without a fingerprint
// or with an "Unknown" path get no origin (see the package documentation).
// startingAddressIndex only tells Caravan where to start showing addresses;
// the wallet is the same, so it is not kept.
func importCaravan(text string, defaultNet *chaincfg.Params) (*Wallet, error) {
	var cfg caravanConfig
	if err := json.Unmarshal([]byte(text), &cfg); err != nil {
		return nil, invalidf("Caravan JSON: %v", err)
	}
	script, err := caravanScript(cfg.AddressType)
	if err != nil {
		return nil, invalidf("%v", err)
	}
	n := len(cfg.ExtendedPublicKeys)
	switch q := cfg.Quorum; {
	case q == nil:
		return nil, invalidf("the configuration has no quorum: add {\"requiredSigners\": M, \"totalSigners\": N}")
	case n == 0:
		return nil, invalidf("the configuration lists no extendedPublicKeys")
	case q.TotalSigners != n:
		return nil, invalidf("quorum.totalSigners is %d but %d extendedPublicKeys are listed: the configuration is incomplete or edited", q.TotalSigners, n)
	case q.RequiredSigners > n:
		return nil, invalidf("quorum.requiredSigners is %d but there are only %d keys: the threshold cannot exceed the number of keys", q.RequiredSigners, n)
	case q.RequiredSigners < 1:
		return nil, invalidf("quorum.requiredSigners is %d: a wallet needs at least 1 signature", q.RequiredSigners)
	}
	keys := make([]descriptor.Key, n)
	labels := make([]string, n)
	for i, ck := range cfg.ExtendedPublicKeys {
		if keys[i], err = caravanParseKey(ck); err != nil {
			return nil, wrapInvalid(fmt.Sprintf("extendedPublicKeys[%d] (%q)", i, ck.Name), err)
		}
		labels[i] = ck.Name
	}
	d, err := buildSortedMulti(script, cfg.Quorum.RequiredSigners, keys)
	if err != nil {
		return nil, err
	}
	net, err := caravanNetwork(cfg.Network, d, defaultNet)
	if err != nil {
		return nil, err
	}
	return newWallet(cfg.Name, d, net, labels, 0), nil
}

func caravanScript(v string) (descriptor.ScriptType, error) {
	switch strings.ToUpper(strings.TrimSpace(v)) {
	case "P2WSH":
		return descriptor.ScriptWsh, nil
	case "P2SH-P2WSH", "P2WSH-P2SH":
		return descriptor.ScriptShWsh, nil
	case "P2SH":
		return descriptor.ScriptSh, nil
	case "":
		return 0, fmt.Errorf("the configuration has no addressType: add P2WSH, P2SH-P2WSH or P2SH")
	}
	return 0, fmt.Errorf("addressType %q is not P2WSH, P2SH-P2WSH or P2SH", v)
}

// caravanParseKey turns one extendedPublicKeys entry into a wallet key.
func caravanParseKey(ck caravanKey) (descriptor.Key, error) {
	bare, err := descriptor.ParseKey(strings.TrimSpace(ck.XPub))
	if err != nil {
		return descriptor.Key{}, err
	}
	switch {
	case bare.Private:
		return descriptor.Key{}, fmt.Errorf("xpub holds a private key: a wallet configuration must hold only xpubs; delete this file and export the xpub again")
	case bare.XPub == nil:
		return descriptor.Key{}, fmt.Errorf("xpub is a plain public key; Caravan lists extended public keys (xpub/tpub)")
	case bare.Origin != nil || len(bare.Path) > 0 || bare.Wildcard:
		return descriptor.Key{}, fmt.Errorf("xpub is a key expression; write the bare xpub, with the path in bip32Path")
	}
	origin, err := caravanOrigin(ck, int(bare.XPub.Depth()))
	if err != nil {
		return descriptor.Key{}, err
	}
	return descriptor.ParseKey(walletKeyExpr(origin, bare.XPub.String()))
}

// caravanOrigin reads xfp and bip32Path. A descriptor origin needs both, so
// when either is unknown there is none.
func caravanOrigin(ck caravanKey, depth int) (*descriptor.Origin, error) {
	xfp, path := strings.TrimSpace(ck.XFP), strings.TrimSpace(ck.BIP32Path)
	if xfp == "" || strings.EqualFold(xfp, "unknown") || path == "" || strings.EqualFold(path, caravanUnknownPath) {
		if xfp != "" && !strings.EqualFold(xfp, "unknown") {
			if _, err := parseFingerprint(xfp); err != nil {
				return nil, fmt.Errorf("xfp: %v", err)
			}
		}
		return nil, nil
	}
	fp, err := parseFingerprint(xfp)
	if err != nil {
		return nil, fmt.Errorf("xfp: %v", err)
	}
	p, err := descriptor.ParsePath(path)
	if err != nil {
		return nil, fmt.Errorf("bip32Path: %v", err)
	}
	if len(p) != depth {
		return nil, fmt.Errorf("bip32Path %s has %d steps but the xpub is at depth %d, so the path does not lead to this key: correct it, or write \"Unknown\"",
			path, len(p), depth)
	}
	return &descriptor.Origin{Fingerprint: fp, Path: p}, nil
}

// caravanNetwork uses the configuration's network and checks the keys
// belong to it; only a configuration without one falls back to the keys.
func caravanNetwork(name string, d *descriptor.Descriptor, defaultNet *chaincfg.Params) (*chaincfg.Params, error) {
	if strings.TrimSpace(name) == "" {
		return networkFromKeys(d, defaultNet)
	}
	net, err := descriptor.NetworkParams(name)
	if err != nil {
		return nil, err
	}
	if err := d.CheckNetwork(net); err != nil {
		return nil, wrapInvalid(fmt.Sprintf("the configuration says network %q but its keys do not match", name), err)
	}
	return net, nil
}
