package cli

import (
	"context"
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/countersign/countersign/coordinator"
	"github.com/countersign/countersign/hw"
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
	Encoding    string
	// AllowHighFee lets a fee above the limits through the gate.
	AllowHighFee bool
	// OverridePolicy is the reason to sign despite the spending policy.
	OverridePolicy string
	// Yes skips the confirmation a software key asks for; without a
	// terminal it is required.
	Yes bool
	SignerOptions
}

func newCmdSign(f *Factory, runF func(context.Context, *SignOptions) error) *cobra.Command {
	o := &SignOptions{IO: f.IO, Coordinator: f.Coordinator, Open: f.OpenSigner}
	cmd := &cobra.Command{
		Use:   "sign FILE --with SIGNER [-o OUT] [--from-image IMAGE...]",
		Short: "Add one cosigner's signatures to a PSBT",
		Long: `Send the PSBT to one signer and add the partial signatures it returns. The
signer checks the PSBT against the wallet first (every input and change
output must derive from the wallet's descriptor) and countersign verifies
every returned signature before writing anything.

SIGNER is one of:
  key:NAME           a software key (countersign key list)
  file:DIR           an air-gapped signer through PSBT files in DIR (SD card);
                     waits for the signed file unless --no-wait
  qr, qr:ur, qr:bbqr an air-gapped signer with a camera, through QR codes:
                     UR (crypto-psbt) for Keystone, Passport, SeedSigner,
                     Jade and Krux; BBQr for a Coldcard Q
  coldcard[:FPR], ledger[:FPR], trezor[:FPR], bitbox02[:FPR],
  jade[:FPR]
                     a hardware signer attached by USB or emulated
                     (countersign device list)

A software key is this computer signing, so there is no device screen to
check: countersign shows what the PSBT pays and asks "Sign with key:NAME?"
first. Scripts pass --yes; without a terminal --yes is required.

A QR signer is shown the PSBT as an animated QR code on this terminal (sized
to it, --fps frames a second, at most --max-fragment bytes a code), and its
answer is read back from what a USB QR scanner types into the terminal: one
part a line, in any order, UR or BBQr recognised by content, progress shown
under the code. The answer can also be piped into stdin, or read from
pictures of the device's screen with --from-image (PNG, GIF; several files,
or one animated GIF). --qr-out DIR also writes the code as PNG frames, an
animated GIF and parts.txt (one part a line); countersign then waits for
the scanner at a terminal, or returns with the signature pending (exit 0)
when stdin is not a terminal or with --no-wait. Ctrl-C while waiting (for
a QR answer or a file on the card) stops with exit 130: nothing was signed,
and the message says how to add the signatures later.

The signed PSBT replaces FILE unless -o names another file ("-" for stdout).`,
		Example: `  countersign sign pay.psbt --with key:office -o pay-office.psbt
  countersign sign pay.psbt --with key:office --yes     # from a script
  countersign sign pay.psbt --with coldcard:0f056943 -o pay-cc.psbt
  countersign sign pay.psbt --with file:/media/SD
  countersign sign pay.psbt --with qr:bbqr -o pay-q.psbt
  countersign sign pay.psbt --with qr --qr-out qr/ --no-wait
  countersign sign pay.psbt --with qr --from-image answer-*.png -o pay-k.psbt
  countersign sign pay.psbt --with qr -o pay-k.psbt < answer-parts.txt`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.JSON = f.Global.JSON
			o.Yes = f.Global.Yes
			o.File = args[0]
			if len(args) > 1 {
				// --from-image a.png b.png: the shell's expansion of a
				// pattern lands here.
				if len(o.FromImage) == 0 {
					return usagef("sign takes one PSBT file; more arguments are only taken as images after --from-image")
				}
				o.FromImage = append(o.FromImage, args[1:]...)
			}
			if o.With == "" {
				return usagef("--with SIGNER is required: %s", signerForms)
			}
			if o.File == "-" && strings.HasPrefix(o.With, "qr") && len(o.FromImage) == 0 && o.QROut == "" {
				return usagef("with a QR signer, stdin carries the scanner's answer: give the PSBT as a file, not -")
			}
			if o.Output == "" && o.File == "-" {
				o.Output = "-"
			}
			if err := checkEncoding(o.Encoding); err != nil {
				return err
			}
			if err := checkSignerFlags(o.With, o.SignerOptions); err != nil {
				return err
			}
			if runF != nil {
				return runF(c.Context(), o)
			}
			return signRun(c.Context(), o)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.With, "with", "", "the signer: key:NAME, file:DIR, qr[:ur|:bbqr], coldcard[:FINGERPRINT], path:...")
	fl.StringVar(&o.Wallet, "wallet", "", "the wallet the PSBT spends from (default: detected)")
	fl.StringVarP(&o.Output, "output", "o", "", "write the signed PSBT here (default: replace FILE)")
	fl.StringVar(&o.PassphraseFile, "passphrase-file", "", "key-store passphrase file for key:NAME")
	fl.BoolVar(&o.NoWait, "no-wait", false, "file:DIR and qr with --qr-out: write the PSBT and return without waiting for the answer")
	fl.Float64Var(&o.FPS, "fps", 0, "qr: frames a second of the animated QR code (default 4)")
	fl.IntVar(&o.MaxFragment, "max-fragment", 0, "qr: most bytes of the PSBT in one QR code (default: UR 200, BBQr up to version 20; the terminal may lower it)")
	fl.StringVar(&o.QROut, "qr-out", "", "qr: write the QR codes to DIR (PNG frames, animated GIF, parts.txt)")
	fl.StringSliceVar(&o.FromImage, "from-image", nil, "qr: read the signer's answer from these pictures of its screen (PNG, GIF)")
	addEncodingFlag(cmd, &o.Encoding)
	fl.BoolVar(&o.AllowHighFee, "allow-high-fee", false, "sign even with a fee above 1,000 sat/vB or 5% of the amount sent")
	fl.StringVar(&o.OverridePolicy, "override-policy", "", "sign despite a breach of the wallet's spending policy, for this REASON (journaled)")
	return withJSONFields(cmd, psbtResultJSON{}, signJSON{})
}

