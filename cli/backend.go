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
The --backend flag overrides the saved one for a single command.

A URL that would send the RPC password or your wallets' addresses
unencrypted to another computer is refused: plain HTTP (core://,
core+cookie://, btcd:// without ?cert=, esplora+http://) to a host that is
neither this computer (127.0.0.1, ::1, localhost) nor a Tor .onion. Use
esplora+https://, btcd's TLS with ?cert=/path/to/rpc.cert, or an SSH
tunnel to a local port; on a network you trust end to end, --insecure
allows it for one command, and "backend set --insecure URL" saves that
permission with the URL (replacing the URL drops it).`,
	})
	cmd.AddCommand(newCmdBackendSet(f, nil), newCmdBackendCheck(f, nil))
	return cmd
}

// BackendOptions are the inputs of `backend set` and `backend check`.
type BackendOptions struct {
	IO     *Streams
	JSON   bool
	Wallet string
	URL    string
	// Insecure (the global --insecure) saves, with the URL, permission to
	// reach it unencrypted over the network.
	Insecure    bool
	Coordinator func() (*coordinator.Coordinator, error)
}

type backendSetJSON struct {
	Wallet   string `json:"wallet"`
	Backend  string `json:"backend"`
	Insecure bool   `json:"insecure"`
}

func newCmdBackendSet(f *Factory, runF func(context.Context, *BackendOptions) error) *cobra.Command {
	o := &BackendOptions{IO: f.IO, Coordinator: f.Coordinator}
	cmd := &cobra.Command{
		Use:   "set URL",
		Short: "Save the backend URL (globally, or for --wallet NAME)",
		Long: `Save the backend URL globally, or for --wallet NAME.

With --insecure, a plain-HTTP URL to another computer is accepted and the
permission is saved with it, so later commands need no flag; without it,
such a URL is refused (exit 4). See "countersign backend --help".`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.JSON = f.Global.JSON
			o.Insecure = f.Global.Insecure
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
	insecure, err := co.SetBackend(ctx, o.Wallet, o.URL, o.Insecure)
	if err != nil {
		return err
	}
	if o.JSON {
		return writeJSON(o.IO.Out, backendSetJSON{Wallet: o.Wallet, Backend: redactedBackend(o.URL), Insecure: insecure})
	}
	fmt.Fprintf(o.IO.ErrOut, "Saved backend %s\n", safe(redactedBackend(o.URL)))
	if insecure {
		fmt.Fprintf(o.IO.ErrOut, "warning: it is reached unencrypted; the RPC credentials and your addresses cross the network in clear\n")
	}
	return nil
}

type backendCheckJSON struct {
	Backend  string `json:"backend"`
	Network  string `json:"network"`
	Height   int32  `json:"height"`
	Tip      string `json:"tip"`
	Insecure bool   `json:"insecure"`
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
	out := backendCheckJSON{Backend: redactedBackend(st.URL), Network: descriptor.NetworkName(st.Network), Height: st.Height, Tip: st.Tip.String(), Insecure: st.Insecure}
	if o.JSON {
		return writeJSON(o.IO.Out, out)
	}
	fmt.Fprintf(o.IO.Out, "%s: %s, height %d (%s)\n", safe(out.Backend), out.Network, out.Height, out.Tip)
	if out.Insecure {
		fmt.Fprintf(o.IO.ErrOut, "warning: reached unencrypted (--insecure); credentials and addresses cross the network in clear\n")
	}
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
