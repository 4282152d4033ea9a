package cli

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/countersign/countersign/coordinator"
	"github.com/spf13/cobra"
)

// WalletShowOptions are the inputs of `wallet show`.
type WalletShowOptions struct {
	IO          *Streams
	Coordinator func() (*coordinator.Coordinator, error)
	JSON        bool
	Name        string
}

func newCmdWalletShow(f *Factory, runF func(context.Context, *WalletShowOptions) error) *cobra.Command {
	o := &WalletShowOptions{IO: f.IO, Coordinator: f.Coordinator}
	return withJSONFields(&cobra.Command{
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
	}, walletJSON{})
}

func walletShowRun(ctx context.Context, o *WalletShowOptions) error {
	co, err := o.Coordinator()
	if err != nil {
		return err
	}
	sum, err := co.Summary(ctx, o.Name)
	if err != nil {
		return err
	}
	return renderWalletShow(o.IO, o.JSON, sum)
}

type cosignerJSON struct {
	Position    int            `json:"position"`
	Label       string         `json:"label"`
	Fingerprint string         `json:"fingerprint"`
	Path        string         `json:"path"`
	Xpub        string         `json:"xpub"`
	Registered  []registration `json:"registrations"`
	// Replaced: the wallet was rotated and its successor lacks this key.
	Replaced bool `json:"replaced"`
}

type rotationJSON struct {
	Status        string  `json:"status"`
	Successor     *string `json:"successor"`
	Predecessor   *string `json:"predecessor"`
	RetiredHeight *int32  `json:"retired_height"`
}

type registration struct {
	Device       string    `json:"device"`
	RegisteredAt time.Time `json:"registered_at"`
	NameOnDevice string    `json:"name_on_device,omitempty"`
}

type walletJSON struct {
	Name          string         `json:"name"`
	Descriptor    string         `json:"descriptor"`
	Policy        string         `json:"policy"`
	Script        string         `json:"script"`
	Network       string         `json:"network"`
	Threshold     int            `json:"threshold"`
	N             int            `json:"n"`
	Cosigners     []cosignerJSON `json:"cosigners"`
	SpendingPaths []string       `json:"spending_paths,omitempty"`
	FirstAddress  string         `json:"first_address"`
	NextReceive   uint32         `json:"next_receive_index"`
	NextChange    uint32         `json:"next_change_index"`
	BirthHeight   int32          `json:"birth_height"`
	Backend       string         `json:"backend,omitempty"`
	CreatedAt     time.Time      `json:"created_at"`
	Rotation      *rotationJSON  `json:"rotation"`
	Paths         []pathJSON     `json:"paths"`
	SyncedHeight  int32          `json:"synced_height"`
}

// pathJSON is one spending path (see coordinator.PathSummary).
type pathJSON struct {
	Name        string         `json:"name"`
	Description string         `json:"description"`
	Keys        []int          `json:"keys"`
	Threshold   int            `json:"threshold"`
	Older       uint32         `json:"older"`
	After       uint32         `json:"after"`
	Coins       []coinLockJSON `json:"coins"`
}

type coinLockJSON struct {
	Outpoint    string     `json:"outpoint"`
	Value       int64      `json:"value_sat"`
	Height      int32      `json:"height"`
	OpensAt     int32      `json:"opens_at"`
	Open        bool       `json:"open"`
	OpensAround *time.Time `json:"opens_around,omitempty"`
	OpensTime   *time.Time `json:"opens_time,omitempty"`
	TimeUnknown string     `json:"time_unknown,omitempty"`
}

func walletView(sum *coordinator.WalletSummary) *walletJSON {
	w := sum.Wallet
	out := &walletJSON{
		Name:          w.Name,
		Descriptor:    w.Descriptor.String(),
		Policy:        w.Descriptor.Policy(),
		Script:        w.Descriptor.Script.String(),
		Network:       w.Wallet.Network,
		Threshold:     w.Descriptor.Threshold,
		N:             w.Descriptor.N(),
		FirstAddress:  sum.FirstAddress,
		NextReceive:   w.NextReceive,
		NextChange:    w.NextChange,
		BirthHeight:   w.BirthHeight,
		Backend:       redactedBackend(w.Backend),
		CreatedAt:     w.CreatedAt.UTC(),
		SyncedHeight:  sum.SyncedHeight,
		Paths:         []pathJSON{},
		SpendingPaths: w.Descriptor.SpendingPaths(),
	}
	for _, p := range sum.Paths {
		pj := pathJSON{Name: p.Name, Description: p.Description, Threshold: p.Threshold, Older: p.Older, After: p.After, Coins: []coinLockJSON{}}
		for _, k := range p.Keys {
			pj.Keys = append(pj.Keys, k+1)
		}
		for _, c := range p.Coins {
			cj := coinLockJSON{Outpoint: c.OutPoint.String(), Value: c.Value, Height: c.Height, OpensAt: c.OpensAt, Open: c.Open, TimeUnknown: c.TimeUnknown}
			if !c.OpensTime.IsZero() {
				at := c.OpensTime.UTC()
				cj.OpensTime = &at
			}
			if !c.Around.IsZero() {
				at := c.Around.UTC().Truncate(time.Minute)
				cj.OpensAround = &at
			}
			pj.Coins = append(pj.Coins, cj)
		}
		out.Paths = append(out.Paths, pj)
	}
	for _, cs := range sum.Cosigners {
		c := cosignerJSON{Position: cs.Position, Label: cs.Label, Fingerprint: cs.Fingerprint, Path: cs.Path, Xpub: cs.Xpub, Registered: []registration{}, Replaced: cs.Replaced}
		for _, r := range cs.Registrations {
			c.Registered = append(c.Registered, registration{Device: r.DeviceType, RegisteredAt: r.RegisteredAt.UTC(), NameOnDevice: r.NameOnDevice})
		}
		out.Cosigners = append(out.Cosigners, c)
	}
	if r := sum.Rotation; r != nil {
		out.Rotation = &rotationJSON{Status: r.Status}
		if r.Status == "" {
			out.Rotation.Status = "active"
		}
		if r.Successor != "" {
			out.Rotation.Successor = &r.Successor
		}
		if r.Predecessor != "" {
			out.Rotation.Predecessor = &r.Predecessor
		}
		if r.RetiredHeight > 0 {
			out.Rotation.RetiredHeight = &r.RetiredHeight
		}
	}
	return out
}

