package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/countersign/countersign/coordinator"
	"github.com/countersign/countersign/descriptor/formats"
)

func newCmdBSMS(f *Factory) *cobra.Command {
	cmd := groupCmd(&cobra.Command{
		Use:   "bsms",
		Short: "BIP-129 (BSMS) setup sessions: the coordinator's tokens",
		Long: `A BIP-129 Bitcoin Secure Multisig Setup, with countersign as the coordinator:

 1. countersign bsms token            the session's token, for every signer
    (or --signers N: one token per signer, EXTENDED encryption);
 2. each signer makes a key record with it (round 1) and sends it back;
 3. countersign wallet create NAME --threshold M --bsms-record FILE ...
    --bsms-token TOKEN   verifies each record and creates the wallet;
 4. countersign wallet export NAME --format bsms --encrypt TOKEN -o FILE
    gives the signers the encrypted descriptor record (round 2), which
    they check against their key and the first address.`,
	})
	cmd.AddCommand(newCmdBSMSToken(f, nil))
	return cmd
}

// BSMSTokenOptions are the inputs of `bsms token`.
type BSMSTokenOptions struct {
	IO      *Streams
	JSON    bool
	Signers int
}

func newCmdBSMSToken(f *Factory, runF func(context.Context, *BSMSTokenOptions) error) *cobra.Command {
	o := &BSMSTokenOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "token [--signers N]",
		Short: "Make a BSMS setup session's token(s)",
		Long: `Make the random token that encrypts and authenticates a BSMS setup's records:
one 64-bit token (STANDARD encryption) that every signer enters, shown as
hex, as a decimal number (what most signers ask for) and as six words; or
with --signers N, one 128-bit token per signer (EXTENDED encryption), in
hex and decimal. Give each signer its token on a channel an attacker cannot
change (read aloud, on paper); keep them for wallet create --bsms-token and
wallet export --encrypt. The tokens are printed on stdout and not stored.`,
		Example: `  countersign bsms token
  countersign bsms token --signers 3 --json`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			o.JSON = f.Global.JSON
			if o.Signers < 0 || o.Signers > 20 {
				return usagef("--signers must be between 1 and 20")
			}
			if runF != nil {
				return runF(c.Context(), o)
			}
			return bsmsTokenRun(c.Context(), o)
		},
	}
	cmd.Flags().IntVar(&o.Signers, "signers", 0, "one 128-bit token per signer (EXTENDED encryption) instead of one 64-bit token for all")
	return withJSONFields(cmd, bsmsTokenJSON{})
}

type bsmsTokenJSON struct {
	Mode   string          `json:"mode"`
	Tokens []bsmsTokenForm `json:"tokens"`
}

type bsmsTokenForm struct {
	Hex     string `json:"hex"`
	Decimal string `json:"decimal"`
	Words   string `json:"words,omitempty"`
}

func bsmsTokenRun(_ context.Context, o *BSMSTokenOptions) error {
	ts, err := coordinator.NewBSMSTokens(o.Signers)
	if err != nil {
		return err
	}
	j := bsmsTokenJSON{Mode: "STANDARD"}
	if o.Signers > 0 {
		j.Mode = "EXTENDED"
	}
	for _, t := range ts {
		dec, err := formats.BSMSTokenDecimal(t)
		if err != nil {
			return err
		}
		form := bsmsTokenForm{Hex: t, Decimal: dec}
		if o.Signers == 0 {
			if form.Words, err = formats.BSMSTokenWords(t); err != nil {
				return err
			}
		}
		j.Tokens = append(j.Tokens, form)
	}
	if o.JSON {
		return writeJSON(o.IO.Out, j)
	}
	for i, t := range j.Tokens {
		switch {
		case o.Signers == 0:
			fmt.Fprintf(o.IO.Out, "Token (STANDARD, for every signer): %s\n  decimal: %s\n  words:   %s\n", t.Hex, t.Decimal, t.Words)
		default:
			fmt.Fprintf(o.IO.Out, "Token for signer %d (EXTENDED): %s\n  decimal: %s\n", i+1, t.Hex, t.Decimal)
		}
	}
	return nil
}
