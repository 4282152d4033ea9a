package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/spf13/cobra"

	"github.com/countersign/countersign/coordinator"
	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/descriptor/formats"
	"github.com/countersign/countersign/hw"
)

// WalletCreateOptions are the inputs of `wallet create`.
type WalletCreateOptions struct {
	IO          *Streams
	Coordinator func() (*coordinator.Coordinator, error)
	Open        func(ctx context.Context, spec string, so SignerOptions) (*hw.Signer, error)
	JSON        bool
	Name        string
	Threshold   int
	Cosigners   []string
	Script      string
	Network     string
	Descriptor  string
	Unsorted    bool
	NoKeyPath   bool
	PerSubset   bool
	Birth       int32
	Devices     []string
	Account     uint32
	Prompter    Prompter
	// BSMSRecords are signers' BIP-129 key records (round 1), opened with
	// BSMSTokens and the tokens in BSMSTokenFiles.
	BSMSRecords, BSMSTokens, BSMSTokenFiles []string
	// Recovery and Decay add a time-locked path (a miniscript wallet);
	// RecoveryCosigners sign on the recovery path only.
	Recovery, Decay   string
	RecoveryCosigners []string
}

func newCmdWalletCreate(f *Factory, runF func(context.Context, *WalletCreateOptions) error) *cobra.Command {
	o := &WalletCreateOptions{IO: f.IO, Coordinator: f.Coordinator, Open: f.OpenSigner}
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

A cosigner may also come as a signer's BIP-129 (BSMS) key record, round 1
of a BSMS setup: --bsms-record FILE (repeat), plain (.bsms) or encrypted
(.dat) with the setup's token (--bsms-token TOKEN or --bsms-token-file
FILE; repeat for an EXTENDED setup, where each signer has its own). Each
record's signature is verified, its TOKEN must be the setup's, and its
description becomes the cosigner's label. Round 2 is
countersign wallet export NAME --format bsms --encrypt TOKEN.

The wallet is sortedmulti (BIP-67) unless --unsorted is given.

