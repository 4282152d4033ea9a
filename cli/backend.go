package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/countersign/countersign/chain"
	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/wallet"
)

// backendURL resolves which backend a wallet uses: --backend, then the
// wallet's saved URL, then the global saved URL, then $COUNTERSIGN_BACKEND.
func (f *Factory) backendURL(ctx context.Context, s *wallet.Store, walletName string) (string, error) {
	if f.Global.Backend != "" {
		return f.Global.Backend, nil
	}
	if walletName != "" {
		w, err := s.Wallet(ctx, walletName)
		if err != nil {
			return "", err
		}
		if w.Backend != "" {
			return w.Backend, nil
		}
	}
	v, err := s.Setting(ctx, "", wallet.SettingBackend)
	if err == nil && v != "" {
		return v, nil
	}
	if err != nil && !errors.Is(err, wallet.ErrNotFound) {
		return "", err
	}
	if v := f.Getenv("COUNTERSIGN_BACKEND"); v != "" {
		return v, nil
	}
	return "", withHint(usagef("no chain backend configured"),
		"pass --backend URL, or save one: countersign backend set btcd://user:pass@127.0.0.1:18334",
		"forms: btcd://, core://user:pass@host:port, core+cookie:///path/.cookie@host:port, esplora+https://host/api")
}

// Backend opens the wallet's backend and refuses one on another network.
func (f *Factory) Backend(ctx context.Context, l *loaded) (chain.Backend, error) {
	s, err := f.Store()
	if err != nil {
		return nil, err
	}
	url, err := f.backendURL(ctx, s, l.W.Name)
	if err != nil {
		return nil, err
	}
	b, err := chain.Open(url)
	if err != nil {
		return nil, err
	}
	b = chain.WithRetry(b)
	if err := chain.CheckNetwork(ctx, b, l.Net); err != nil {
		return nil, err
	}
	return b, nil
}

func newCmdBackend(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "backend",
		Short: "Choose the Bitcoin node or Esplora server countersign talks to",
		Long: `Save the chain backend globally or for one wallet. URL forms:
  btcd://user:pass@127.0.0.1:8334            btcd JSON-RPC
  core://user:pass@127.0.0.1:8332            Bitcoin Core JSON-RPC
  core+cookie:///home/me/.bitcoin/.cookie@127.0.0.1:8332   Core with its cookie file
  esplora+https://mempool.space/api          an Esplora REST server
The --backend flag overrides the saved one for a single command.`,
	}
	var walletName string
	set := &cobra.Command{
		Use:   "set URL",
		Short: "Save the backend URL (globally, or for --wallet NAME)",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if _, err := chain.Open(args[0]); err != nil {
				return err
			}
			s, err := f.Store()
			if err != nil {
				return err
			}
			if walletName != "" {
				err = s.SetWalletBackend(c.Context(), walletName, args[0])
			} else {
				err = s.SetSetting(c.Context(), "", wallet.SettingBackend, args[0])
			}
			if err != nil {
				return err
			}
			if f.Global.JSON {
				return writeJSON(f.IO.Out, map[string]string{"wallet": walletName, "backend": redactedBackend(args[0])})
			}
			fmt.Fprintf(f.IO.ErrOut, "Saved backend %s\n", redactedBackend(args[0]))
			return nil
		},
	}
	set.Flags().StringVar(&walletName, "wallet", "", "save for this wallet only")
	show := &cobra.Command{
		Use:   "check [--wallet NAME]",
		Short: "Show the backend in use and check that it answers on the right network",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			s, err := f.Store()
			if err != nil {
				return err
			}
			url, err := f.backendURL(c.Context(), s, walletName)
			if err != nil {
				return err
			}
			b, err := chain.Open(url)
			if err != nil {
				return err
			}
			net, err := b.Network(c.Context())
			if err != nil {
				return err
			}
			if walletName != "" {
				l, err := loadWallet(c.Context(), s, walletName)
				if err != nil {
					return err
				}
				if err := chain.CheckNetwork(c.Context(), b, l.Net); err != nil {
					return err
				}
			}
			h, hash, err := b.Tip(c.Context())
			if err != nil {
				return err
			}
			out := map[string]any{"backend": redactedBackend(url), "network": descriptor.NetworkName(net), "height": h, "tip": hash.String()}
			if f.Global.JSON {
				return writeJSON(f.IO.Out, out)
			}
			fmt.Fprintf(f.IO.Out, "%s: %s, height %d (%s)\n", redactedBackend(url), descriptor.NetworkName(net), h, hash)
			return nil
		},
	}
	show.Flags().StringVar(&walletName, "wallet", "", "check the backend this wallet uses")
	cmd.AddCommand(set, show)
	return cmd
}
