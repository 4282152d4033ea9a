package cli

import (
	"encoding/hex"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/spf13/cobra"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/hw/soft"
)

func newCmdKey(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "key",
		Short: "Software signing keys, encrypted on this computer",
		Long: `A software key is a BIP-32 master key kept in <data-dir>/keys, encrypted with
a passphrase (age, scrypt). It can be one cosigner of a wallet, typically the
least trusted one: hardware signers keep their keys off this computer.

The passphrase comes from --passphrase-file, $COUNTERSIGN_PASSPHRASE, or a
prompt at the terminal; never from a flag value.`,
	}
	var (
		passFile string
		words    int
		netName  string
	)
	networkOf := func() (*chaincfg.Params, error) {
		name := netName
		if name == "" {
			name = f.Global.Network
		}
		if name == "" {
			name = "mainnet"
		}
		n, err := descriptor.NetworkParams(name)
		if err != nil {
			return nil, usagef("--network: %v", err)
		}
		return n, nil
	}
	newKey := &cobra.Command{
		Use:   "new NAME",
		Short: "Generate a key; its BIP-39 mnemonic is shown once — write it down",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if words != 12 && words != 24 {
				return usagef("--words must be 12 or 24")
			}
			net, err := networkOf()
			if err != nil {
				return err
			}
			ks, err := f.KeyStore()
			if err != nil {
				return err
			}
			pass, err := f.passphrase(passFile, "Passphrase to encrypt the key: ", true)
			if err != nil {
				return err
			}
			mnemonic, info, err := ks.Generate(args[0], words, net, pass)
			if err != nil {
				return err
			}
			if f.Global.JSON {
				return writeJSON(f.IO.Out, map[string]any{"name": info.Name, "fingerprint": hex.EncodeToString(info.Fingerprint[:]), "network": info.Network, "mnemonic": mnemonic})
			}
			fmt.Fprintf(f.IO.ErrOut, "Key %q created (fingerprint %x). Write these %d words down and keep them offline;\nthey are shown only this once and restore the key anywhere:\n\n", info.Name, info.Fingerprint, words)
			fmt.Fprintln(f.IO.Out, mnemonic)
			return nil
		},
	}
	newKey.Flags().IntVar(&words, "words", 24, "mnemonic length: 12 or 24 words")
	var secretFile, bip39Pass string
	importKey := &cobra.Command{
		Use:   "import NAME --secret-file FILE",
		Short: "Import a BIP-39 mnemonic or an xprv/tprv as a software key",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if secretFile == "" {
				return usagef("--secret-file FILE is required (the mnemonic or xprv; - for stdin); secrets are never taken from flag values")
			}
			b, err := readInput(f.IO, secretFile)
			if err != nil {
				return err
			}
			net, err := networkOf()
			if err != nil {
				return err
			}
			ks, err := f.KeyStore()
			if err != nil {
				return err
			}
			pass, err := f.passphrase(passFile, "Passphrase to encrypt the key: ", true)
			if err != nil {
				return err
			}
			info, err := ks.Import(args[0], strings.TrimSpace(string(b)), bip39Pass, net, pass)
			if err != nil {
				return err
			}
			return renderKeyInfo(f, info)
		},
	}
	importKey.Flags().StringVar(&secretFile, "secret-file", "", "file holding the mnemonic or xprv (- for stdin)")
	importKey.Flags().StringVar(&bip39Pass, "bip39-passphrase", "", "the mnemonic's BIP-39 passphrase (\"25th word\"), if it has one")
	var path string
	xpub := &cobra.Command{
		Use:   "xpub NAME --path P",
		Short: "Print the key's extended public key at a path, with its origin",
		Example: `  countersign key xpub alice --path "m/48h/0h/0h/2h"
  countersign wallet create w --threshold 2 --cosigner "$(countersign key xpub alice --path m/48h/1h/0h/2h)" ...`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			p, err := parsePath(path)
			if err != nil {
				return err
			}
			ks, err := f.KeyStore()
			if err != nil {
				return err
			}
			pass, err := f.passphrase(passFile, "Passphrase for key "+args[0]+": ", false)
			if err != nil {
				return err
			}
			sg, err := ks.Open(args[0], pass)
			if err != nil {
				return err
			}
			defer sg.Close()
			fp, err := sg.Fingerprint(c.Context())
			if err != nil {
				return err
			}
			x, err := sg.Xpub(c.Context(), p)
			if err != nil {
				return err
			}
			expr := fmt.Sprintf("[%x%s]%s", fp, strings.TrimPrefix(formatPath(p), "m"), x.String())
			if f.Global.JSON {
				return writeJSON(f.IO.Out, map[string]string{"fingerprint": hex.EncodeToString(fp[:]), "path": formatPath(p), "xpub": x.String(), "key": expr})
			}
			fmt.Fprintln(f.IO.Out, expr)
			return nil
		},
	}
	xpub.Flags().StringVar(&path, "path", "", "BIP-32 path, e.g. m/48h/0h/0h/2h")
	list := &cobra.Command{
		Use:   "list",
		Short: "List software keys (no passphrase needed)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			ks, err := f.KeyStore()
			if err != nil {
				return err
			}
			infos, err := ks.List()
			if err != nil {
				return err
			}
			type item struct {
				Name        string    `json:"name"`
				Fingerprint string    `json:"fingerprint"`
				Network     string    `json:"network"`
				Kind        string    `json:"kind"`
				Created     time.Time `json:"created"`
			}
			out := []item{}
			for _, i := range infos {
				out = append(out, item{i.Name, hex.EncodeToString(i.Fingerprint[:]), i.Network, string(i.Kind), i.Created.UTC()})
			}
			if f.Global.JSON {
				return writeJSON(f.IO.Out, out)
			}
			tw := tabwriter.NewWriter(f.IO.Out, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tFINGERPRINT\tNETWORK\tKIND")
			for _, i := range out {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", i.Name, i.Fingerprint, i.Network, i.Kind)
			}
			return tw.Flush()
		},
	}
	for _, c := range []*cobra.Command{newKey, importKey, xpub} {
		c.Flags().StringVar(&passFile, "passphrase-file", "", "read the key-store passphrase from this file")
	}
	for _, c := range []*cobra.Command{newKey, importKey} {
		c.Flags().StringVar(&netName, "key-network", "", "network the key is for (default --network, else mainnet)")
	}
	cmd.AddCommand(newKey, importKey, xpub, list)
	return cmd
}

