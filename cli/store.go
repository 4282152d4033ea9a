package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/spf13/cobra"

	"github.com/countersign/countersign/internal/atomicfile"
	"github.com/countersign/countersign/wallet"
)

func newCmdStore(f *Factory) *cobra.Command {
	cmd := groupCmd(&cobra.Command{
		Use:   "store",
		Short: "Choose where wallets, drafts and the journal are stored (SQLite or PostgreSQL)",
		Long: `The store holds the wallets, the addresses handed out, drafts, labels,
policies and the audit journal. By default it is one SQLite file,
countersign.db, in the data directory: right for one person.

A team points every terminal at one PostgreSQL database instead, so that
two operators never hand out the same address, drafts and signatures are
seen by everyone, and the journal is one hash chain naming each operator
(by default the database role each person logs in as). Software keys stay
in each terminal's data directory whatever the store.

The store is chosen by --store, else $COUNTERSIGN_STORE, else what
"store set" saved in the data directory, else SQLite:
  sqlite:PATH                               the SQLite store in directory PATH
  postgres://alice@db.example/treasury      PostgreSQL (libpq URL; add
                                            ?sslmode=verify-full over a network)
A password in the URL is never printed; prefer ~/.pgpass or $PGPASSWORD.`,
	})
	cmd.AddCommand(newCmdStoreShow(f, nil), newCmdStoreSet(f, nil), newCmdStoreUnset(f, nil), newCmdStoreMigrate(f, nil))
	return cmd
}

// StoreOptions are the inputs of the store commands.
type StoreOptions struct {
	IO       *Streams
	JSON     bool
	DataDir  func() (string, error)
	Location func() (string, string, error)
	Operator string
	// Set is store set's argument; From and To are store migrate's.
	Set      string
	From, To string
}

func newStoreOptions(f *Factory) *StoreOptions {
	return &StoreOptions{IO: f.IO, DataDir: f.DataDir, Location: f.StoreLocation}
}

// operatorFor is --operator, else $COUNTERSIGN_OPERATOR.
func operatorFor(f *Factory) string {
	if f.Global.Operator != "" {
		return f.Global.Operator
	}
	return f.Getenv("COUNTERSIGN_OPERATOR")
}

// openAt opens the store at location with the options' data directory.
func (o *StoreOptions) openAt(ctx context.Context, location string) (*wallet.Store, error) {
	dir, err := o.DataDir()
	if err != nil {
		return nil, err
	}
	s, err := wallet.OpenStore(ctx, dir, location)
	if err != nil {
		return nil, err
	}
	s.SetOperator(o.Operator)
	return s, nil
}

type storeShowJSON struct {
	Engine   string `json:"engine"`
	Location string `json:"location"`
	Source   string `json:"source"`
	Operator string `json:"operator"`
}

func newCmdStoreShow(f *Factory, runF func(context.Context, *StoreOptions) error) *cobra.Command {
	o := newStoreOptions(f)
	cmd := &cobra.Command{
		Use:   "show",
		Short: "Show which store is in use, and who the journal says you are",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			o.JSON, o.Operator = f.Global.JSON, operatorFor(f)
			if runF != nil {
				return runF(c.Context(), o)
			}
			return storeShowRun(c.Context(), o)
		},
	}
	return withJSONFields(cmd, storeShowJSON{})
}

func storeShowRun(ctx context.Context, o *StoreOptions) error {
	loc, source, err := o.Location()
	if err != nil {
		return err
	}
	s, err := o.openAt(ctx, loc)
	if err != nil {
		return err
	}
	defer s.Close()
	out := storeShowJSON{Engine: string(s.Engine()), Location: s.Location(), Source: source, Operator: s.Operator()}
	if o.JSON {
		return writeJSON(o.IO.Out, out)
	}
	fmt.Fprintf(o.IO.Out, "%s store %s (from %s); journal operator %s\n", out.Engine, safe(out.Location), out.Source, safe(out.Operator))
	return nil
}

type storeSetJSON struct {
	Engine   string `json:"engine"`
	Location string `json:"location"`
}

func newCmdStoreSet(f *Factory, runF func(context.Context, *StoreOptions) error) *cobra.Command {
	o := newStoreOptions(f)
	cmd := &cobra.Command{
		Use:   "set LOCATION",
		Short: "Save the store this data directory uses (sqlite:PATH or postgres://...)",
		Long: `Save the store location in the data directory (file store.url, mode 0600),
so later commands use it without --store. The store is opened first: a
PostgreSQL database is created the current schema (the role needs CREATE
on the database the first time), and a location that cannot be opened is
not saved. "store unset" goes back to SQLite in the data directory.

Moving existing wallets there is "store migrate"; "store set" copies
nothing.`,
		Example: `  countersign store set 'postgres://alice@db.internal/treasury?sslmode=verify-full'`,
		Args:    cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.JSON, o.Operator, o.Set = f.Global.JSON, operatorFor(f), args[0]
			if runF != nil {
				return runF(c.Context(), o)
			}
			return storeSetRun(c.Context(), o)
		},
	}
	return withJSONFields(cmd, storeSetJSON{})
}

