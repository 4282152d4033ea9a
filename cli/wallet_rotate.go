package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/countersign/countersign/coordinator"
	"github.com/countersign/countersign/hw"
	"github.com/countersign/countersign/wallet/scan"
)

// WalletRotateOptions are the inputs of `wallet rotate`.
type WalletRotateOptions struct {
	IO          *Streams
	Coordinator func() (*coordinator.Coordinator, error)
	Open        func(ctx context.Context, spec string, so SignerOptions) (*hw.Signer, error)
	Devices     func(ctx context.Context) ([]hw.DeviceInfo, error)
	JSON        bool
	Name        string
	Network     string

	Replace string
	// Remove names further cosigners that leave without replacement.
	Remove []string
	// Exactly one of Cosigner, Device and Key gives the replacement key.
	Cosigner, Device, Key string
	// The keys added to the successor, by the same three means.
	AddCosigners, AddDevices, AddKeys []string
	Account                           uint32

	Successor    string
	Threshold    int
	Output       string
	Encoding     string
	FeeRate      string
	TargetBlocks int
	MaxInputs    int
	MaxBytes     int
	AllowHighFee bool
	NoRBF        bool
	NoRegister   bool
	NoSync       bool
}

func newCmdWalletRotate(f *Factory, runF func(context.Context, *WalletRotateOptions) error) *cobra.Command {
	o := &WalletRotateOptions{IO: f.IO, Coordinator: f.Coordinator, Open: f.OpenSigner,
		Devices: func(ctx context.Context) ([]hw.DeviceInfo, error) { return f.Registry().Enumerate(ctx) }}
	cmd := &cobra.Command{
		Use:   "rotate OLD --replace FPR|LABEL (--cosigner KEY | --device SIGNER | --key NAME) -o SWEEP.psbt",
		Short: "Replace a cosigner's key: create the successor wallet and sweep every coin to it",
		Long: `Rotate a wallet's keys when one leaves (a lost device, a person who goes):

 1. sync OLD (unless --no-sync), so that every coin is known;
 2. create the successor wallet: OLD's script type, threshold and keys, with
    the key named by --replace (its fingerprint or label) swapped for the
    one given by --cosigner KEY, --device SIGNER or --key NAME (a software
    key). --add-cosigner, --add-device and --add-key (each repeatable) add
    more keys, --remove FPR|LABEL (repeatable) drops more keys (a second
    lost one), and --threshold M sets a new threshold: a 2-of-3 becomes a
    3-of-5 with one replacement, two additions and --threshold 3. The
    successor is named --name, or OLD-2 (OLD-3 after OLD-2, ...);
 3. register the successor on every attached signer that holds one of its
    keys (each asks for approval; --no-register skips this) and say which
    cosigners still need ` + "`countersign device register`" + `;
 4. build the sweep: PSBTs that send every confirmed coin of OLD, minus the
    fee, to receive addresses of the successor. The PSBTs go through the
    same safety checks as any spend and are saved as drafts. A sweep that
    would exceed --max-inputs or --max-bytes (what the cosigners' devices
    take) is split: -o names the first PSBT, the others get -2, -3, ...
    before the extension (sweep.psbt, sweep-2.psbt, ...).

Then sign each sweep PSBT with the old wallet's remaining keys (the key
that left is not needed), combine, finalize and broadcast as for any spend.
psbt inspect shows the sweep's output as paying the successor wallet.

From the moment of the rotation OLD hands out no receive addresses. It
stays in the store and is still synced: the first ` + "`wallet sync OLD`" + ` that
finds it empty after the sweep confirmed marks it retired (wallet list
shows it with its successor). A coin that reaches it later is reported by
wallet sync; sweep it to the successor by running this command again
without --replace.`,
		Example: `  countersign wallet rotate vault --replace carol --device coldcard:0f056943 -o sweep.psbt
  countersign wallet rotate vault --replace 7bb026be --key office --name vault-2025 -o sweep.psbt
  countersign wallet rotate family --replace dad --key daughter --add-key uncle --add-key lawyer --threshold 3 -o sweep.psbt
  countersign wallet rotate family --replace ben --key fox --remove cas --add-key gil -o sweep.psbt   # two keys lost
  countersign wallet rotate vault -o late.psbt    # sweep coins that arrived after the rotation`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.JSON = f.Global.JSON
			o.Network = f.Global.Network
			o.Name = args[0]
			n := 0
			for _, s := range []string{o.Cosigner, o.Device, o.Key} {
				if s != "" {
					n++
				}
			}
			adds := len(o.AddCosigners) + len(o.AddDevices) + len(o.AddKeys)
			switch {
			case o.Replace == "" && (n > 0 || adds > 0 || len(o.Remove) > 0 || o.Successor != "" || o.Threshold != 0):
				return usagef("--cosigner, --device, --key, --add-*, --remove, --name and --threshold make a successor: name the key that leaves with --replace FPR|LABEL")
			case o.Replace != "" && n != 1:
				return usagef("give the key that replaces %q with exactly one of --cosigner KEY, --device SIGNER or --key NAME", o.Replace)
			case o.Output == "" || o.Output == "-":
				return usagef("-o FILE is required: the sweep may be several PSBTs, named after it")
			case o.Threshold < 0:
				return usagef("--threshold must be positive")
			case o.TargetBlocks < 1 || o.TargetBlocks > 1008:
				return usagef("--target-blocks must be between 1 and 1008")
			case o.MaxInputs < 0 || o.MaxBytes < 0:
				return usagef("--max-inputs and --max-bytes must be positive")
			}
			if o.Successor != "" {
				if err := checkWalletName(o.Successor); err != nil {
					return err
				}
			}
			if err := checkEncoding(o.Encoding); err != nil {
				return err
			}
			if runF != nil {
				return runF(c.Context(), o)
			}
			return walletRotateRun(c.Context(), o)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.Replace, "replace", "", "the cosigner that leaves: its master fingerprint or its label")
	fl.StringVar(&o.Cosigner, "cosigner", "", "the replacement key [LABEL=][fpr/path]xpub")
	fl.StringVar(&o.Device, "device", "", "read the replacement key from a signer: coldcard[:FPR], ledger, trezor, ...")
	fl.StringVar(&o.Key, "key", "", "the replacement key is this software key (see `countersign key list`)")
	fl.StringArrayVar(&o.Remove, "remove", nil, "another cosigner that leaves without a replacement: fingerprint or label (repeat)")
	fl.StringArrayVar(&o.AddCosigners, "add-cosigner", nil, "add a cosigner key to the successor (repeat)")
	fl.StringArrayVar(&o.AddDevices, "add-device", nil, "add a cosigner read from a signer (repeat)")
	fl.StringArrayVar(&o.AddKeys, "add-key", nil, "add a software key as cosigner (repeat)")
	fl.Uint32Var(&o.Account, "account", 0, "BIP-48 account number for keys read from signers and software keys")
	fl.StringVar(&o.Successor, "name", "", "the successor wallet's name (default OLD-2)")
	fl.IntVarP(&o.Threshold, "threshold", "m", 0, "the successor's threshold (default: the old wallet's)")
	fl.StringVarP(&o.Output, "output", "o", "", "write the sweep PSBT to FILE (more PSBTs: FILE-2, FILE-3, ... before the extension)")
	fl.StringVar(&o.FeeRate, "fee-rate", "", "fee rate in sat/vB (default: the backend's estimate)")
	fl.IntVar(&o.TargetBlocks, "target-blocks", 6, "confirmation target for the fee estimate")
	fl.IntVar(&o.MaxInputs, "max-inputs", coordinator.DefaultSweepMaxInputs, "at most this many inputs per sweep PSBT")
	fl.IntVar(&o.MaxBytes, "max-bytes", coordinator.DefaultSweepMaxBytes, "at most this many bytes per sweep PSBT (the smallest limit among the cosigners' devices)")
	fl.BoolVar(&o.AllowHighFee, "allow-high-fee", false, "allow a fee above 1,000 sat/vB or 5% of the amount sent")
	fl.BoolVar(&o.NoRBF, "no-rbf", false, "do not signal replace-by-fee (BIP-125)")
	fl.BoolVar(&o.NoRegister, "no-register", false, "do not register the successor on attached signers")
	fl.BoolVar(&o.NoSync, "no-sync", false, "do not sync the old wallet first (use the coins of the last sync)")
	addEncodingFlag(cmd, &o.Encoding)
	return withJSONFields(cmd, rotateJSON{})
}