func renderKeyInfo(f *Factory, info soft.KeyInfo) error {
	if f.Global.JSON {
		return writeJSON(f.IO.Out, map[string]any{"name": info.Name, "fingerprint": hex.EncodeToString(info.Fingerprint[:]), "network": info.Network, "kind": info.Kind})
	}
	fmt.Fprintf(f.IO.Out, "Key %q imported (fingerprint %x, %s).\n", info.Name, info.Fingerprint, info.Network)
	return nil
}

// parsePath reads m/48h/0'/0h/2h into indexes.
func parsePath(s string) ([]uint32, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, usagef("--path is required, e.g. m/48h/0h/0h/2h")
	}
	s = strings.TrimPrefix(strings.TrimPrefix(s, "m"), "/")
	if s == "" {
		return nil, nil
	}
	var out []uint32
	for _, part := range strings.Split(s, "/") {
		hard := false
		if n := len(part); n > 0 && (part[n-1] == 'h' || part[n-1] == 'H' || part[n-1] == '\'') {
			hard, part = true, part[:n-1]
		}
		var v uint64
		if _, err := fmt.Sscanf(part, "%d", &v); err != nil || fmt.Sprint(v) != part || v >= descriptor.HardenedKeyStart {
			return nil, usagef("path step %q is not an index below 2^31", part)
		}
		if hard {
			v += descriptor.HardenedKeyStart
		}
		out = append(out, uint32(v))
	}
	return out, nil
}
