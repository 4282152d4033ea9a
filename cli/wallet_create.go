package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/wallet"
)

// WalletCreateOptions are the inputs of `wallet create`.
type WalletCreateOptions struct {
	IO         *Streams
	Store      func() (*wallet.Store, error)
	JSON       bool
	Name       string
	Threshold  int
	Cosigners  []string
	Script     string
	Network    string
	Descriptor string
	Unsorted   bool
	Birth      int32
	Devices    []string
	Account    uint32
	F          *Factory
	Prompter   Prompter
}

func newCmdWalletCreate(f *Factory, runF func(context.Context, *WalletCreateOptions) error) *cobra.Command {
	o := &WalletCreateOptions{IO: f.IO, Store: f.Store, F: f}
	cmd := &cobra.Command{
		Use:   "create NAME (--threshold M --cosigner KEY... | --descriptor DESC)",
		Short: "Create an m-of-n wallet from cosigner keys or a descriptor",
		Long: `Create an m-of-n multisig wallet and store it.

A cosigner KEY is an extended public key with its key origin, as hardware
wallets export it for BIP-48:

  [d34db33f/48h/0h/0h/2h]xpub6E...

optionally prefixed by a label ("alice=[d34db33f/48h/...]xpub...") and
optionally followed by a derivation suffix (default /<0;1>/*: receive and
change). SLIP-132 Zpub/Ypub/Vpub/Upub keys are accepted and converted. A key
without an origin works, but hardware signers need the origin to recognise
their key, so countersign warns about it.

The wallet is sortedmulti (BIP-67) unless --unsorted is given.`,
		Example: `  countersign wallet create treasury --threshold 2 \
      --cosigner "alice=[a1b2c3d4/48h/0h/0h/2h]xpub6E..." \
      --cosigner "bob=[0f056943/48h/0h/0h/2h]xpub6F..." \
      --cosigner "carol=[7bb026be/48h/0h/0h/2h]xpub6D..."
  countersign wallet create family --descriptor "wsh(sortedmulti(3,...))#checksum" --network testnet`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.JSON = f.Global.JSON
			o.Network = f.Global.Network
			if len(args) == 1 {
				o.Name = args[0]
			}
			n := len(o.Cosigners) + len(o.Devices)
			// A person at a terminal who gave no wallet flags is guided
			// through the setup; scripts (no terminal) never see a prompt.
			if o.Descriptor == "" && n == 0 && o.Threshold == 0 && f.IO.CanPrompt() {
				if o.Prompter == nil {
					o.Prompter = newLinePrompter(f.IO)
				}
				if err := walletCreateInteractive(c.Context(), f, o.Prompter, o); err != nil {
					return err
				}
				n = len(o.Cosigners)
			}
			if o.Name == "" {
				return usagef("give the wallet a NAME")
			}
			if o.Descriptor == "" && n == 0 {
				return usagef("give the cosigners with --threshold M and --cosigner KEY or --device SIGNER (repeat), or the whole wallet with --descriptor DESC")
			}
			if o.Descriptor != "" && (n > 0 || o.Threshold != 0) {
				return usagef("--descriptor already holds the threshold and keys: drop --threshold/--cosigner/--device")
			}
			if o.Descriptor == "" && o.Threshold == 0 {
				return usagef("--threshold M is required (how many of the %d cosigners must sign)", n)
			}
			if err := checkWalletName(o.Name); err != nil {
				return err
			}
			if runF != nil {
				return runF(c.Context(), o)
			}
			return walletCreateRun(c.Context(), o)
		},
	}
	fl := cmd.Flags()
	fl.IntVarP(&o.Threshold, "threshold", "m", 0, "signatures required (M of N)")
	fl.StringArrayVar(&o.Cosigners, "cosigner", nil, "cosigner key [LABEL=][fpr/path]xpub[/<0;1>/*] (repeat for each)")
	fl.StringVar(&o.Script, "script", "wsh", "script type: wsh (native segwit), sh-wsh (nested segwit) or sh (legacy)")
	fl.StringVar(&o.Descriptor, "descriptor", "", "the whole wallet as an output descriptor")
	fl.BoolVar(&o.Unsorted, "unsorted", false, "use multi() with the keys in the given order instead of sortedmulti()")
	fl.Int32Var(&o.Birth, "birth-height", 0, "first block height that can hold the wallet's coins (speeds up rescans)")
	fl.StringArrayVar(&o.Devices, "device", nil, "collect a cosigner's BIP-48 key from a signer: coldcard[:FPR], key:NAME, ... (repeat)")
	fl.Uint32Var(&o.Account, "account", 0, "BIP-48 account number for keys read with --device")
	return cmd
}

// checkWalletName keeps names usable in file names and device screens.
func checkWalletName(name string) error {
	if name == "" || len(name) > 64 {
		return usagef("wallet name must be 1 to 64 characters")
	}
	for _, r := range name {
		if !(r == '-' || r == '_' || r == '.' || r == ' ' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return usagef("wallet name %q: use letters, digits, space, '.', '_' or '-'", name)
		}
	}
	return nil
}

