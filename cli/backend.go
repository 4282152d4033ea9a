package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/countersign/countersign/coordinator"
	"github.com/countersign/countersign/descriptor"
)

func newCmdBackend(f *Factory) *cobra.Command {
	cmd := groupCmd(&cobra.Command{
		Use:   "backend",
		Short: "Choose the Bitcoin node or Esplora server countersign talks to",
		Long: `Save the chain backend globally or for one wallet. URL forms:
  btcd://user:pass@127.0.0.1:8334            btcd JSON-RPC
  core://user:pass@127.0.0.1:8332            Bitcoin Core JSON-RPC
  core+cookie:///home/me/.bitcoin/.cookie@127.0.0.1:8332   Core with its cookie file
  esplora+https://mempool.space/api          an Esplora REST server
The --backend flag overrides the saved one for a single command.`,
	})
	cmd.AddCommand(newCmdBackendSet(f, nil), newCmdBackendCheck(f, nil))
	return cmd
}

// BackendOptions are the inputs of `backend set` and `backend check`.
type BackendOptions struct {
	IO          *Streams
	JSON        bool
	Wallet      string
	URL         string
	Coordinator func() (*coordinator.Coordinator, error)
}

type backendSetJSON struct {
	Wallet  string `json:"wallet"`
	Backend string `json:"backend"`
}

func newCmdBackendSet(f *Factory, runF func(context.Context, *BackendOptions) error) *cobra.Command {
	o := &BackendOptions{IO: f.IO, Coordinator: f.Coordinator}
	cmd := &cobra.Command{
		Use:   "set URL",
		Short: "Save the backend URL (globally, or for --wallet NAME)",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.JSON = f.Global.JSON
			o.URL = args[0]
			if runF != nil {
				return runF(c.Context(), o)
			}
			return backendSetRun(c.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.Wallet, "wallet", "", "save for this wallet only")
	return withJSONFields(cmd, backendSetJSON{})
}

func backendSetRun(ctx context.Context, o *BackendOptions) error {
	co, err := o.Coordinator()
	if err != nil {
		return err
	}
	if err := co.SetBackend(ctx, o.Wallet, o.URL); err != nil {
		return err
	}
	if o.JSON {
		return writeJSON(o.IO.Out, backendSetJSON{Wallet: o.Wallet, Backend: redactedBackend(o.URL)})
	}
	fmt.Fprintf(o.IO.ErrOut, "Saved backend %s\n", safe(redactedBackend(o.URL)))
	return nil
}

type backendCheckJSON struct {
	Backend string `json:"backend"`
	Network string `json:"network"`
	Height  int32  `json:"height"`
	Tip     string `json:"tip"`
}

func newCmdBackendCheck(f *Factory, runF func(context.Context, *BackendOptions) error) *cobra.Command {
	o := &BackendOptions{IO: f.IO, Coordinator: f.Coordinator}
	cmd := &cobra.Command{
		Use:   "check [--wallet NAME]",
		Short: "Show the backend in use and check that it answers on the right network",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			o.JSON = f.Global.JSON
			if runF != nil {
				return runF(c.Context(), o)
			}
			return backendCheckRun(c.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.Wallet, "wallet", "", "check the backend this wallet uses")
	return withJSONFields(cmd, backendCheckJSON{})
}

func backendCheckRun(ctx context.Context, o *BackendOptions) error {
	co, err := o.Coordinator()
	if err != nil {
		return err
	}
	st, err := co.CheckBackend(ctx, o.Wallet)
	if err != nil {
		return err
	}
	out := backendCheckJSON{Backend: redactedBackend(st.URL), Network: descriptor.NetworkName(st.Network), Height: st.Height, Tip: st.Tip.String()}
	if o.JSON {
		return writeJSON(o.IO.Out, out)
	}
	fmt.Fprintf(o.IO.Out, "%s: %s, height %d (%s)\n", safe(out.Backend), out.Network, out.Height, out.Tip)
	return nil
}

// redactedBackend hides a password in a backend URL before printing it.
func redactedBackend(u string) string {
	at := strings.LastIndexByte(u, '@')
	scheme := strings.Index(u, "://")
	if at < 0 || scheme < 0 || at < scheme {
		return u
	}
	cred := u[scheme+3 : at]
	if colon := strings.IndexByte(cred, ':'); colon >= 0 {
		return u[:scheme+3] + cred[:colon] + ":***" + u[at:]
	}
	return u
}
