package coordinator

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/descriptor/formats"
	"github.com/countersign/countersign/hw"
	"github.com/countersign/countersign/psbt"
	"github.com/countersign/countersign/wallet"
)

// Wallet is a stored wallet with its descriptor parsed and its network
// resolved.
type Wallet struct {
	*wallet.Wallet
	Descriptor *descriptor.Descriptor
	Network    *chaincfg.Params

	memo *psbt.Memo // the coordinator's (see Coordinator.memo); nil: none
}

// Info is what the psbt package needs to know about the wallet.
func (w *Wallet) Info() psbt.WalletInfo {
	return psbt.WalletInfo{Descriptor: w.Descriptor, Network: w.Network, Labels: w.Labels, Memo: w.memo}
}

// Portable is the wallet as the import/export formats see it.
func (w *Wallet) Portable() *formats.Wallet {
	return &formats.Wallet{
		Name:        w.Name,
		Descriptor:  w.Descriptor,
		Network:     w.Network,
		Labels:      append([]string(nil), w.Labels...),
		BirthHeight: w.BirthHeight,
	}
}

// signing is what a signer is told about the wallet, with its stored
// registration token for that signer.
func (w *Wallet) signing(token []byte) *hw.Wallet {
	return &hw.Wallet{Name: w.Name, Descriptor: w.Descriptor, Network: w.Network, Token: token}
}

// BackendStatus is what CheckBackend learned.
type BackendStatus struct {
	URL     string
	Network *chaincfg.Params
	Height  int32
	Tip     chainhash.Hash
	// Insecure is true when the backend is reached unencrypted over a
	// network, as --insecure or a URL saved with it allowed.
	Insecure bool
}

// Wallet loads a stored wallet. A stored descriptor that no longer parses
// is a damaged store, reported as such.
func (c *Coordinator) Wallet(ctx context.Context, name string) (*Wallet, error) {
	rec, err := c.Store.Wallet(ctx, name)
	if err != nil {
		return nil, err
	}
	w, err := loaded(rec)
	if err == nil {
		w.memo = c.memo()
	}
	return w, err
}

func loaded(rec *wallet.Wallet) (*Wallet, error) {
	d, err := descriptor.Parse(rec.Descriptor)
	if err != nil {
		return nil, fmt.Errorf("wallet %q: stored descriptor does not parse (%v); the store may be damaged: %w", rec.Name, err, wallet.ErrInvalid)
	}
	net, err := descriptor.NetworkParams(rec.Network)
	if err != nil {
		return nil, fmt.Errorf("wallet %q: stored network %q: %v: %w", rec.Name, rec.Network, err, wallet.ErrInvalid)
	}
	return &Wallet{Wallet: rec, Descriptor: d, Network: net}, nil
}

// Wallets lists the stored wallets.
func (c *Coordinator) Wallets(ctx context.Context) ([]*wallet.Wallet, error) {
	return c.Store.Wallets(ctx)
}

// WalletFor finds the stored wallet a PSBT spends from: the named one; the
// only stored one; the only one whose cosigner fingerprints cover the
// first input's BIP-32 derivations; or the only one that derives an input's
// scripts. Detection verifies no signature: the workflow that follows does
// that once. Cosigners without a label are named after a local software
// key with the same fingerprint, so summaries say who signed.
func (c *Coordinator) WalletFor(ctx context.Context, name string, p *bpsbt.Packet) (*Wallet, error) {
	w, err := c.findWallet(ctx, name, p)
	if err != nil {
		return nil, err
	}
	c.fillLabels(w)
	w.memo = c.memo()
	return w, nil
}

// ErrNoWallet means no stored wallet recognises a PSBT.
var ErrNoWallet = fmt.Errorf("%w: no stored wallet recognises any input of this PSBT", psbt.ErrRefused)

// ErrNotThisWallet means a PSBT does not spend from the wallet named for
// it.
var ErrNotThisWallet = fmt.Errorf("%w: not this wallet's PSBT", psbt.ErrRefused)

// ErrAmbiguousWallet means several stored wallets recognise a PSBT.
var ErrAmbiguousWallet = fmt.Errorf("%w: several stored wallets recognise this PSBT", wallet.ErrInvalid)