type rotateJSON struct {
	Wallet        string           `json:"wallet"`
	Successor     string           `json:"successor"`
	Policy        string           `json:"policy"`
	Descriptor    string           `json:"descriptor"`
	Replaced      *cosignerRefJSON `json:"replaced"`
	Retired       bool             `json:"retired"`
	Sweep         sweepJSON        `json:"sweep"`
	Registrations []enrolmentJSON  `json:"registrations"`
	Warnings      []string         `json:"warnings"`
}

type cosignerRefJSON struct {
	Fingerprint string `json:"fingerprint"`
	Label       string `json:"label"`
}

type sweepJSON struct {
	PSBTs     []sweepPSBTJSON `json:"psbts"`
	Left      []leftCoinJSON  `json:"left"`
	Amount    int64           `json:"amount_sat"`
	Fee       int64           `json:"fee_sat"`
	FeeRate   float64         `json:"fee_rate"`
	FeeSource string          `json:"fee_source"`
}

type sweepPSBTJSON struct {
	File    string `json:"file"`
	Draft   string `json:"draft_id"`
	TxID    string `json:"txid"`
	Inputs  int    `json:"inputs"`
	Amount  int64  `json:"amount_sat"`
	Fee     int64  `json:"fee_sat"`
	Address string `json:"address"`
	Index   uint32 `json:"index"`
}

