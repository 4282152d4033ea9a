package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/countersign/countersign/coordinator"
	"github.com/countersign/countersign/hw"
	"github.com/countersign/countersign/psbt"
)

// SignOptions are the inputs of `sign`.
type SignOptions struct {
	IO          *Streams
	Coordinator func() (*coordinator.Coordinator, error)
	Open        func(ctx context.Context, spec string, so SignerOptions) (*hw.Signer, error)
	JSON        bool
	File        string
	With        string
	Wallet      string
	Output      string
	SignerOptions
}

func newCmdSign(f *Factory, runF func(context.Context, *SignOptions) error) *cobra.Command {
	o := &SignOptions{IO: f.IO, Coordinator: f.Coordinator, Open: f.OpenSigner}
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
  coldcard[:FPR], ledger[:FPR], trezor[:FPR], jade[:FPR]
                     a hardware signer attached by USB or emulated
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
				return usagef("--with SIGNER is required: %s", signerForms)
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
	return withJSONFields(cmd, psbtResultJSON{}, signJSON{})
}

// signJSON is what sign adds to psbtResultJSON, and what it prints alone
// while an air-gapped signer has the PSBT.
type signJSON struct {
	Signer        string `json:"signer"`
	Added         int    `json:"added"`
	AlreadySigned bool   `json:"already_signed"`
	Pending       bool   `json:"pending"`
	Message       string `json:"message,omitempty"`
}

func signRun(ctx context.Context, o *SignOptions) error {
	p, err := readPSBT(o.IO, o.File)
	if err != nil {
		return err
	}
	co, err := o.Coordinator()
	if err != nil {
		return err
	}
	// Every check runs before any signer sees the PSBT.
	plan, err := co.PrepareSign(ctx, o.Wallet, p)
	if err != nil {
		return err
	}
	s, err := o.Open(ctx, o.With, o.SignerOptions)
	if err != nil {
		return err
	}
	defer s.Close()
	res, err := co.Sign(ctx, plan, s)
	if err != nil {
		return registrationHint(err, plan.Wallet.Name, o.With)
	}
	if res.Pending != nil {
		if o.JSON {
			return writeJSON(o.IO.Out, struct {
				Wallet string `json:"wallet"`
				signJSON
			}{res.Wallet.Name, signJSON{Signer: o.With, Pending: true, Message: res.Pending.Error()}})
		}
		fmt.Fprintln(o.IO.ErrOut, safe(res.Pending.Error()))
		return nil
	}
	out := o.Output
	if out == "" {
		out = o.File
	}
	if o.JSON {
		b64, err := psbt.Encode(res.PSBT)
		if err != nil {
			return err
		}
		if res.Added > 0 && out != "-" {
			if err := writePSBT(o.IO, out, res.PSBT); err != nil {
				return err
			}
		}
		return writeJSON(o.IO.Out, struct {
			psbtResultJSON
			signJSON
		}{psbtResultJSON{res.Wallet.Name, out, b64, res.Report}, signJSON{Signer: s.Name(), Added: res.Added, AlreadySigned: res.AlreadySigned}})
	}
	if res.AlreadySigned {
		fmt.Fprintf(o.IO.ErrOut, "%s has already signed every input it holds a key of; nothing to add.\n", safe(s.Name()))
		if o.Output == "" {
			return nil
		}
	} else {
		fmt.Fprintf(o.IO.ErrOut, "%s added %d signature(s).\n", safe(s.Name()), res.Added)
	}
	return finishPSBT(o.IO, false, out, res.Wallet.Name, res.PSBT, res.Report)
}