// signJSON is what sign adds to psbtResultJSON, and what it prints alone
// while an air-gapped signer has the PSBT.
type signJSON struct {
	Signer        string   `json:"signer"`
	Added         int      `json:"added"`
	AlreadySigned bool     `json:"already_signed"`
	Pending       bool     `json:"pending"`
	Message       string   `json:"message,omitempty"`
	Updated       []string `json:"updated,omitempty"`
}

func signRun(ctx context.Context, o *SignOptions) error {
	p, version, err := readPSBT(o.IO, o.File)
	if err != nil {
		return err
	}
	co, err := o.Coordinator()
	if err != nil {
		return err
	}
	// Every check runs before any signer sees the PSBT.
	plan, err := co.PrepareSign(ctx, o.Wallet, p, coordinator.GateOptions{AllowHighFee: o.AllowHighFee, OverridePolicy: o.OverridePolicy})
	if err != nil {
		return err
	}
	if isSoftwareKey(o.With) {
		// A device shows the payment on its own screen; a software key has
		// only this terminal, so the summary comes before the signature.
		if !o.Yes && o.IO.CanPrompt() {
			renderReportTo(o.IO.ErrOut, plan.Wallet.Name, plan.Report, plan.ToSuccessor)
		}
		if err := confirm(o.IO, o.Yes, fmt.Sprintf("Sign with software key %s?", safe(o.With))); err != nil {
			return err
		}
	}
	// Opening a software key runs age's scrypt, a 256 MiB work buffer:
	// the garbage of the checks goes back to the system first and the
	// buffer right after, so that the command's peak is that buffer plus
	// what is live, not plus everything allocated on either side of it.
	debug.FreeOSMemory()
	s, err := o.Open(ctx, o.With, o.SignerOptions)
	debug.FreeOSMemory()
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
	path := o.Output
	if path == "" {
		path = o.File
	}
	out := psbtOut{Path: path, Encoding: o.Encoding, Version: version}
	if o.JSON {
		j, err := newPSBTResult(out, res.Wallet.Name, res.PSBT, res.Report)
		if err != nil {
			return err
		}
		if res.Added > 0 || o.Output != "" {
			if err := writeFileOnly(o.IO, out, res.PSBT); err != nil {
				return err
			}
		}
		return writeJSON(o.IO.Out, struct {
			*psbtResultJSON
			signJSON
		}{j, signJSON{Signer: s.Name(), Added: res.Added, AlreadySigned: res.AlreadySigned, Updated: plan.Updated}})
	}
	for _, c := range plan.Updated {
		fmt.Fprintf(o.IO.ErrOut, "Updated from the wallet: %s\n", safe(c))
	}
	if res.AlreadySigned && res.WaitingMuSig2 {
		fmt.Fprintf(o.IO.ErrOut, "%s has given its MuSig2 nonce; it adds its partial signature when every other cosigner's nonce is in the PSBT (sign with it again then).\n", safe(s.Name()))
		if o.Output == "" && len(plan.Updated) == 0 {
			return nil
		}
	} else if res.AlreadySigned {
		fmt.Fprintf(o.IO.ErrOut, "%s has already signed every input it holds a key of; nothing to add.\n", safe(s.Name()))
		if o.Output == "" && len(plan.Updated) == 0 {
			return nil
		}
	} else {
		fmt.Fprintf(o.IO.ErrOut, "%s added %d signature(s).\n", safe(s.Name()), res.Added)
	}
	return finishPSBT(o.IO, out, res.Wallet.Name, res.PSBT, res.Report, plan.ToSuccessor)
}

// isSoftwareKey tells whether spec names a key kept by this computer.
func isSoftwareKey(spec string) bool {
	return strings.HasPrefix(spec, "key:")
}