func walletCreateRun(ctx context.Context, o *WalletCreateOptions) error {
	var (
		d      *descriptor.Descriptor
		labels []string
		err    error
	)
	if o.Descriptor != "" {
		d, err = descriptor.Parse(strings.TrimSpace(o.Descriptor))
		if err != nil {
			return err
		}
	} else {
		cosigners := append([]string(nil), o.Cosigners...)
		for _, spec := range o.Devices {
			k, err := o.F.deviceCosigner(ctx, spec, o.Script, o.Network, o.Account)
			if err != nil {
				return err
			}
			cosigners = append(cosigners, k)
		}
		d, labels, err = descriptorFromCosigners(o.Script, o.Threshold, cosigners, !o.Unsorted)
		if err != nil {
			return err
		}
	}
	net, err := pickNetwork(o.Network, d)
	if err != nil {
		return err
	}
	for i, k := range d.Keys {
		if k.Origin == nil {
			fmt.Fprintf(o.IO.ErrOut, "warning: key %d has no origin ([fingerprint/path]); hardware signers may not recognise it as theirs\n", i+1)
		}
	}
	rec, err := newStoredWallet(o.Name, d, net, labels, o.Birth)
	if err != nil {
		return err
	}
	s, err := o.Store()
	if err != nil {
		return err
	}
	if err := s.CreateWallet(ctx, rec); err != nil {
		return err
	}
	l, err := loadWallet(ctx, s, o.Name)
	if err != nil {
		return err
	}
	return renderWalletShow(o.IO, o.JSON, l, nil)
}

// descriptorFromCosigners assembles the descriptor text from the flags and
// lets the descriptor package do all validation.
func descriptorFromCosigners(script string, m int, cosigners []string, sorted bool) (*descriptor.Descriptor, []string, error) {
	st, err := descriptor.ParseScriptType(script)
	if err != nil {
		return nil, nil, usagef("--script: %v", err)
	}
	labels := make([]string, len(cosigners))
	exprs := make([]string, len(cosigners))
	for i, c := range cosigners {
		c = strings.TrimSpace(c)
		if eq := strings.IndexByte(c, '='); eq >= 0 {
			labels[i] = strings.TrimSpace(c[:eq])
			c = strings.TrimSpace(c[eq+1:])
		}
		k, err := descriptor.ParseKey(c)
		if err != nil {
			return nil, nil, fmt.Errorf("cosigner %d: %w", i+1, err)
		}
		if k.XPub == nil {
			return nil, nil, fmt.Errorf("%w: cosigner %d: an extended public key (xpub/tpub) is needed, not a plain public key", descriptor.ErrInvalid, i+1)
		}
		if len(k.Path) == 0 && !k.Wildcard {
			c += "/<0;1>/*"
		}
		exprs[i] = c
	}
	fn := "sortedmulti"
	if !sorted {
		fn = "multi"
	}
	inner := fmt.Sprintf("%s(%d,%s)", fn, m, strings.Join(exprs, ","))
	var text string
	switch st {
	case descriptor.ScriptWsh:
		text = "wsh(" + inner + ")"
	case descriptor.ScriptShWsh:
		text = "sh(wsh(" + inner + "))"
	case descriptor.ScriptSh:
		text = "sh(" + inner + ")"
	}
	d, err := descriptor.Parse(text)
	if err != nil {
		return nil, nil, err
	}
	return d, labels, nil
}

// deviceCosigner reads a signer's multisig key at the standard path for the
// script type: BIP-48 m/48h/coin/account/script for segwit, m/45h for P2SH
// (what Coldcard and other signers use for legacy multisig).
func (f *Factory) deviceCosigner(ctx context.Context, spec, script, network string, account uint32) (string, error) {
	coin := uint32(1)
	if network == "" || network == "mainnet" {
		coin = 0
	}
	h := uint32(descriptor.HardenedKeyStart)
	var path []uint32
	switch script {
	case "wsh":
		path = []uint32{h + 48, h + coin, h + account, h + 2}
	case "sh-wsh":
		path = []uint32{h + 48, h + coin, h + account, h + 1}
	case "sh":
		path = []uint32{h + 45}
	default:
		return "", usagef("--script %q: use wsh, sh-wsh or sh", script)
	}
	s, name, err := f.openSigner(ctx, spec, SignerOptions{})
	if err != nil {
		return "", err
	}
	defer s.Close()
	expr, fp, _, err := originKey(ctx, s, path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	label := deviceType(spec) + "-" + fp
	if kind, arg, _ := strings.Cut(spec, ":"); kind == "key" {
		label = arg
	}
	fmt.Fprintf(f.IO.ErrOut, "Read %s key %s from %s\n", formatPath(path), expr[:strings.IndexByte(expr, ']')+1], name)
	return label + "=" + expr, nil
}
