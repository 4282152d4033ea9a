package cli

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/countersign/countersign/hw/soft"
)

func newCmdKey(f *Factory) *cobra.Command {
	cmd := groupCmd(&cobra.Command{
		Use:   "key",
		Short: "Software signing keys, encrypted on this computer",
		Long: `A software key is a BIP-32 master key kept in <data-dir>/keys, encrypted with
a passphrase (age, scrypt). It can be one cosigner of a wallet, typically the
least trusted one: hardware signers keep their keys off this computer.

The passphrase comes from --passphrase-file (readable by its owner only),
$COUNTERSIGN_PASSPHRASE, or a prompt at the terminal; never from a flag
value. A new key's passphrase has at least 10 characters. A mnemonic's
BIP-39 passphrase likewise comes from --bip39-passphrase-file,
--ask-bip39-passphrase or $COUNTERSIGN_BIP39_PASSPHRASE.`,
	})
	cmd.AddCommand(newCmdKeyNew(f, nil), newCmdKeyImport(f, nil), newCmdKeyXpub(f, nil), newCmdKeyList(f, nil), newCmdKeyNpub(f, nil),
		newCmdKeyUnlock(f), newCmdKeyLock(f), newCmdKeyAgent(f))
	return cmd
}

// KeyOptions are the inputs of the `key` commands.
type KeyOptions struct {
	IO             *Streams
	JSON           bool
	Name           string
	Network        string // --key-network, else --network, else mainnet
	Words          int
	SecretFile     string
	BIP39File      string
	AskBIP39       bool
	BIP39Flag      string // the old --bip39-passphrase VALUE: refused
	PassphraseFile string
	KeyStore       func() (*soft.Store, error)
	Passphrase     func(file, prompt string, newKey bool) ([]byte, error)
	BIP39          func(file string, ask bool) (string, error)
}

func newKeyOptions(f *Factory) *KeyOptions {
	return &KeyOptions{IO: f.IO, KeyStore: f.KeyStore, Passphrase: f.passphrase, BIP39: f.bip39Passphrase}
}

// keyRun wraps a key command's RunE: options from flags, then runF or run.
func keyRun(f *Factory, o *KeyOptions, netFlag *string, run, runF func(context.Context, *KeyOptions) error) func(*cobra.Command, []string) error {
	return func(c *cobra.Command, args []string) error {
		o.JSON = f.Global.JSON
		if len(args) > 0 {
			o.Name = args[0]
		}
		o.Network = f.Global.Network
		if netFlag != nil && *netFlag != "" {
			o.Network = *netFlag
		}
		if runF != nil {
			return runF(c.Context(), o)
		}
		return run(c.Context(), o)
	}
}

type keyNewJSON struct {
	Name        string `json:"name"`
	Fingerprint string `json:"fingerprint"`
	Network     string `json:"network"`
	Mnemonic    string `json:"mnemonic"`
}

func newCmdKeyNew(f *Factory, runF func(context.Context, *KeyOptions) error) *cobra.Command {
	o := newKeyOptions(f)
	var netFlag string
	cmd := &cobra.Command{
		Use:   "new NAME",
		Short: "Generate a key; its BIP-39 mnemonic is shown once — write it down",
		Args:  cobra.ExactArgs(1),
	}
	cmd.RunE = keyRun(f, o, &netFlag, keyNewRun, runF)
	cmd.Flags().IntVar(&o.Words, "words", 24, "mnemonic length: 12 or 24 words")
	cmd.Flags().StringVar(&o.PassphraseFile, "passphrase-file", "", "read the key-store passphrase from this file")
	cmd.Flags().StringVar(&netFlag, "key-network", "", "network the key is for (default --network, else mainnet)")
	return withJSONFields(cmd, keyNewJSON{})
}

func keyNewRun(ctx context.Context, o *KeyOptions) error {
	if o.Words != 12 && o.Words != 24 {
		return usagef("--words must be 12 or 24")
	}
	net, err := networkOrMainnet(o.Network)
	if err != nil {
		return err
	}
	ks, err := o.KeyStore()
	if err != nil {
		return err
	}
	pass, err := o.Passphrase(o.PassphraseFile, "Passphrase to encrypt the key: ", true)
	if err != nil {
		return err
	}
	mnemonic, info, err := ks.Generate(o.Name, o.Words, net, pass)
	if err != nil {
		return err
	}
	if o.JSON {
		return writeJSON(o.IO.Out, keyNewJSON{Name: info.Name, Fingerprint: hex.EncodeToString(info.Fingerprint[:]), Network: info.Network, Mnemonic: mnemonic})
	}
	fmt.Fprintf(o.IO.ErrOut, "Key %q created (fingerprint %x). Write these %d words down and keep them offline;\nthey are shown only this once and restore the key anywhere:\n\n", info.Name, info.Fingerprint, o.Words)
	fmt.Fprintln(o.IO.Out, mnemonic)
	return nil
}

type keyInfoJSON struct {
	Name        string `json:"name"`
	Fingerprint string `json:"fingerprint"`
	Network     string `json:"network"`
	Kind        string `json:"kind"`
}