func renderWalletShow(s *Streams, asJSON bool, sum *coordinator.WalletSummary) error {
	v := walletView(sum)
	if asJSON {
		return writeJSON(s.Out, v)
	}
	w := s.Out
	fmt.Fprintf(w, "Wallet:      %s\n", safe(v.Name))
	fmt.Fprintf(w, "Policy:      %s (%s, %s)\n", v.Policy, scriptLabel(v.Script), v.Network)
	fmt.Fprintf(w, "Descriptor:  %s\n", v.Descriptor)
	fmt.Fprintf(w, "First address: %s\n", v.FirstAddress)
	fmt.Fprintf(w, "Next index:  receive %d, change %d\n", v.NextReceive, v.NextChange)
	if r := v.Rotation; r != nil {
		switch {
		case r.Status == "retired" && r.Successor != nil:
			fmt.Fprintf(w, "Rotation:    retired at height %d; coins moved to %s (a coin arriving here is reported by sync)\n", derefHeight(r.RetiredHeight), safe(*r.Successor))
		case r.Successor != nil:
			fmt.Fprintf(w, "Rotation:    rotating to %s: hands out no new address; retires when the sweep has confirmed\n", safe(*r.Successor))
		}
		if r.Predecessor != nil {
			fmt.Fprintf(w, "Succeeds:    %s\n", safe(*r.Predecessor))
		}
	}
	if len(v.Paths) > 1 {
		renderPaths(w, v)
	}
	if len(v.SpendingPaths) > 0 {
		fmt.Fprintln(w, "Spending paths:")
		for _, p := range v.SpendingPaths {
			fmt.Fprintf(w, "  - %s\n", p)
		}
	}
	fmt.Fprintln(w, "Cosigners:")
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  #\tFINGERPRINT\tLABEL\tPATH\tREGISTERED ON DEVICE")
	for _, c := range v.Cosigners {
		reg := "no"
		if len(c.Registered) > 0 {
			reg = fmt.Sprintf("yes (%s, %s)", safe(c.Registered[0].Device), c.Registered[0].RegisteredAt.Format("2006-01-02"))
		}
		fp, label, path := orDash(c.Fingerprint), safe(orDash(c.Label)), orDash(c.Path)
		if c.Replaced {
			label += " (rotated out)"
		}
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%s\n", c.Position, fp, label, path, reg)
	}
	return tw.Flush()
}

func derefHeight(h *int32) int32 {
	if h == nil {
		return 0
	}
	return *h
}

// renderPaths prints a miniscript wallet's spending paths and, for each
// locked one, when each coin's lock opens.
func renderPaths(w io.Writer, v *walletJSON) {
	fmt.Fprintln(w, "Spending paths:")
	for _, p := range v.Paths {
		fmt.Fprintf(w, "  %-10s %s\n", p.Name+":", safe(p.Description))
		for _, c := range p.Coins {
			timeLock := c.OpensTime != nil || c.TimeUnknown != ""
			switch {
			case timeLock && c.OpensTime == nil:
				fmt.Fprintf(w, "             coin %s (%s): opening not known yet: %s\n", c.Outpoint, btcString(c.Value), safe(c.TimeUnknown))
			case timeLock && c.Open:
				fmt.Fprintf(w, "             coin %s (%s): open since the chain's median time past reached %s\n", c.Outpoint, btcString(c.Value), c.OpensTime.Format(timeLockLayout))
			case timeLock:
				state := ""
				if c.TimeUnknown != "" {
					state = " (whether it is open is not known: " + safe(c.TimeUnknown) + ")"
				}
				fmt.Fprintf(w, "             coin %s (%s): opens once the chain's median time past reaches %s%s\n", c.Outpoint, btcString(c.Value), c.OpensTime.Format(timeLockLayout), state)
			case c.OpensAt == 0:
				fmt.Fprintf(w, "             coin %s (%s): opening not known yet (the coin is unconfirmed)\n", c.Outpoint, btcString(c.Value))
			case c.Open:
				fmt.Fprintf(w, "             coin %s (%s): open since block %d\n", c.Outpoint, btcString(c.Value), c.OpensAt)
			default:
				left := ""
				if v.SyncedHeight > 0 {
					left = fmt.Sprintf(", %d blocks from the last sync at %d", c.OpensAt-v.SyncedHeight-1, v.SyncedHeight)
				}
				if c.OpensAround != nil {
					left += ", around " + c.OpensAround.Format("2006-01-02")
				}
				fmt.Fprintf(w, "             coin %s (%s): opens at block %d%s\n", c.Outpoint, btcString(c.Value), c.OpensAt, left)
			}
		}
	}
}

// timeLockLayout prints the median time past a time lock waits for.
const timeLockLayout = "2006-01-02 15:04:05 UTC"

func scriptLabel(s string) string {
	switch s {
	case "wsh":
		return "P2WSH native segwit"
	case "sh-wsh":
		return "P2SH-P2WSH nested segwit"
	case "sh":
		return "P2SH legacy"
	case "tr":
		return "P2TR taproot"
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
