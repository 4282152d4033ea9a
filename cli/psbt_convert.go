package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/countersign/countersign/psbt"
)

// PSBTConvertOptions are the inputs of `psbt convert`.
type PSBTConvertOptions struct {
	IO       *Streams
	JSON     bool
	File     string
	To       string
	Output   string
	Encoding string
}

func newCmdPSBTConvert(f *Factory, runF func(context.Context, *PSBTConvertOptions) error) *cobra.Command {
	o := &PSBTConvertOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "convert FILE --to v0|v2 [-o OUT]",
		Short: "Write a PSBT as version 0 (BIP-174) or version 2 (BIP-370)",
		Long: `Read a PSBT of either version and write it in the other, or change its
encoding (--encoding binary|base64|hex). No wallet is needed and nothing is
checked against one. A version 2 PSBT's inputs' required lock times and its
modifiable flags are kept when it is converted back; version 0 cannot show
them and writes the lock time they determine.`,
		Example: `  countersign psbt convert pay.psbt --to v2 -o pay-v2.psbt
  countersign psbt convert pay.psbt --to v0 --encoding base64 -o -`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.JSON = f.Global.JSON
			o.File = args[0]
			if o.To != "v0" && o.To != "v2" {
				return usagef("--to v0 or --to v2")
			}
			if err := checkEncoding(o.Encoding); err != nil {
				return err
			}
			if runF != nil {
				return runF(c.Context(), o)
			}
			return psbtConvertRun(c.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.To, "to", "", "the PSBT version to write: v0 or v2")
	cmd.Flags().StringVarP(&o.Output, "output", "o", "", "write here (default: stdout)")
	addEncodingFlag(cmd, &o.Encoding)
	return withJSONFields(cmd, convertJSON{})
}

type convertJSON struct {
	File        string `json:"file,omitempty"`
	PSBT        string `json:"psbt"`
	PSBTVersion uint32 `json:"psbt_version"`
	From        uint32 `json:"from_version"`
	TxID        string `json:"txid"`
}

func psbtConvertRun(ctx context.Context, o *PSBTConvertOptions) error {
	p, from, err := readPSBT(o.IO, o.File)
	if err != nil {
		return err
	}
	// Nothing else reads the packet here: make the key checks the steps
	// make before use, so that convert never passes on an invalid PSBT.
	if err := psbt.Validate(p); err != nil {
		return fmt.Errorf("%s: %w", displayName(o.File), err)
	}
	out := psbtOut{Path: o.Output, Encoding: o.Encoding, Version: map[string]uint32{"v0": 0, "v2": 2}[o.To]}
	if o.JSON {
		b64, err := base64PSBT(p, out.Version)
		if err != nil {
			return err
		}
		if err := writeFileOnly(o.IO, out, p); err != nil {
			return err
		}
		j := convertJSON{PSBT: b64, PSBTVersion: out.Version, From: from, TxID: p.UnsignedTx.TxHash().String()}
		if o.Output != "-" {
			j.File = o.Output
		}
		return writeJSON(o.IO.Out, j)
	}
	if err := writePSBT(o.IO, out, p); err != nil {
		return err
	}
	if o.Output != "" && o.Output != "-" {
		fmt.Fprintf(o.IO.ErrOut, "Wrote %s (PSBT version %d, from version %d).\n", o.Output, out.Version, from)
	}
	return nil
}
