package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/countersign/countersign/descriptor"
)

// walletCreateInteractive asks for everything `wallet create` needs, shows
// a summary, and fills o. It runs only when stdin and stderr are terminals
// and no flags were given.
func walletCreateInteractive(ctx context.Context, f *Factory, p Prompter, o *WalletCreateOptions) error {
	w := f.IO.ErrOut
	fmt.Fprintln(w, "Create a multisig wallet. Press Enter to accept the [default]; Ctrl-D cancels.")
	var err error
	if o.Name == "" {
		for {
			if o.Name, err = p.Input("Wallet name", ""); err != nil {
				return err
			}
			if checkWalletName(o.Name) == nil {
				break
			}
			fmt.Fprintln(w, "  Use 1-64 letters, digits, space, '.', '_' or '-'.")
		}
	}
	nets := []string{"mainnet", "testnet", "signet", "regtest"}
	if o.Network == "" {
		i, err := p.Select("Network", nets, 0)
		if err != nil {
			return err
		}
		o.Network = nets[i]
	}
	scripts := []string{"wsh", "sh-wsh", "sh"}
	i, err := p.Select("Script type", []string{"wsh — native segwit (recommended: lowest fees)", "sh-wsh — nested segwit (for old wallets that cannot pay bc1 addresses)", "sh — legacy P2SH (only for existing legacy setups)"}, 0)
	if err != nil {
		return err
	}
	o.Script = scripts[i]
	n := askNumber(p, w, "How many cosigners (N)", 3, 1, 20)
	if n == 0 {
		return errCancelled
	}
	o.Threshold = askNumber(p, w, fmt.Sprintf("Signatures required (M of %d)", n), n/2+1, 1, n)
	if o.Threshold == 0 {
		return errCancelled
	}
	for k := 1; k <= n; k++ {
		kind, err := p.Select(fmt.Sprintf("Cosigner %d of %d: where is the key?", k, n), []string{"an attached signer (USB or emulator) or a software key", "paste a key [fingerprint/path]xpub", "a file holding the key"}, 0)
		if err != nil {
			return err
		}
		var spec string
		if kind == 0 {
			// Nothing attached is a reason to choose again, not to lose
			// the answers given so far.
			if spec, err = chooseSigner(ctx, f, p); err != nil {
				var ue *usageError
				if errors.As(err, &ue) {
					fmt.Fprintf(w, "  %v\n", err)
					k--
					continue
				}
				return err
			}
		}
		label, err := p.Input("Label for this cosigner (e.g. alice)", fmt.Sprintf("cosigner%d", k))
		if err != nil {
			return err
		}
		var key string
		switch kind {
		case 0:
			co, err := f.Coordinator()
			if err != nil {
				return err
			}
			script, err := descriptor.ParseScriptType(o.Script)
			if err != nil {
				return err
			}
			c, err := cosignerFromDevice(ctx, o, co, spec, script)
			if err != nil {
				return err
			}
			key = c.Key.String()
		case 1:
			if key, err = p.Input("Key", ""); err != nil {
				return err
			}
		case 2:
			path, err := p.Input("File", "")
			if err != nil {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return usagef("%v", err)
			}
			key = strings.TrimSpace(string(b))
		}
		o.Cosigners = append(o.Cosigners, label+"="+key)
	}
	fmt.Fprintf(w, "\nSummary: wallet %q, %d of %d, %s on %s\n", o.Name, o.Threshold, n, o.Script, o.Network)
	for k, c := range o.Cosigners {
		label, key, _ := strings.Cut(c, "=")
		fmt.Fprintf(w, "  %d. %-12s %s\n", k+1, label, abbreviateKey(key))
	}
	ok, err := p.Confirm("Create this wallet?", true)
	if err != nil {
		return err
	}
	if !ok {
		return errCancelled
	}
	return nil
}

func askNumber(p Prompter, w interface{ Write([]byte) (int, error) }, q string, def, lo, hi int) int {
	for {
		a, err := p.Input(q, strconv.Itoa(def))
		if err != nil {
			return 0
		}
		v, err := strconv.Atoi(a)
		if err == nil && v >= lo && v <= hi {
			return v
		}
		fmt.Fprintf(w, "  Enter a number from %d to %d.\n", lo, hi)
	}
}

// chooseSigner lists attached signers and software keys and returns a selector.
func chooseSigner(ctx context.Context, f *Factory, p Prompter) (string, error) {
	var specs, labels []string
	infos, err := f.Registry().Enumerate(ctx)
	if err != nil {
		return "", err
	}
	for _, i := range infos {
		if i.Error != "" {
			continue
		}
		specs = append(specs, i.Selector())
		labels = append(labels, fmt.Sprintf("%s (%s)", i.Selector(), orDash(i.Model)))
	}
	if ks, err := f.KeyStore(); err == nil {
		if keys, err := ks.List(); err == nil {
			for _, k := range keys {
				specs = append(specs, "key:"+k.Name)
				labels = append(labels, fmt.Sprintf("key:%s (software key %x)", k.Name, k.Fingerprint))
			}
		}
	}
	if len(specs) == 0 {
		return "", usagef("no signers attached and no software keys: plug in a device, or create one with `countersign key new`")
	}
	i, err := p.Select("Which signer?", labels, 0)
	if err != nil {
		return "", err
	}
	return specs[i], nil
}

func abbreviateKey(k string) string {
	if len(k) > 60 {
		return k[:40] + "…" + k[len(k)-12:]
	}
	return k
}