type leftCoinJSON struct {
	OutPoint string `json:"outpoint"`
	Value    int64  `json:"value_sat"`
	Reason   string `json:"reason"`
}

type enrolmentJSON struct {
	Position    int    `json:"position"`
	Label       string `json:"label"`
	Fingerprint string `json:"fingerprint"`
	Status      string `json:"status"`
	Device      string `json:"device,omitempty"`
	Error       string `json:"error,omitempty"`
	Hint        string `json:"hint,omitempty"`
}

func walletRotateRun(ctx context.Context, o *WalletRotateOptions) error {
	co, err := o.Coordinator()
	if err != nil {
		return err
	}
	sw := coordinator.SweepOptions{TargetBlocks: o.TargetBlocks, MaxInputs: o.MaxInputs, MaxBytes: o.MaxBytes, AllowHighFee: o.AllowHighFee, NoRBF: o.NoRBF}
	if o.FeeRate != "" {
		if sw.FeeRate, err = parseFeeRate(o.FeeRate); err != nil {
			return err
		}
	}
	old, err := co.Wallet(ctx, o.Name)
	if err != nil {
		return err
	}
	if !o.NoSync {
		if err := rotateSync(ctx, o, co); err != nil {
			return err
		}
	}
	out := rotateJSON{Wallet: o.Name, Registrations: []enrolmentJSON{}, Warnings: []string{}}
	var sweep *coordinator.SweepResult
	var rotateErr error
	if o.Replace == "" {
		if sweep, err = co.SweepToSuccessor(ctx, o.Name, sw); err != nil {
			if errors.Is(err, coordinator.ErrNoSuccessor) {
				return withHint(err, "start a rotation: countersign wallet rotate "+o.Name+" --replace FPR|LABEL --cosigner KEY -o FILE")
			}
			return err
		}
		succ, err := co.Wallet(ctx, sweep.Successor)
		if err != nil {
			return err
		}
		out.Successor, out.Policy, out.Descriptor = succ.Name, succ.Descriptor.Policy(), succ.Descriptor.String()
	} else {
		req := coordinator.RotateRequest{Wallet: o.Name, Replace: o.Replace, Remove: o.Remove, Name: o.Successor, Threshold: o.Threshold, Sweep: sw}
		if req.Replacement, err = rotateCosigner(ctx, o, co, old, o.Cosigner, o.Device, o.Key); err != nil {
			return err
		}
		for _, spec := range o.AddCosigners {
			c, err := rotateCosigner(ctx, o, co, old, spec, "", "")
			if err != nil {
				return err
			}
			req.Add = append(req.Add, c)
		}
		for _, spec := range o.AddDevices {
			c, err := rotateCosigner(ctx, o, co, old, "", spec, "")
			if err != nil {
				return err
			}
			req.Add = append(req.Add, c)
		}
		for _, name := range o.AddKeys {
			c, err := rotateCosigner(ctx, o, co, old, "", "", name)
			if err != nil {
				return err
			}
			req.Add = append(req.Add, c)
		}
		res, err := co.Rotate(ctx, req)
		if res == nil {
			return err
		}
		// A sweep that failed after the successor was recorded: report
		// the successor, register it, then return the error.
		rotateErr = err
		sweep = res.Sweep
		out.Successor, out.Policy, out.Descriptor = res.Successor.Name, res.Successor.Descriptor.Policy(), res.Successor.Descriptor.String()
		out.Replaced = &cosignerRefJSON{Fingerprint: res.Replaced.Fingerprint, Label: res.Replaced.Label}
		out.Retired = res.Retired
		out.Warnings = append(out.Warnings, res.Warnings...)
		if !o.NoRegister {
			if out.Registrations, err = rotateRegister(ctx, o, co, res.Successor.Name); err != nil {
				return err
			}
		}
	}
	if sweep != nil {
		if out.Sweep, err = writeSweep(o, sweep); err != nil {
			return err
		}
	}
	if out.Sweep.PSBTs == nil {
		out.Sweep.PSBTs = []sweepPSBTJSON{}
	}
	if out.Sweep.Left == nil {
		out.Sweep.Left = []leftCoinJSON{}
	}
	if o.JSON {
		if err := writeJSON(o.IO.Out, out); err != nil {
			return err
		}
		return rotateErr
	}
	renderRotate(o, out)
	return rotateErr
}

