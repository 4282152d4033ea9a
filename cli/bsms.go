package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/countersign/countersign/coordinator"
	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/descriptor/formats"
)

func newCmdBSMS(f *Factory) *cobra.Command {
	cmd := groupCmd(&cobra.Command{
		Use:   "bsms",
		Short: "BIP-129 (BSMS) setup sessions: tokens, and key records of software keys",
		Long: `A BIP-129 Bitcoin Secure Multisig Setup, with countersign as the coordinator:

 1. countersign bsms token            the session's token, for every signer
    (or --signers N: one token per signer, EXTENDED encryption);
 2. each signer makes a key record with it (round 1) and sends it back;
 3. countersign wallet create NAME --threshold M --bsms-record FILE ...
    --bsms-token TOKEN   verifies each record and creates the wallet;
 4. countersign wallet export NAME --format bsms --encrypt TOKEN -o FILE
    gives the signers the encrypted descriptor record (round 2), which
    they check against their key and the first address.

When someone else coordinates, countersign bsms record --with key:NAME
--token TOKEN makes a software key's round-1 key record.`,
	})
	cmd.AddCommand(newCmdBSMSToken(f, nil), newCmdBSMSRecord(f, nil))
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

// BSMSRecordOptions are the inputs of `bsms record`.
type BSMSRecordOptions struct {
	IO          *Streams
	OpenKey     func(ctx context.Context, name, passphraseFile string) (softKey, error)
	JSON        bool
	With        string
	Token       string
	Script      string
	Account     uint32
	Path        string
	Description string
	Output      string
	Passphrase  string
}

func newCmdBSMSRecord(f *Factory, runF func(context.Context, *BSMSRecordOptions) error) *cobra.Command {
	o := &BSMSRecordOptions{IO: f.IO, OpenKey: f.openUnlockedOrSoftKey}
	cmd := &cobra.Command{
		Use:   "record --with key:NAME --token TOKEN [-o FILE]",
		Short: "Make a software key's BSMS key record (round 1, as a signer)",
		Long: `Make the BIP-129 key record of a software key, as a signer does in round 1 of
a BSMS setup that someone else coordinates (a Coldcard, Specter, another
countersign): the key's multisig xpub with its origin, a description, and
the key's signature of them (a Bitcoin signed message by the private key of
that xpub), encrypted with the setup's token unless the token is 00.

The xpub is at the BIP-48 path of --script (wsh: m/48h/COINh/ACCOUNTh/2h,
sh-wsh: 1h, tr: 3h; sh: BIP-45's m/45h), COIN 0 on mainnet and 1 on the test
networks, or at --path. --token is the coordinator's token as hex, as the
six words, or as its decimal number (a decimal of exactly 16 or 32 digits
reads as hex too: give it as 0x... or as words then). Send the file to the
coordinator; countersign wallet create --bsms-record FILE reads it. An
unlocked key (countersign key unlock) makes the record without the
passphrase; the record it returns is checked as a coordinator reads it.`,
		Example: `  countersign bsms record --with key:office --token 0x1f7c5a3bd9e2a681 --description "office laptop" -o office.dat
  countersign bsms record --with key:office --token 00 --script tr`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			o.JSON = f.Global.JSON
			if !strings.HasPrefix(o.With, "key:") || len(o.With) == len("key:") {
				return usagef("--with key:NAME: countersign makes key records for its software keys (countersign key list); a device makes its own")
			}
			if o.Token == "" {
				return usagef("--token is required: the token the coordinator gave (00 for a setup without encryption)")
			}
			if runF != nil {
				return runF(c.Context(), o)
			}
			return bsmsRecordRun(c.Context(), o)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.With, "with", "", "the software key: key:NAME")
	fl.StringVar(&o.Token, "token", "", "the setup's token: hex, six words or decimal; 00 for none")
	fl.StringVar(&o.Script, "script", "wsh", "the wallet's script type, for the BIP-48 path: wsh, sh-wsh, sh or tr")
	fl.Uint32Var(&o.Account, "account", 0, "the BIP-48 account")
	fl.StringVar(&o.Path, "path", "", "the xpub's path instead of the BIP-48 one, e.g. m/48h/0h/0h/2h")
	fl.StringVar(&o.Description, "description", "", "the record's description line (80 characters at most)")
	fl.StringVarP(&o.Output, "output", "o", "", "write the record here (default: stdout)")
	fl.StringVar(&o.Passphrase, "passphrase-file", "", "key-store passphrase file")
	return withJSONFields(cmd, bsmsRecordJSON{})
}

type bsmsRecordJSON struct {
	Key         string `json:"key"`
	Description string `json:"description"`
	Token       string `json:"token"`
	Encrypted   bool   `json:"encrypted"`
	File        string `json:"file,omitempty"`
	Record      string `json:"record"`
}

// bsmsRecordToken reads --token as one token: a form that could be two
// (16 or 32 decimal digits, which read as hex too) is refused, as the
// coordinator would not be able to read the record.
func bsmsRecordToken(s string) (string, error) {
	cs, err := formats.BSMSTokenCandidates(s)
	if err != nil {
		return "", usagef("--token: %v", err)
	}
	switch len(cs) {
	case 0:
		return formats.BSMSNoEncryption, nil
	case 1:
		return cs[0], nil
	}
	return "", usagef("--token %s reads as hex and as a decimal number: give it as 0x%s if it is hex, or as the six words", s, cs[0])
}

func bsmsRecordRun(ctx context.Context, o *BSMSRecordOptions) error {
	token, err := bsmsRecordToken(o.Token)
	if err != nil {
		return err
	}
	k, err := o.OpenKey(ctx, strings.TrimPrefix(o.With, "key:"), o.Passphrase)
	if err != nil {
		return err
	}
	defer k.Close()
	var path descriptor.Path
	if o.Path != "" {
		if path, err = parsePathFlag(o.Path); err != nil {
			return err
		}
	} else {
		st, err := descriptor.ParseScriptType(o.Script)
		if err != nil {
			return usagef("--script: %v", err)
		}
		if path, err = descriptor.MultisigPath(k.Network(), st, o.Account); err != nil {
			return usagef("%v", err)
		}
	}
	rec, err := k.BSMSKeyRecord(ctx, token, o.Description, path)
	if err != nil {
		return err
	}
	data, err := rec.File()
	if err != nil {
		return err
	}
	if o.Output != "" && o.Output != "-" {
		if err := writeOutput(o.IO, o.Output, data); err != nil {
			return err
		}
	}
	if o.JSON {
		return writeJSON(o.IO.Out, bsmsRecordJSON{Key: rec.KeyText, Description: rec.Description, Token: token,
			Encrypted: token != formats.BSMSNoEncryption, File: o.Output, Record: string(data)})
	}
	if o.Output == "" || o.Output == "-" {
		_, err := o.IO.Out.Write(append(data, '\n'))
		return err
	}
	fmt.Fprintf(o.IO.ErrOut, "Wrote the key record of %s (%s) to %s: send it to the coordinator.\n", safe(o.With), safe(rec.KeyText), safe(o.Output))
	return nil
}
