package cli

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/countersign/countersign/wallet"
)

// WalletShowOptions are the inputs of `wallet show`.
type WalletShowOptions struct {
	IO    *Streams
	Store func() (*wallet.Store, error)
	JSON  bool
	Name  string
}

func newCmdWalletShow(f *Factory, runF func(context.Context, *WalletShowOptions) error) *cobra.Command {
	o := &WalletShowOptions{IO: f.IO, Store: f.Store}
	return &cobra.Command{
		Use:   "show NAME",
		Short: "Show a wallet: descriptor, policy, cosigners and first address",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.JSON = f.Global.JSON
			o.Name = args[0]
			if runF != nil {
				return runF(c.Context(), o)
			}
			return walletShowRun(c.Context(), o)
		},
	}
}

func walletShowRun(ctx context.Context, o *WalletShowOptions) error {
	s, err := o.Store()
	if err != nil {
		return err
	}
	l, err := loadWallet(ctx, s, o.Name)
	if err != nil {
		return err
	}
	regs, err := s.Registrations(ctx, o.Name)
	if err != nil {
		return err
	}
	return renderWalletShow(o.IO, o.JSON, l, regs)
}

type cosignerJSON struct {
	Position    int            `json:"position"`
	Label       string         `json:"label"`
	Fingerprint string         `json:"fingerprint"`
	Path        string         `json:"path"`
	Xpub        string         `json:"xpub"`
	Registered  []registration `json:"registrations"`
}

type registration struct {
	Device       string    `json:"device"`
	RegisteredAt time.Time `json:"registered_at"`
	NameOnDevice string    `json:"name_on_device,omitempty"`
}

type walletJSON struct {
	Name         string         `json:"name"`
	Descriptor   string         `json:"descriptor"`
	Policy       string         `json:"policy"`
	Script       string         `json:"script"`
	Network      string         `json:"network"`
	Threshold    int            `json:"threshold"`
	N            int            `json:"n"`
	Cosigners    []cosignerJSON `json:"cosigners"`
	FirstAddress string         `json:"first_address"`
	NextReceive  uint32         `json:"next_receive_index"`
	NextChange   uint32         `json:"next_change_index"`
	BirthHeight  int32          `json:"birth_height"`
	Backend      string         `json:"backend,omitempty"`
	CreatedAt    time.Time      `json:"created_at"`
}

func walletView(l *loaded, regs []wallet.Registration) (*walletJSON, error) {
	first, err := l.D.Derive(0, 0, l.Net)
	if err != nil {
		return nil, err
	}
	out := &walletJSON{
		Name:         l.W.Name,
		Descriptor:   l.D.String(),
		Policy:       l.D.Policy(),
		Script:       l.D.Script.String(),
		Network:      l.W.Network,
		Threshold:    l.D.Threshold,
		N:            l.D.N(),
		FirstAddress: first.Address,
		NextReceive:  l.W.NextReceive,
		NextChange:   l.W.NextChange,
		BirthHeight:  l.W.BirthHeight,
		Backend:      redactedBackend(l.W.Backend),
		CreatedAt:    l.W.CreatedAt.UTC(),
	}
	for i, k := range l.D.Keys {
		c := cosignerJSON{Position: i + 1, Registered: []registration{}}
		if i < len(l.W.Labels) {
			c.Label = l.W.Labels[i]
		}
		if k.Origin != nil {
			c.Fingerprint = hex.EncodeToString(k.Origin.Fingerprint[:])
			c.Path = formatPath(k.Origin.Path)
		}
		if k.XPub != nil {
			c.Xpub = k.XPub.String()
		}
		for _, r := range regs {
			if c.Fingerprint != "" && strings.EqualFold(r.Fingerprint, c.Fingerprint) {
				c.Registered = append(c.Registered, registration{Device: r.DeviceType, RegisteredAt: r.RegisteredAt.UTC(), NameOnDevice: r.NameOnDevice})
			}
		}
		out.Cosigners = append(out.Cosigners, c)
	}
	return out, nil
}

func renderWalletShow(s *Streams, asJSON bool, l *loaded, regs []wallet.Registration) error {
	v, err := walletView(l, regs)
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(s.Out, v)
	}
	w := s.Out
	fmt.Fprintf(w, "Wallet:      %s\n", v.Name)
	fmt.Fprintf(w, "Policy:      %s (%s, %s)\n", v.Policy, scriptLabel(v.Script), v.Network)
	fmt.Fprintf(w, "Descriptor:  %s\n", v.Descriptor)
	fmt.Fprintf(w, "First address: %s\n", v.FirstAddress)
	fmt.Fprintf(w, "Next index:  receive %d, change %d\n", v.NextReceive, v.NextChange)
	fmt.Fprintln(w, "Cosigners:")
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  #\tFINGERPRINT\tLABEL\tPATH\tREGISTERED ON DEVICE")
	for _, c := range v.Cosigners {
		reg := "no"
		if len(c.Registered) > 0 {
			reg = fmt.Sprintf("yes (%s, %s)", c.Registered[0].Device, c.Registered[0].RegisteredAt.Format("2006-01-02"))
		}
		fp, label, path := orDash(c.Fingerprint), orDash(c.Label), orDash(c.Path)
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%s\n", c.Position, fp, label, path, reg)
	}
	return tw.Flush()
}

func scriptLabel(s string) string {
	switch s {
	case "wsh":
		return "P2WSH native segwit"
	case "sh-wsh":
		return "P2SH-P2WSH nested segwit"
	case "sh":
		return "P2SH legacy"
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
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