// rotateSync syncs the old wallet so that the sweep takes every coin.
func rotateSync(ctx context.Context, o *WalletRotateOptions, co *coordinator.Coordinator) error {
	p := newProgress(o.IO)
	defer p.Done()
	res, err := co.Sync(ctx, o.Name, scan.Options{Progress: func(n int) {
		p.Update(fmt.Sprintf("Scanning %s: %d addresses checked", safe(o.Name), n))
	}})
	if errors.Is(err, coordinator.ErrNoBackend) {
		return withHint(err, "configure a backend (countersign backend set URL), or pass --no-sync to sweep the coins of the last sync")
	}
	if err != nil {
		return err
	}
	p.Done()
	if !o.JSON {
		fmt.Fprintf(o.IO.ErrOut, "Synced %s at height %d: %s.\n", safe(o.Name), res.Height, plural(res.UTXOs, "coin", "coins"))
	}
	return nil
}

// rotateCosigner reads one key of the successor: typed, from a signer, or
// a software key, at the old wallet's script type and network.
func rotateCosigner(ctx context.Context, o *WalletRotateOptions, co *coordinator.Coordinator, old *coordinator.Wallet, typed, device, key string) (coordinator.Cosigner, error) {
	if typed != "" {
		return coordinator.ParseCosigner(typed)
	}
	spec := device
	if key != "" {
		spec = "key:" + key
	}
	s, err := o.Open(ctx, spec, SignerOptions{})
	if err != nil {
		return coordinator.Cosigner{}, err
	}
	defer s.Close()
	c, path, err := co.CosignerFromSigner(ctx, s, old.Descriptor.Script, old.Network, o.Account)
	if err != nil {
		return coordinator.Cosigner{}, err
	}
	if !o.JSON {
		fmt.Fprintf(o.IO.ErrOut, "Read %s key [%x%s] from %s\n", path, c.Key.Origin.Fingerprint, path.Steps(), safe(s.Name()))
	}
	return c, nil
}

// rotateRegister offers the successor to the attached signers.
func rotateRegister(ctx context.Context, o *WalletRotateOptions, co *coordinator.Coordinator, name string) ([]enrolmentJSON, error) {
	attached, err := o.Devices(ctx)
	if err != nil {
		return nil, err
	}
	open := func(ctx context.Context, sel string) (*hw.Signer, error) { return o.Open(ctx, sel, SignerOptions{}) }
	es, err := co.RegisterOnAttached(ctx, name, attached, open)
	if err != nil {
		return nil, err
	}
	out := make([]enrolmentJSON, 0, len(es))
	for _, e := range es {
		j := enrolmentJSON{Position: e.Position, Label: e.Label, Fingerprint: e.Fingerprint, Device: e.Device}
		switch {
		case e.Registered:
			j.Status = "registered"
		case e.Err != nil:
			j.Status = "failed"
			j.Error = e.Err.Error()
			j.Hint = fmt.Sprintf("countersign device register %s --with %s", name, e.Device)
		case e.Software != "":
			j.Status = "software key"
			j.Device = "key:" + e.Software
		default:
			j.Status = "not attached"
			typ := e.DeviceType
			if typ == "" {
				typ = "DEVICE"
			}
			if e.Fingerprint != "" {
				j.Hint = fmt.Sprintf("countersign device register %s --with %s:%s", name, typ, e.Fingerprint)
			}
		}
		out = append(out, j)
	}
	return out, nil
}