func storeSetRun(ctx context.Context, o *StoreOptions) error {
	s, err := o.openAt(ctx, o.Set)
	if err != nil {
		return err
	}
	out := storeSetJSON{Engine: string(s.Engine()), Location: s.Location()}
	if err := s.Close(); err != nil {
		return err
	}
	dir, err := o.DataDir()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(dir, storeFile), []byte(o.Set+"\n"), 0o600); err != nil {
		return fmt.Errorf("save the store location: %w", err)
	}
	if o.JSON {
		return writeJSON(o.IO.Out, out)
	}
	fmt.Fprintf(o.IO.ErrOut, "Saved store %s (%s)\n", safe(out.Location), out.Engine)
	return nil
}

func newCmdStoreUnset(f *Factory, runF func(context.Context, *StoreOptions) error) *cobra.Command {
	o := newStoreOptions(f)
	cmd := &cobra.Command{
		Use:   "unset",
		Short: "Forget the saved store location: use SQLite in the data directory again",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			o.JSON = f.Global.JSON
			if runF != nil {
				return runF(c.Context(), o)
			}
			return storeUnsetRun(c.Context(), o)
		},
	}
	return withJSONFields(cmd, storeSetJSON{})
}

func storeUnsetRun(_ context.Context, o *StoreOptions) error {
	dir, err := o.DataDir()
	if err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(dir, storeFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("forget the store location: %w", err)
	}
	out := storeSetJSON{Engine: string(wallet.EngineSQLite), Location: filepath.Join(dir, wallet.DBFile)}
	if o.JSON {
		return writeJSON(o.IO.Out, out)
	}
	fmt.Fprintf(o.IO.ErrOut, "Store is SQLite in %s again\n", safe(dir))
	return nil
}

type storeMigrateJSON struct {
	From        string         `json:"from"`
	To          string         `json:"to"`
	Rows        map[string]int `json:"rows"`
	Entries     int            `json:"journal_entries"`
	JournalHead string         `json:"journal_head"`
}

func newCmdStoreMigrate(f *Factory, runF func(context.Context, *StoreOptions) error) *cobra.Command {
	o := newStoreOptions(f)
	cmd := &cobra.Command{
		Use:   "migrate --from LOCATION --to LOCATION",
		Short: "Copy every wallet, draft, label, setting and the whole journal into an empty store",
		Long: `Copy everything in one store into another, empty one: wallets and their
cosigners, addresses, coins and transactions, drafts, registrations,
settings, labels, policies, rotations and the audit journal, entry for
entry with the same ids and hashes. The source is read in one
transaction and the target written in one, so a failed copy leaves the
target empty. Then the target's journal chain is walked and its head
compared with the source's; a copy that does not chain to the same head
fails. The source is left as it was. A journal entry
store.migrate on the target records the copy.

--from defaults to the store in use. Afterwards point terminals at the
target with "store set".`,
		Example: `  countersign store migrate --from sqlite:$HOME/.local/share/countersign --to postgres://alice@db.internal/treasury`,
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			o.JSON, o.Operator = f.Global.JSON, operatorFor(f)
			if o.To == "" {
				return usagef("store migrate needs --to LOCATION")
			}
			if runF != nil {
				return runF(c.Context(), o)
			}
			return storeMigrateRun(c.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.From, "from", "", "the store to copy (default: the store in use)")
	cmd.Flags().StringVar(&o.To, "to", "", "the empty store to copy into")
	return withJSONFields(cmd, storeMigrateJSON{})
}

func storeMigrateRun(ctx context.Context, o *StoreOptions) error {
	from := o.From
	if from == "" {
		loc, _, err := o.Location()
		if err != nil {
			return err
		}
		from = loc
	}
	src, err := o.openAt(ctx, from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := o.openAt(ctx, o.To)
	if err != nil {
		return err
	}
	defer dst.Close()
	rep, err := wallet.CopyStore(ctx, dst, src)
	if err != nil {
		return err
	}
	out := storeMigrateJSON{From: src.Location(), To: dst.Location(), Rows: rep.Rows, Entries: rep.Journal.Entries,
		JournalHead: fmt.Sprintf("%x", rep.Journal.Head)}
	if o.JSON {
		return writeJSON(o.IO.Out, out)
	}
	tables := make([]string, 0, len(rep.Rows))
	for t := range rep.Rows {
		tables = append(tables, t)
	}
	sort.Strings(tables)
	for _, t := range tables {
		fmt.Fprintf(o.IO.Out, "%-14s %d rows\n", t, rep.Rows[t])
	}
	fmt.Fprintf(o.IO.Out, "journal: %d entries copied, chain verified, head %s\n", out.Entries, out.JournalHead)
	fmt.Fprintf(o.IO.ErrOut, "Copied %s to %s\n", safe(out.From), safe(out.To))
	return nil
}