func (c *Coordinator) findWallet(ctx context.Context, name string, p *bpsbt.Packet) (*Wallet, error) {
	if name != "" {
		w, err := c.Wallet(ctx, name)
		if err != nil {
			return nil, err
		}
		// A named wallet must be this PSBT's: otherwise a draft would be
		// saved under a wallet it does not belong to.
		if !psbt.Recognises(p, w.Info()) {
			spent, err := c.walletsSpentBy(ctx, []*wallet.Wallet{w.Wallet}, p)
			if err != nil {
				return nil, err
			}
			if len(spent) == 0 {
				return nil, fmt.Errorf("%w: the PSBT spends nothing of wallet %q (no input derives from it and none is one of its synced coins)", ErrNotThisWallet, name)
			}
		}
		return w, nil
	}
	ws, err := c.Store.Wallets(ctx)
	if err != nil {
		return nil, err
	}
	if len(ws) == 1 {
		return loaded(ws[0])
	}
	if want := derivationFingerprints(p); len(want) > 0 {
		var byFP []*wallet.Wallet
		for _, w := range ws {
			have := map[string]bool{}
			for _, fp := range w.Fingerprints {
				have[fp] = true
			}
			all := true
			for fp := range want {
				all = all && have[fp]
			}
			if all {
				byFP = append(byFP, w)
			}
		}
		if len(byFP) == 1 {
			return loaded(byFP[0])
		}
	}
	var found []*Wallet
	for _, rec := range ws {
		w, err := loaded(rec)
		if err != nil {
			continue
		}
		if psbt.Recognises(p, w.Info()) {
			found = append(found, w)
		}
	}
	if len(found) == 0 {
		// A PSBT another tool made may carry no derivations the wallet
		// can place: the coins it spends tell.
		if found, err = c.walletsSpentBy(ctx, ws, p); err != nil {
			return nil, err
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return nil, ErrNoWallet
	}
	names := make([]string, len(found))
	for i, w := range found {
		names[i] = w.Name
	}
	return nil, fmt.Errorf("%w (%s): name one with --wallet", ErrAmbiguousWallet, strings.Join(names, ", "))
}

// walletsSpentBy lists the stored wallets whose synced coins include an
// outpoint the PSBT spends.
func (c *Coordinator) walletsSpentBy(ctx context.Context, ws []*wallet.Wallet, p *bpsbt.Packet) ([]*Wallet, error) {
	spends := map[wire.OutPoint]bool{}
	for _, in := range p.UnsignedTx.TxIn {
		spends[in.PreviousOutPoint] = true
	}
	var out []*Wallet
	for _, rec := range ws {
		us, err := c.Store.UTXOs(ctx, rec.Name)
		if err != nil {
			return nil, err
		}
		for _, u := range us {
			if spends[u.OutPoint] {
				if w, err := loaded(rec); err == nil {
					out = append(out, w)
				}
				break
			}
		}
	}
	return out, nil
}

// derivationFingerprints collects the master fingerprints (hex) named by
// the first input's BIP-32 derivations.
func derivationFingerprints(p *bpsbt.Packet) map[string]bool {
	out := map[string]bool{}
	if len(p.Inputs) == 0 {
		return out
	}
	for _, d := range p.Inputs[0].Bip32Derivation {
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], d.MasterKeyFingerprint)
		out[hex.EncodeToString(b[:])] = true
	}
	return out
}

// fillLabels names cosigners that have no label after the local software
// key with the same fingerprint (a wallet recovered from a descriptor
// backup has no labels).
func (c *Coordinator) fillLabels(w *Wallet) {
	if c.LocalKeys == nil {
		return
	}
	keys, err := c.LocalKeys()
	if err != nil && len(keys) == 0 {
		return
	}
	byFP := map[[4]byte]string{}
	for _, k := range keys {
		byFP[k.Fingerprint] = "key " + k.Name
	}
	labels := make([]string, w.Descriptor.N())
	copy(labels, w.Labels)
	for i, k := range w.Descriptor.Cosigners() {
		if labels[i] == "" && k.Origin != nil {
			labels[i] = byFP[k.Origin.Fingerprint]
		}
	}
	w.Labels = labels
}

// Cosigner is one key of a new wallet.
type Cosigner struct {
	Label string
	Key   descriptor.Key
}