// writeSweep writes the sweep PSBTs and describes them.
func writeSweep(o *WalletRotateOptions, s *coordinator.SweepResult) (sweepJSON, error) {
	j := sweepJSON{Amount: s.Amount, Fee: s.Fee, FeeRate: s.FeeRate, FeeSource: s.FeeSource}
	for i, p := range s.PSBTs {
		file := numberedFile(o.Output, i)
		if err := writePSBT(o.IO, psbtOut{Path: file, Encoding: o.Encoding}, p.PSBT); err != nil {
			return j, err
		}
		j.PSBTs = append(j.PSBTs, sweepPSBTJSON{File: file, Draft: p.Draft.ID, TxID: p.Draft.TxID.String(), Inputs: p.Inputs,
			Amount: p.Amount, Fee: p.Fee, Address: p.Address, Index: p.Index})
	}
	for _, l := range s.Left {
		j.Left = append(j.Left, leftCoinJSON{OutPoint: l.OutPoint.String(), Value: l.Value, Reason: l.Reason})
	}
	return j, nil
}

func renderRotate(o *WalletRotateOptions, j rotateJSON) {
	w := o.IO.ErrOut
	if j.Replaced != nil {
		who := j.Replaced.Fingerprint
		if j.Replaced.Label != "" {
			who = fmt.Sprintf("%s (%s)", safe(j.Replaced.Label), who)
		}
		fmt.Fprintf(w, "Created wallet %q (%s), the successor of %q without %s.\n", safe(j.Successor), j.Policy, safe(j.Wallet), who)
		fmt.Fprintf(w, "%q hands out no new addresses; receive with %q from now on.\n", safe(j.Wallet), safe(j.Successor))
		fmt.Fprintf(w, "Back up the successor now: countersign wallet export %s --format pdf -o %s.pdf\n", shellQuote(j.Successor), shellQuote(j.Successor))
	}
	for _, warn := range j.Warnings {
		fmt.Fprintf(w, "warning: %s\n", safe(warn))
	}
	if len(j.Registrations) > 0 {
		fmt.Fprintln(w, "Registration of the successor on the signers:")
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		for _, e := range j.Registrations {
			what := e.Status
			switch {
			case e.Status == "registered":
				what = "registered on " + safe(e.Device)
			case e.Error != "":
				what = "FAILED on " + safe(e.Device) + ": " + safe(e.Error) + "; retry: " + safe(e.Hint)
			case e.Status == "software key":
				what = "software key " + safe(strings.TrimPrefix(e.Device, "key:")) + ": nothing to register"
			case e.Hint != "":
				what = "not attached; if it is a hardware signer: " + safe(e.Hint)
			}
			fmt.Fprintf(tw, "  #%d\t%s\t%s\t%s\n", e.Position, safe(orDash(e.Label)), orDash(e.Fingerprint), what)
		}
		tw.Flush()
	}
	if j.Retired {
		fmt.Fprintf(w, "%q held no coin: nothing to sweep, it is retired.\n", safe(j.Wallet))
		return
	}
	for _, l := range j.Sweep.Left {
		fmt.Fprintf(w, "Not swept: %s (%s): %s\n", l.OutPoint, btcString(l.Value), safe(l.Reason))
	}
	if len(j.Sweep.PSBTs) == 0 {
		fmt.Fprintf(w, "Nothing to sweep from %q now.\n", safe(j.Wallet))
		return
	}
	fmt.Fprintf(w, "Sweep of %q to successor wallet %q: %s to the successor, fee %d sat (%.2f sat/vB, from %s), in %s:\n",
		safe(j.Wallet), safe(j.Successor), btcString(j.Sweep.Amount), j.Sweep.Fee, j.Sweep.FeeRate, j.Sweep.FeeSource, plural(len(j.Sweep.PSBTs), "PSBT", "PSBTs"))
	files := make([]string, 0, len(j.Sweep.PSBTs))
	for _, p := range j.Sweep.PSBTs {
		fmt.Fprintf(w, "  %s\t%s\t%s to %s (successor receive %d)\n", p.File, plural(p.Inputs, "input", "inputs"), btcString(p.Amount), p.Address, p.Index)
		files = append(files, p.File)
	}
	fmt.Fprintf(w, "Next: sign each with the old wallet's remaining keys (countersign sign %s --with SIGNER), combine, finalize and broadcast; then `countersign wallet sync %s` retires %q once the sweep confirms.\n",
		files[0], shellQuote(j.Wallet), safe(j.Wallet))
}

// shellQuote quotes a name for a command line printed as a hint.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(safe(s), "'", `'\''`) + "'"
}
