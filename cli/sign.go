package cli

import (
	"context"
	"errors"
	"fmt"

	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/spf13/cobra"

	"github.com/countersign/countersign/hw/file"
	"github.com/countersign/countersign/psbt"
	"github.com/countersign/countersign/wallet"
)

// SignOptions are the inputs of `sign`.
type SignOptions struct {
	F      *Factory
	IO     *Streams
	JSON   bool
	File   string
	With   string
	Wallet string
	Output string
	SignerOptions
}

func newCmdSign(f *Factory, runF func(context.Context, *SignOptions) error) *cobra.Command {
	o := &SignOptions{F: f, IO: f.IO}
	cmd := &cobra.Command{
		Use:   "sign FILE --with SIGNER [-o OUT]",
		Short: "Add one cosigner's signatures to a PSBT",
		Long: `Send the PSBT to one signer and add the partial signatures it returns. The
signer checks the PSBT against the wallet first (every input and change
output must derive from the wallet's descriptor) and countersign verifies
every returned signature before writing anything.

SIGNER is one of:
  key:NAME           a software key (countersign key list)
  file:DIR           an air-gapped signer through PSBT files in DIR (SD card);
                     waits for the signed file unless --no-wait
  coldcard[:FPR]     a hardware signer attached by USB or emulated
                     (countersign device list)

The signed PSBT replaces FILE unless -o names another file ("-" for stdout).`,
		Example: `  countersign sign pay.psbt --with key:office -o pay-office.psbt
  countersign sign pay.psbt --with coldcard:0f056943 -o pay-cc.psbt
  countersign sign pay.psbt --with file:/media/SD`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.JSON = f.Global.JSON
			o.File = args[0]
			if o.With == "" {
				return usagef("--with SIGNER is required (key:NAME, file:DIR, coldcard[:FINGERPRINT]; see `countersign device list`)")
			}
			if o.Output == "" && o.File == "-" {
				o.Output = "-"
			}
			if runF != nil {
				return runF(c.Context(), o)
			}
			return signRun(c.Context(), o)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.With, "with", "", "the signer: key:NAME, file:DIR, coldcard[:FINGERPRINT], path:...")
	fl.StringVar(&o.Wallet, "wallet", "", "the wallet the PSBT spends from (default: detected)")
	fl.StringVarP(&o.Output, "output", "o", "", "write the signed PSBT here (default: replace FILE)")
	fl.StringVar(&o.PassphraseFile, "passphrase-file", "", "key-store passphrase file for key:NAME")
	fl.BoolVar(&o.NoWait, "no-wait", false, "file:DIR only: write the PSBT and return without waiting for the signed file")
	return cmd
}

func signRun(ctx context.Context, o *SignOptions) error {
	p, err := readPSBT(o.IO, o.File)
	if err != nil {
		return err
	}
	l, err := o.F.walletFor(ctx, o.Wallet, p)
	if err != nil {
		return err
	}
	wi := walletInfo(l)
	// Refuse before any signer sees it: the same gate every signer applies.
	if err := psbt.CheckWallet(p, wi); err != nil {
		return err
	}
	signer, desc, err := o.F.openSigner(ctx, o.With, o.SignerOptions)
	if err != nil {
		return err
	}
	defer signer.Close()
	// Devices that need the wallet registered get their stored proof of
	// registration; the device is the authority on whether it knows the
	// wallet, and its refusal comes back with the fix attached.
	if err := o.F.feedToken(ctx, l, signer); err != nil {
		return err
	}
	before := countSigs(p)
	signed, err := signer.Sign(ctx, p, l.D, l.Net, l.W.Name)
	if errors.Is(err, file.ErrPending) {
		if o.JSON {
			return writeJSON(o.IO.Out, map[string]any{"wallet": l.W.Name, "signer": o.With, "pending": true, "message": err.Error()})
		}
		fmt.Fprintln(o.IO.ErrOut, err.Error())
		return nil
	}
	if err != nil {
		return registrationHint(fmt.Errorf("%s: %w", desc, err), l.W.Name, o.With)
	}
	// Whatever the signer returned goes through the combiner: every
	// signature is verified against its sighash and key, and anything but
	// new partial signatures for the same transaction is refused.
	merged, err := psbt.Combine([]*bpsbt.Packet{p, signed}, wi)
	if err != nil {
		return fmt.Errorf("%s returned a PSBT that fails verification: %w", desc, err)
	}
	// Combine has verified every signature in both packets, so counting
	// records counts valid signatures; no second Inspect is needed.
	added := countSigs(merged) - before
	if added <= 0 {
		return fmt.Errorf("%w: %s added no signature: it holds no key of this wallet's inputs, or has signed already", psbt.ErrRefused, desc)
	}
	if err := o.F.saveDraft(ctx, l.W.Name, merged, wallet.StateSigned); err != nil {
		return err
	}
	out := o.Output
	if out == "" {
		out = o.File
	}
	if !o.JSON {
		fmt.Fprintf(o.IO.ErrOut, "%s added %d signature(s).\n", desc, added)
	}
	return o.F.finishPSBT(out, l, merged)
}

func countSigs(p *bpsbt.Packet) int {
	n := 0
	for _, in := range p.Inputs {
		n += len(in.PartialSigs)
	}
	return n
}