// ParseCosigner reads "[LABEL=]KEY" as users type it: KEY is an extended
// public key with or without its origin, with or without a derivation
// suffix (default /<0;1>/*). SLIP-132 keys are converted by the descriptor
// package.
func ParseCosigner(s string) (Cosigner, error) {
	s = strings.TrimSpace(s)
	var c Cosigner
	if eq := strings.IndexByte(s, '='); eq >= 0 {
		c.Label = strings.TrimSpace(s[:eq])
		s = strings.TrimSpace(s[eq+1:])
	}
	k, err := descriptor.ParseKey(s)
	if err != nil {
		return c, err
	}
	if k.XPub == nil {
		return c, fmt.Errorf("%w: an extended public key (xpub/tpub) is needed, not a plain public key", descriptor.ErrInvalid)
	}
	if len(k.Path) == 0 && !k.Wildcard {
		k.Path = []descriptor.PathElem{{Multi: []uint32{0, 1}}}
		k.Wildcard = true
	}
	c.Key = k
	return c, nil
}

// CreateRequest describes a new wallet: either Descriptor, or Script,
// Threshold and Cosigners.
type CreateRequest struct {
	Name       string
	Descriptor *descriptor.Descriptor
	Script     descriptor.ScriptType
	Threshold  int
	Cosigners  []Cosigner
	Sorted     bool
	NoKeyPath  bool // Script tr: no MuSig2 key path (descriptor.TaprootOptions)
	// LeafPerSubset (Script tr): one leaf per m-key subset.
	LeafPerSubset bool
	Network       *chaincfg.Params // nil: from the keys (xpub: mainnet, tpub: testnet)
	BirthHeight   int32
	// Recovery or Decay adds a time-locked path to the Threshold-of-
	// Cosigners wallet, making it a wsh(miniscript) (see timelock.go).
	// RecoveryCosigners are keys that sign on the recovery path only.
	Recovery, Decay   *Template
	RecoveryCosigners []Cosigner
}

// CreateResult is the new wallet, with warnings for the user.
type CreateResult struct {
	Wallet   *Wallet
	Warnings []string
}

// CreateWallet stores a new wallet.
func (c *Coordinator) CreateWallet(ctx context.Context, req CreateRequest) (*CreateResult, error) {
	d := req.Descriptor
	var labels []string
	if d == nil && (req.Recovery != nil || req.Decay != nil) {
		var err error
		if d, labels, err = timelockedDescriptor(req); err != nil {
			return nil, err
		}
	} else if len(req.RecoveryCosigners) > 0 {
		return nil, fmt.Errorf("%w: --recovery-cosigner keys sign only on a recovery path: add --recovery", descriptor.ErrInvalid)
	}
	if d == nil {
		keys := make([]descriptor.Key, len(req.Cosigners))
		labels = make([]string, len(req.Cosigners))
		for i, co := range req.Cosigners {
			keys[i], labels[i] = co.Key, co.Label
		}
		var err error
		if req.Script == descriptor.ScriptTr {
			d, err = descriptor.NewTaproot(req.Threshold, keys, descriptor.TaprootOptions{NoKeyPath: req.NoKeyPath, Unsorted: !req.Sorted, LeafPerSubset: req.LeafPerSubset})
		} else {
			d, err = descriptor.New(req.Script, req.Threshold, req.Sorted, keys)
		}
		if err != nil {
			return nil, err
		}
	}
	net, err := pickNetwork(req.Network, d)
	if err != nil {
		return nil, err
	}
	var warnings []string
	for i, k := range d.Cosigners() {
		if k.Origin == nil {
			warnings = append(warnings, fmt.Sprintf("key %d has no origin ([fingerprint/path]); hardware signers may not recognise it as theirs", i+1))
		}
	}
	rec, err := newRecord(req.Name, d, net, labels, req.BirthHeight)
	if err != nil {
		return nil, err
	}
	if err := c.Store.CreateWallet(ctx, rec); err != nil {
		return nil, err
	}
	w, err := c.Wallet(ctx, req.Name)
	if err != nil {
		return nil, err
	}
	return &CreateResult{Wallet: w, Warnings: warnings}, nil
}

