package cli

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/countersign/countersign/coordinator"
	"github.com/countersign/countersign/hw/soft"
	"github.com/countersign/countersign/wallet"
)

// DoctorOptions are the inputs of `doctor`.
type DoctorOptions struct {
	IO      *Streams
	DataDir func() (string, error)
	// StoreLocation is where the store lives (Factory.StoreLocation); a
	// PostgreSQL store has no file in the data directory to look for.
	StoreLocation func() (string, string, error)
	Coordinator   func() (*coordinator.Coordinator, error)
	KeyStore      func() (*soft.Store, error)
	JSON          bool
}

func newCmdDoctor(f *Factory, runF func(context.Context, *DoctorOptions) error) *cobra.Command {
	o := &DoctorOptions{IO: f.IO, DataDir: f.DataDir, StoreLocation: f.StoreLocation, Coordinator: f.Coordinator, KeyStore: f.KeyStore}
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check the data directory's integrity",
		Long: `Check the data directory: SQLite's own integrity and
foreign key checks, the schema version, the audit journal (gap-free,
append-only, every wallet it mentions existed), and for each wallet its
descriptor and network, the addresses handed out and coins (re-derived),
the address counters, the drafts (each a PSBT of its txid that passes the
safety checks), the change indexes spends reserved, and the software key
files (modes and companions; keys are not decrypted). The checks change
nothing; opening the store brings an older schema up to date, as every
command does.

Each check prints ok or FAILED with what is wrong. Exit 0 when every check
passes, 1 when one fails, 3 when the directory holds no store.`,
		Example: `  countersign doctor
  countersign doctor --json --fields ok,failed`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			o.JSON = f.Global.JSON
			if runF != nil {
				return runF(c.Context(), o)
			}
			return doctorRun(c.Context(), o)
		},
	}
	return withJSONFields(cmd, doctorJSON{})
}

type doctorJSON struct {
	DataDir string            `json:"data_dir"`
	OK      bool              `json:"ok"`
	Failed  int               `json:"failed"`
	Checks  []doctorCheckJSON `json:"checks"`
}

type doctorCheckJSON struct {
	Name     string   `json:"name"`
	Wallet   string   `json:"wallet,omitempty"`
	OK       bool     `json:"ok"`
	Detail   string   `json:"detail"`
	Problems []string `json:"problems"`
}

func doctorRun(ctx context.Context, o *DoctorOptions) error {
	dir, err := o.DataDir()
	if err != nil {
		return err
	}
	loc := ""
	if o.StoreLocation != nil {
		if loc, _, err = o.StoreLocation(); err != nil {
			return err
		}
	}
	// Opening the store would create one; an empty directory is a
	// mistyped --data-dir, not a healthy store. (A store named by
	// --store, $COUNTERSIGN_STORE or store set was chosen on purpose; a
	// PostgreSQL database is there, or connecting says it is not.)
	if loc == "" {
		if ok, err := wallet.Exists(dir); err != nil {
			return err
		} else if !ok {
			return withHint(fmt.Errorf("no countersign store in %s: %w", dir, wallet.ErrNotFound),
				"point --data-dir or COUNTERSIGN_DATA_DIR at the directory that holds "+wallet.DBFile)
		}
	}
	co, err := o.Coordinator()
	if err != nil {
		return err
	}
	keys, err := o.KeyStore()
	if err != nil {
		return err
	}
	rep, err := co.Doctor(ctx, keys)
	if err != nil {
		return err
	}
	failed := rep.Failed()
	out := doctorJSON{DataDir: rep.Dir, OK: len(failed) == 0, Failed: len(failed), Checks: make([]doctorCheckJSON, len(rep.Checks))}
	for i, c := range rep.Checks {
		out.Checks[i] = doctorCheckJSON{Name: c.Name, Wallet: c.Wallet, OK: c.OK, Detail: c.Detail, Problems: c.Problems}
		if out.Checks[i].Problems == nil {
			out.Checks[i].Problems = []string{}
		}
	}
	if o.JSON {
		if err := writeJSON(o.IO.Out, out); err != nil {
			return err
		}
	} else if err := printDoctor(o.IO, out); err != nil {
		return err
	}
	if len(failed) > 0 {
		return fmt.Errorf("%w: %d of %d checks failed in %s", coordinator.ErrChecksFailed, len(failed), len(rep.Checks), rep.Dir)
	}
	return nil
}

// printDoctor prints one line per check and the problems of each failed
// one under it. Wallet names and problems quote stored text: escaped.
func printDoctor(io *Streams, r doctorJSON) error {
	tw := tabwriter.NewWriter(io.Out, 2, 4, 2, ' ', 0)
	for _, c := range r.Checks {
		status := "ok"
		if !c.OK {
			status = "FAILED"
		}
		name := c.Name
		if c.Wallet != "" {
			name += " [" + safe(c.Wallet) + "]"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", status, name, safe(c.Detail))
		for _, p := range c.Problems {
			fmt.Fprintf(tw, "\t  - %s\t\n", safe(p))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if r.OK {
		fmt.Fprintf(io.ErrOut, "All %d checks passed.\n", len(r.Checks))
	}
	return nil
}