func newCmdKeyImport(f *Factory, runF func(context.Context, *KeyOptions) error) *cobra.Command {
	o := newKeyOptions(f)
	var netFlag string
	cmd := &cobra.Command{
		Use:   "import NAME --secret-file FILE",
		Short: "Import a BIP-39 mnemonic or an xprv/tprv as a software key",
		Args:  cobra.ExactArgs(1),
	}
	cmd.RunE = keyRun(f, o, &netFlag, keyImportRun, runF)
	cmd.Flags().StringVar(&o.SecretFile, "secret-file", "", "file holding the mnemonic or xprv (- for stdin)")
	cmd.Flags().StringVar(&o.BIP39File, "bip39-passphrase-file", "", "read the mnemonic's BIP-39 passphrase (\"25th word\") from this file")
	cmd.Flags().BoolVar(&o.AskBIP39, "ask-bip39-passphrase", false, "type the mnemonic's BIP-39 passphrase at the terminal")
	// The old form took the secret as a flag value, visible in ps and
	// shell history: it is refused, saying what to use instead.
	cmd.Flags().StringVar(&o.BIP39Flag, "bip39-passphrase", "", "")
	cmd.Flags().MarkHidden("bip39-passphrase")
	cmd.Flags().StringVar(&o.PassphraseFile, "passphrase-file", "", "read the key-store passphrase from this file")
	cmd.Flags().StringVar(&netFlag, "key-network", "", "network the key is for (default --network, else mainnet)")
	return withJSONFields(cmd, keyInfoJSON{})
}

func keyImportRun(ctx context.Context, o *KeyOptions) error {
	if o.SecretFile == "" {
		return usagef("--secret-file FILE is required (the mnemonic or xprv; - for stdin); secrets are never taken from flag values")
	}
	if o.BIP39Flag != "" {
		return usagef("a BIP-39 passphrase is never taken from a flag value (ps and shell history show it): use --bip39-passphrase-file FILE, --ask-bip39-passphrase, or COUNTERSIGN_BIP39_PASSPHRASE")
	}
	bip39Pass, err := o.BIP39(o.BIP39File, o.AskBIP39)
	if err != nil {
		return err
	}
	b, err := readInput(o.IO, o.SecretFile)
	if err != nil {
		return err
	}
	net, err := networkOrMainnet(o.Network)
	if err != nil {
		return err
	}
	ks, err := o.KeyStore()
	if err != nil {
		return err
	}
	pass, err := o.Passphrase(o.PassphraseFile, "Passphrase to encrypt the key: ", true)
	if err != nil {
		return err
	}
	info, err := ks.Import(o.Name, strings.TrimSpace(string(b)), bip39Pass, net, pass)
	if err != nil {
		return err
	}
	if o.JSON {
		return writeJSON(o.IO.Out, keyInfoJSON{Name: info.Name, Fingerprint: hex.EncodeToString(info.Fingerprint[:]), Network: info.Network, Kind: string(info.Kind)})
	}
	fmt.Fprintf(o.IO.Out, "Key %q imported (fingerprint %x, %s).\n", info.Name, info.Fingerprint, info.Network)
	return nil
}

func newCmdKeyXpub(f *Factory, runF func(context.Context, *DeviceXpubOptions) error) *cobra.Command {
	o := &DeviceXpubOptions{IO: f.IO, Open: f.OpenSigner}
	var path string
	cmd := &cobra.Command{
		Use:   "xpub NAME --path P",
		Short: "Print the key's extended public key at a path, with its origin",
		Example: `  countersign key xpub alice --path "m/48h/0h/0h/2h"
  countersign wallet create w --threshold 2 --cosigner "$(countersign key xpub alice --path m/48h/1h/0h/2h)" ...`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.JSON = f.Global.JSON
			o.With = "key:" + args[0]
			p, err := parsePathFlag(path)
			if err != nil {
				return err
			}
			o.Path = p
			if runF != nil {
				return runF(c.Context(), o)
			}
			return deviceXpubRun(c.Context(), o)
		},
	}
	cmd.Flags().StringVar(&path, "path", "", "BIP-32 path, e.g. m/48h/0h/0h/2h")
	cmd.Flags().StringVar(&o.Signer.PassphraseFile, "passphrase-file", "", "read the key-store passphrase from this file")
	return withJSONFields(cmd, xpubJSON{})
}

type keyListJSON struct {
	Name        string    `json:"name"`
	Fingerprint string    `json:"fingerprint"`
	Network     string    `json:"network"`
	Kind        string    `json:"kind"`
	Created     time.Time `json:"created"`
	// UnlockedUntil is when an unlocked key (key unlock) locks itself.
	UnlockedUntil *time.Time `json:"unlocked_until,omitempty"`
}

func newCmdKeyList(f *Factory, runF func(context.Context, *KeyOptions) error) *cobra.Command {
	o := newKeyOptions(f)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List software keys (no passphrase needed)",
		Args:  cobra.NoArgs,
	}
	cmd.RunE = keyRun(f, o, nil, keyListRun, runF)
	return withJSONFields(cmd, keyListJSON{})
}

func keyListRun(ctx context.Context, o *KeyOptions) error {
	ks, err := o.KeyStore()
	if err != nil {
		return err
	}
	infos, err := ks.List()
	if err != nil {
		return err
	}
	out := []keyListJSON{}
	for _, i := range infos {
		k := keyListJSON{Name: i.Name, Fingerprint: hex.EncodeToString(i.Fingerprint[:]), Network: i.Network, Kind: string(i.Kind), Created: i.Created.UTC()}
		if a, ok, err := ks.DialAgent(ctx, i.Name); err == nil && ok {
			until := a.Until().UTC()
			k.UnlockedUntil = &until
		}
		out = append(out, k)
	}
	if o.JSON {
		return writeJSON(o.IO.Out, out)
	}
	tw := tabwriter.NewWriter(o.IO.Out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tFINGERPRINT\tNETWORK\tKIND\tUNLOCKED")
	for _, i := range out {
		unlocked := "no"
		if i.UnlockedUntil != nil {
			unlocked = "until " + i.UnlockedUntil.Local().Format(time.DateTime)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", safe(i.Name), i.Fingerprint, i.Network, i.Kind, unlocked)
	}
	return tw.Flush()
}