// pickNetwork resolves the wallet's network: the one asked for, which must
// fit the keys, or the keys' own (xpub: mainnet, tpub: testnet).
func pickNetwork(want *chaincfg.Params, d *descriptor.Descriptor) (*chaincfg.Params, error) {
	if want != nil {
		if err := d.CheckNetwork(want); err != nil {
			return nil, err
		}
		return want, nil
	}
	if d.IsMainnet() {
		return &chaincfg.MainNetParams, nil
	}
	return &chaincfg.TestNet3Params, nil
}

// newRecord turns a validated descriptor into the store's record. It
// refuses private keys: countersign stores public descriptors only.
func newRecord(name string, d *descriptor.Descriptor, net *chaincfg.Params, labels []string, birth int32) (*wallet.Wallet, error) {
	if d.HasPrivate() {
		return nil, fmt.Errorf("%w: the descriptor contains private keys; countersign stores only public keys (use the xpubs, and `countersign key import` for a key you sign with)", descriptor.ErrInvalid)
	}
	if !d.IsRange() {
		return nil, fmt.Errorf("%w: a wallet descriptor needs ranged keys (xpub.../<0;1>/*), not fixed public keys", descriptor.ErrInvalid)
	}
	if err := d.CheckNetwork(net); err != nil {
		return nil, err
	}
	if err := checkTaprootWallet(d); err != nil {
		return nil, err
	}
	wd := d.Multipath()
	if wd.Branches() != 2 {
		return nil, fmt.Errorf("%w: a wallet descriptor needs a receive and a change branch (/<0;1>/*); got %d branch(es)", descriptor.ErrInvalid, wd.Branches())
	}
	// A descriptor can parse and still not derive (a hardened step after an
	// xpub): find out before anything is stored, not when the wallet is
	// first shown.
	for branch := uint32(0); branch < 2; branch++ {
		if _, err := wd.Derive(branch, 0, net); err != nil {
			return nil, fmt.Errorf("%w: the wallet cannot derive its first %s address: %v", descriptor.ErrInvalid, [2]string{"receive", "change"}[branch], err)
		}
	}
	if err := distinctFingerprints(wd); err != nil {
		return nil, err
	}
	n := wd.N()
	lbls := make([]string, n)
	copy(lbls, labels)
	fprs := make([]string, n)
	for i, k := range wd.Cosigners() {
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

// distinctFingerprints refuses two different keys that claim one master
// fingerprint. A fingerprint names one seed: either one device would hold
// two of the wallet's keys (so the threshold is not what it says), or an
// origin was mistyped and that key's device will not recognise the wallet
// as its own (Coldcard refuses to register it).
func distinctFingerprints(d *descriptor.Descriptor) error {
	seen := map[[4]byte]int{}
	for i, k := range d.Cosigners() {
		if k.Origin == nil {
			continue
		}
		j, dup := seen[k.Origin.Fingerprint]
		if !dup {
			seen[k.Origin.Fingerprint] = i
			continue
		}
		if sameAccount(d.Keys[j], k) {
			// A miniscript wallet's recovery path may use another key of
			// a cosigner's account (/<2;3>/* next to /<0;1>/*): one seed,
			// one person, on two paths.
			continue
		}
		return fmt.Errorf("%w: keys %d and %d are different xpubs but both claim master fingerprint %x: one seed would hold two of the wallet's keys, or an origin is mistyped; get each cosigner's key again from its device",
			descriptor.ErrInvalid, j+1, i+1, k.Origin.Fingerprint)
	}
	return nil
}

// sameAccount reports whether two keys are the same extended key with the
// same origin, differing only in the steps after it.
func sameAccount(a, b descriptor.Key) bool {
	if a.XPub == nil || b.XPub == nil || a.Origin == nil || b.Origin == nil {
		return false
	}
	return a.XPub.String() == b.XPub.String() && slices.Equal(a.Origin.Path, b.Origin.Path)
}

// CosignerFromSigner reads a signer's multisig key at the standard path for
// the script type (descriptor.MultisigPath) and returns it as a cosigner,
// labelled after the signer.
func (c *Coordinator) CosignerFromSigner(ctx context.Context, s *hw.Signer, script descriptor.ScriptType, net *chaincfg.Params, account uint32) (Cosigner, descriptor.Path, error) {
	path, err := descriptor.MultisigPath(net, script, account)
	if err != nil {
		return Cosigner{}, nil, err
	}
	k, err := s.KeyExpression(ctx, path)
	if err != nil {
		return Cosigner{}, nil, err
	}
	k.Path = []descriptor.PathElem{{Multi: []uint32{0, 1}}}
	k.Wildcard = true
	info := s.Info()
	label := info.Type + "-" + hex.EncodeToString(k.Origin.Fingerprint[:])
	if info.Type == "key" {
		label = info.Path // the software key's name
	}
	return Cosigner{Label: label, Key: k}, path, nil
}

// ImportRequest is a wallet file to import.
type ImportRequest struct {
	Name    string
	Data    []byte
	Network *chaincfg.Params // nil: what the file says, testnet for tpub files that do not say
	// BSMSTokens decrypt an encrypted BIP-129 descriptor record (.dat):
	// the first that opens it is used. Plain files ignore them.
	BSMSTokens []string
}

// ImportResult is the imported wallet and the format it came in.
type ImportResult struct {
	Wallet *Wallet
	Format formats.Format
}

// ImportWallet stores a wallet from a file in any supported format. Nothing
// is stored unless the whole wallet is valid.
func (c *Coordinator) ImportWallet(ctx context.Context, req ImportRequest) (*ImportResult, error) {
	defNet := &chaincfg.TestNet3Params
	if req.Network != nil {
		defNet = req.Network
	}
	pw, format, err := importFile(req.Data, defNet, req.BSMSTokens)
	if err != nil {
		return nil, err
	}
	if req.Network != nil && pw.Network.Name != req.Network.Name {
		// The file named its network and the user named another: refusing
		// is safer than guessing which one is wrong.
		return nil, fmt.Errorf("%w: the %s file is for %s but --network says %s", descriptor.ErrInvalid, format, descriptor.NetworkName(pw.Network), descriptor.NetworkName(req.Network))
	}
	rec, err := newRecord(req.Name, pw.Descriptor, pw.Network, pw.Labels, pw.BirthHeight)
	if err != nil {
		return nil, err
	}
	if _, err := loaded(rec); err != nil {
		return nil, err
	}
	rec.Source = "import: " + string(format)
	if err := c.Store.CreateWallet(ctx, rec); err != nil {
		return nil, err
	}
	w, err := c.Wallet(ctx, req.Name)
	if err != nil {
		return nil, err
	}
	return &ImportResult{Wallet: w, Format: format}, nil
}

// ExportWallet writes a stored wallet in a format.
func (c *Coordinator) ExportWallet(ctx context.Context, name string, f formats.Format) ([]byte, error) {
	w, err := c.Wallet(ctx, name)
	if err != nil {
		return nil, err
	}
	return formats.Export(w.Portable(), f)
}

// DeleteWallet removes a wallet and everything stored about it but the
// journal.
func (c *Coordinator) DeleteWallet(ctx context.Context, name string) error {
	return c.Store.DeleteWallet(ctx, name)
}

// isNotFound reports a missing wallet, draft or setting.
func isNotFound(err error) bool { return errors.Is(err, wallet.ErrNotFound) }

// checkTaprootWallet refuses a taproot descriptor whose coins countersign
// could receive but not spend: every spend must go through a MuSig2 key
// path or a script leaf (pk/multi_a), which is what psbt signs and
// finalizes. A single-key key path alone (tr(KEY), rawtr) is not signed.
func checkTaprootWallet(d *descriptor.Descriptor) error {
	if d.Tap == nil {
		return nil
	}
	if d.Tap.Raw {
		return fmt.Errorf("%w: rawtr() wallets are not supported: countersign spends taproot through a MuSig2 key path or script leaves; use tr(musig(...),...)", descriptor.ErrInvalid)
	}
	if d.Tap.Tree == nil && !d.Tap.Internal.IsMuSig() {
		return fmt.Errorf("%w: a tr() wallet with a single-key key path and no script leaf could receive but not spend here: countersign signs taproot key paths only as MuSig2; use tr(musig(...)) or add a multi_a leaf", descriptor.ErrInvalid)
	}
	return nil
}