A time-locked path makes a miniscript wallet (wsh only; keys in the order
given, as multi()). --recovery "after N blocks: K of NAME,NAME" lets K of
the named cosigners spend a coin once it is N blocks old (1..65535, about
52560 a year), "at block H: ..." from block H+1 on; names are the labels of
--cosigner keys or of --recovery-cosigner keys, who sign on that path only
(a lawyer, an heir). A primary cosigner named there signs the recovery path
with a second key of the same account, /<2;3>/*. --decay "after N blocks:
threshold T" lets T of the cosigners spend after the lock. Spending a coin
resets its relative lock; wallet show lists when each coin's lock opens.`,
		Example: `  countersign wallet create treasury --threshold 2 \
      --cosigner "alice=[a1b2c3d4/48h/0h/0h/2h]xpub6E..." \
      --cosigner "bob=[0f056943/48h/0h/0h/2h]xpub6F..." \
      --cosigner "carol=[7bb026be/48h/0h/0h/2h]xpub6D..."
  countersign wallet create family --descriptor "wsh(sortedmulti(3,...))#checksum" --network testnet
  countersign wallet create family --threshold 2 --cosigner "alice=[...]tpub..." --cosigner "bob=..." --cosigner "carol=..." \
      --recovery-cosigner "lawyer=[...]tpub..." --recovery "after 52560 blocks: 1 of lawyer,alice"
  countersign wallet create vault --threshold 3 --cosigner ... (5 times) --decay "after 52560 blocks: threshold 2"
  countersign wallet create vault --threshold 2 --bsms-record alice.dat --bsms-record bob.dat --bsms-record carol.dat --bsms-token-file token.txt`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.JSON = f.Global.JSON
			o.Network = f.Global.Network
			if len(args) == 1 {
				o.Name = args[0]
			}
			n := len(o.Cosigners) + len(o.Devices) + len(o.BSMSRecords)
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
			if o.Descriptor != "" && (o.Recovery != "" || o.Decay != "" || len(o.RecoveryCosigners) > 0) {
				return usagef("--descriptor already holds every spending path: drop --recovery/--decay/--recovery-cosigner")
			}
			if o.Recovery != "" && o.Decay != "" {
				return usagef("give --recovery or --decay, not both")
			}
			if len(o.RecoveryCosigners) > 0 && o.Recovery == "" {
				return usagef("--recovery-cosigner keys sign only on a recovery path: add --recovery \"after N blocks: K of NAME,...\"")
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
	fl.StringVar(&o.Script, "script", "wsh", "script type: wsh (native segwit), sh-wsh (nested segwit), sh (legacy) or tr (taproot: MuSig2 key path of all keys, one sortedmulti_a leaf of M)")
	fl.BoolVar(&o.NoKeyPath, "no-key-path", false, "with --script tr: no MuSig2 key path (BIP-341 unspendable internal key), script leaf only")
	fl.BoolVar(&o.PerSubset, "leaf-per-subset", false, "with --script tr: one M-of-M leaf per set of M keys instead of one M-of-N leaf (smaller script spends)")
	fl.StringVar(&o.Descriptor, "descriptor", "", "the whole wallet as an output descriptor")
	fl.BoolVar(&o.Unsorted, "unsorted", false, "use multi() with the keys in the given order instead of sortedmulti()")
	fl.Int32Var(&o.Birth, "birth-height", 0, "first block height that can hold the wallet's coins (speeds up rescans)")
	fl.StringArrayVar(&o.Devices, "device", nil, "collect a cosigner's BIP-48 key from a signer: coldcard[:FPR], key:NAME, ... (repeat)")
	fl.Uint32Var(&o.Account, "account", 0, "BIP-48 account number for keys read with --device")
	fl.StringArrayVar(&o.BSMSRecords, "bsms-record", nil, "a signer's BIP-129 key record, .bsms or encrypted .dat (repeat)")
	fl.StringArrayVar(&o.BSMSTokens, "bsms-token", nil, "the BSMS setup's token: hex, decimal or six words (repeat for EXTENDED)")
	fl.StringArrayVar(&o.BSMSTokenFiles, "bsms-token-file", nil, "read BSMS tokens from FILE, one a line")
	fl.StringVar(&o.Recovery, "recovery", "", `time-locked recovery path: "after N blocks: K of NAME,NAME" (or "after N days: ...", "at block H: ...")`)
	fl.StringVar(&o.Decay, "decay", "", `decaying threshold: "after N blocks: threshold T" (or "after N days: ...", "at block H: ...")`)
	fl.StringArrayVar(&o.RecoveryCosigners, "recovery-cosigner", nil, "a key that signs only on the recovery path, LABEL=[fpr/path]xpub (repeat)")
	return withJSONFields(cmd, walletJSON{})
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
	co, err := o.Coordinator()
	if err != nil {
		return err
	}
	req := coordinator.CreateRequest{Name: o.Name, Sorted: !o.Unsorted, Threshold: o.Threshold, BirthHeight: o.Birth, NoKeyPath: o.NoKeyPath, LeafPerSubset: o.PerSubset}
	if o.Network != "" {
		if req.Network, err = descriptor.NetworkParams(o.Network); err != nil {
			return usagef("--network: %v", err)
		}
	}
	if o.Descriptor != "" {
		if req.Descriptor, err = descriptor.Parse(strings.TrimSpace(o.Descriptor)); err != nil {
			return err
		}
	} else {
		if req.Script, err = descriptor.ParseScriptType(o.Script); err != nil {
			return usagef("--script: %v", err)
		}
		if (o.NoKeyPath || o.PerSubset) && req.Script != descriptor.ScriptTr {
			return usagef("--no-key-path and --leaf-per-subset are for --script tr only")
		}
		for i, spec := range o.Cosigners {
			c, err := coordinator.ParseCosigner(spec)
			if err != nil {
				return fmt.Errorf("cosigner %d: %w", i+1, err)
			}
			req.Cosigners = append(req.Cosigners, c)
		}
		for _, spec := range o.Devices {
			c, err := cosignerFromDevice(ctx, o, co, spec, req.Script)
			if err != nil {
				return err
			}
			req.Cosigners = append(req.Cosigners, c)
		}
		if len(o.BSMSRecords) > 0 {
			cs, err := cosignersFromBSMS(o)
			if err != nil {
				return err
			}
			req.Cosigners = append(req.Cosigners, cs...)
		}
	}
	if err := timelockRequest(o, &req); err != nil {
		return err
	}
	res, err := co.CreateWallet(ctx, req)
	if err != nil {
		return err
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(o.IO.ErrOut, "warning: %s\n", w)
	}
	if req.Recovery != nil || req.Decay != nil {
		for _, spec := range o.Devices {
			if !strings.HasPrefix(spec, "key:") {
				fmt.Fprintf(o.IO.ErrOut, "warning: %s gave its key, but countersign cannot register or sign a miniscript wallet on a hardware signer yet: that key can sign only through its seed as a software key (countersign key import)\n", safe(spec))
			}
		}
	}
	sum, err := co.Summary(ctx, o.Name)
	if err != nil {
		return err
	}
	return renderWalletShow(o.IO, o.JSON, sum)
}

// timelockRequest adds --recovery, --decay and --recovery-cosigner to req.
func timelockRequest(o *WalletCreateOptions, req *coordinator.CreateRequest) error {
	if o.Recovery != "" {
		t, err := coordinator.ParseRecovery(o.Recovery)
		if err != nil {
			return err
		}
		req.Recovery = &t
	}
	if o.Decay != "" {
		t, err := coordinator.ParseDecay(o.Decay)
		if err != nil {
			return err
		}
		req.Decay = &t
	}
	for i, spec := range o.RecoveryCosigners {
		c, err := coordinator.ParseCosigner(spec)
		if err != nil {
			return fmt.Errorf("recovery cosigner %d: %w", i+1, err)
		}
		if c.Label == "" {
			return usagef("recovery cosigner %d needs a label, LABEL=KEY, to be named in --recovery", i+1)
		}
		req.RecoveryCosigners = append(req.RecoveryCosigners, c)
	}
	return nil
}

// cosignerFromDevice reads a signer's multisig key at the standard path for
// the script type (BIP-48, or BIP-45 for sh).
func cosignerFromDevice(ctx context.Context, o *WalletCreateOptions, co *coordinator.Coordinator, spec string, script descriptor.ScriptType) (coordinator.Cosigner, error) {
	net, err := networkOrMainnet(o.Network)
	if err != nil {
		return coordinator.Cosigner{}, err
	}
	s, err := o.Open(ctx, spec, SignerOptions{})
	if err != nil {
		return coordinator.Cosigner{}, err
	}
	defer s.Close()
	c, path, err := co.CosignerFromSigner(ctx, s, script, net, o.Account)
	if err != nil {
		return coordinator.Cosigner{}, err
	}
	fmt.Fprintf(o.IO.ErrOut, "Read %s key [%x%s] from %s\n", path, c.Key.Origin.Fingerprint, path.Steps(), safe(s.Name()))
	return c, nil
}

// networkOrMainnet resolves --network, mainnet when unset.
func networkOrMainnet(name string) (*chaincfg.Params, error) {
	if name == "" {
		return &chaincfg.MainNetParams, nil
	}
	n, err := descriptor.NetworkParams(name)
	if err != nil {
		return nil, usagef("--network: %v", err)
	}
	return n, nil
}

// cosignersFromBSMS reads and verifies the signers' BIP-129 key records.
func cosignersFromBSMS(o *WalletCreateOptions) ([]coordinator.Cosigner, error) {
	tokens, err := bsmsTokens(o.BSMSTokens, o.BSMSTokenFiles)
	if err != nil {
		return nil, err
	}
	var out []coordinator.Cosigner
	for _, path := range o.BSMSRecords {
		data, err := readInput(o.IO, path)
		if err != nil {
			return nil, err
		}
		r, err := coordinator.ReadBSMSKeyRecord(data, tokens)
		if errors.Is(err, formats.ErrBSMSNeedToken) {
			return nil, withHint(fmt.Errorf("%s: %w", path, err), "pass the setup's token: --bsms-token TOKEN or --bsms-token-file FILE")
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if !o.JSON {
			fmt.Fprintf(o.IO.ErrOut, "Verified the key record of %q: %s\n", safe(r.Record.Description), safe(r.Record.KeyText))
		}
		out = append(out, r.Cosigner)
	}
	return out, nil
}
