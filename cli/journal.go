package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/spf13/cobra"

	"github.com/countersign/countersign/coordinator"
	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/descriptor/formats"
	"github.com/countersign/countersign/hw"
	"github.com/countersign/countersign/hw/soft"
	"github.com/countersign/countersign/wallet"
)

// JournalOptions are the inputs of `journal`.
type JournalOptions struct {
	IO          *Streams
	Coordinator func() (*coordinator.Coordinator, error)
	JSON        bool
	Wallet      string
	Since       string
	// Operator keeps only the entries of this operator (journal --by).
	Operator string
}

func newCmdJournal(f *Factory) *cobra.Command {
	o := &JournalOptions{IO: f.IO, Coordinator: f.Coordinator}
	cmd := &cobra.Command{
		Use:   "journal [WALLET] [--since DATE] [--by OPERATOR]",
		Short: "Read, verify, export and sign the audit journal",
		Long: `Show the audit journal: every change countersign made to the store, when,
by whom (the OS user, or on a PostgreSQL store the database role; or
--operator / $COUNTERSIGN_OPERATOR) and what, with
the PSBT and transaction hashes: wallets created, imported and deleted,
addresses handed out, backends changed, devices registered, drafts created,
signed (by which fingerprints), combined, finalized and broadcast, spends
bumped, cancelled and abandoned, labels and policies changed, policies
overridden (with the reason).

The entries are hash-chained: each one's hash covers the one before it, so
an entry changed in the database file by hand breaks the chain from there
(journal verify names it). The end of the chain is vouched for by signing
its head with a cosigner's key (journal sign) and keeping the signature
elsewhere.`,
		Example: `  countersign journal treasury --since 2025-01-01
  countersign journal --by alice
  countersign journal verify
  countersign journal sign --with key:office -o head.sig.json
  countersign journal verify --signature head.sig.json
  countersign journal export -o journal.jsonl`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.JSON = f.Global.JSON
			if len(args) == 1 {
				o.Wallet = args[0]
			}
			return journalRun(c.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.Since, "since", "", "only entries from this date (YYYY-MM-DD, UTC) or time (RFC 3339) on")
	// Not --operator: that global flag names who runs a command, and a
	// script passing it to every command must not turn journal into a
	// filter.
	cmd.Flags().StringVar(&o.Operator, "by", "", "only entries made by this operator (as the OPERATOR column shows it)")
	cmd.AddCommand(newCmdJournalVerify(f, nil), newCmdJournalExport(f, nil), newCmdJournalSign(f, nil))
	return withJSONFields(cmd, journalEntryJSON{})
}

// journalEntryJSON is one entry, in `journal --json` and in every line of
// `journal export`.
type journalEntryJSON struct {
	ID       int64           `json:"id"`
	Time     string          `json:"time"`
	Wallet   string          `json:"wallet"`
	Action   string          `json:"action"`
	Operator string          `json:"operator"`
	Detail   json.RawMessage `json:"detail"`
	Hash     string          `json:"hash"`
}

func newJournalEntryJSON(e wallet.JournalEntry) journalEntryJSON {
	return journalEntryJSON{ID: e.ID, Time: e.Time.UTC().Format("2006-01-02T15:04:05.000Z07:00"), Wallet: e.Wallet, Action: e.Action,
		Operator: e.Operator, Detail: e.Detail, Hash: e.Hash}
}

// parseSince reads --since: a date (midnight UTC) or an RFC 3339 time.
func parseSince(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, usagef("--since %q: give a date YYYY-MM-DD or a time like 2025-01-02T15:04:05Z", s)
}

func journalRun(ctx context.Context, o *JournalOptions) error {
	since, err := parseSince(o.Since)
	if err != nil {
		return err
	}
	co, err := o.Coordinator()
	if err != nil {
		return err
	}
	es, err := co.Journal(ctx, o.Wallet, since)
	if err != nil {
		return err
	}
	if o.Operator != "" {
		if !o.JSON {
			fmt.Fprintf(o.IO.ErrOut, "Only the entries of operator %s (--by).\n", safe(o.Operator))
		}
		kept := es[:0]
		for _, e := range es {
			if e.Operator == o.Operator {
				kept = append(kept, e)
			}
		}
		es = kept
	}
	out := make([]journalEntryJSON, 0, len(es))
	for _, e := range es {
		out = append(out, newJournalEntryJSON(e))
	}
	if o.JSON {
		return writeJSON(o.IO.Out, out)
	}
	tw := tabwriter.NewWriter(o.IO.Out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTIME\tOPERATOR\tWALLET\tACTION\tDETAIL")
	for _, e := range es {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", e.ID, e.Time.Local().Format("2006-01-02 15:04:05"), safe(orDash(e.Operator)),
			safe(orDash(e.Wallet)), e.Action, safe(string(e.Detail)))
	}
	return tw.Flush()
}

// JournalVerifyOptions are the inputs of `journal verify`.
type JournalVerifyOptions struct {
	IO          *Streams
	Coordinator func() (*coordinator.Coordinator, error)
	JSON        bool
	Signature   string
}

func newCmdJournalVerify(f *Factory, runF func(context.Context, *JournalVerifyOptions) error) *cobra.Command {
	o := &JournalVerifyOptions{IO: f.IO, Coordinator: f.Coordinator}
	cmd := &cobra.Command{
		Use:   "verify [--signature FILE]",
		Short: "Check the journal's hash chain (and a signed head)",
		Long: `Walk the journal's hash chain: every entry's hash must follow from the entry
before it and its own fields. The first entry that does not chain is named
and the command exits 4: the entry, or one before it, was changed outside
countersign. (countersign doctor runs the same check.)

With --signature FILE (what journal sign -o wrote), also check the
signature (a Bitcoin signed message, BIP-137) and that the signed head is
the hash of the entry it names in this journal: the journal up to that
entry is the one that was signed. Entries after it are not covered.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			o.JSON = f.Global.JSON
			if runF != nil {
				return runF(c.Context(), o)
			}
			return journalVerifyRun(c.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.Signature, "signature", "", "also check this signed head (the JSON journal sign wrote)")
	return withJSONFields(cmd, journalVerifyJSON{})
}

type journalVerifyJSON struct {
	OK          bool             `json:"ok"`
	Entries     int              `json:"entries"`
	Unchained   int              `json:"unchained"`
	Head        string           `json:"head"`
	HeadEntry   int64            `json:"head_entry"`
	BrokenEntry int64            `json:"broken_entry,omitempty"`
	Reason      string           `json:"reason,omitempty"`
	Signed      *signedCheckJSON `json:"signed,omitempty"`
}

type signedCheckJSON struct {
	Address     string `json:"address"`
	Fingerprint string `json:"fingerprint"`
	Signer      string `json:"signer"`
	Entry       int64  `json:"entry"`
	Head        string `json:"head"`
	Later       int    `json:"later_entries"`
}

func journalVerifyRun(ctx context.Context, o *JournalVerifyOptions) error {
	var sig *coordinator.JournalSignature
	if o.Signature != "" {
		data, err := readInput(o.IO, o.Signature)
		if err != nil {
			return err
		}
		if sig, err = coordinator.ParseJournalSignature(data); err != nil {
			return err
		}
	}
	co, err := o.Coordinator()
	if err != nil {
		return err
	}
	chk, verr := co.VerifyJournal(ctx, sig)
	if chk == nil {
		return verr
	}
	j := journalVerifyJSON{OK: verr == nil, Entries: chk.Entries, Unchained: chk.Unchained, HeadEntry: chk.HeadID}
	if chk.HeadID > 0 {
		j.Head = fmt.Sprintf("%x", chk.Head)
	}
	if chk.Break != nil {
		j.BrokenEntry, j.Reason = chk.Break.Entry, chk.Break.Reason
	} else if verr != nil {
		j.Reason = verr.Error()
	}
	if s := chk.Signed; s != nil {
		j.Signed = &signedCheckJSON{Address: s.Address, Fingerprint: s.Fingerprint, Signer: co.SignerName(ctx, s.Fingerprint), Entry: s.Entry, Head: s.Head, Later: chk.Later}
	}
	if o.JSON {
		if err := writeJSON(o.IO.Out, j); err != nil {
			return err
		}
		return verr
	}
	if verr != nil {
		return verr
	}
	fmt.Fprintf(o.IO.Out, "The journal chains: %d entries", j.Entries)
	if j.Unchained > 0 {
		fmt.Fprintf(o.IO.Out, " (the first %d written before the chain, committed to by the entry after them)", j.Unchained)
	}
	if j.HeadEntry > 0 {
		fmt.Fprintf(o.IO.Out, ", head %s at entry %d", j.Head, j.HeadEntry)
	}
	fmt.Fprintln(o.IO.Out, ".")
	if s := j.Signed; s != nil {
		who := s.Fingerprint
		if s.Signer != "" {
			who = s.Signer + " [" + s.Fingerprint + "]"
		}
		fmt.Fprintf(o.IO.Out, "The signature by %s (%s) over the head at entry %d is valid; %d later entries are not covered by it.\n", safe(who), s.Address, s.Entry, s.Later)
	}
	return nil
}

// JournalExportOptions are the inputs of `journal export`.
type JournalExportOptions struct {
	IO          *Streams
	Coordinator func() (*coordinator.Coordinator, error)
	JSON        bool
	Wallet      string
	Since       string
	Output      string
}

func newCmdJournalExport(f *Factory, runF func(context.Context, *JournalExportOptions) error) *cobra.Command {
	o := &JournalExportOptions{IO: f.IO, Coordinator: f.Coordinator}
	cmd := &cobra.Command{
		Use:   "export [WALLET] [-o FILE]",
		Short: "Write the journal as JSON lines",
		Long: `Write the journal (of WALLET, or all of it) as JSON lines, one entry a line,
oldest first, with the fields of journal --json, hash included, to -o FILE
or stdout. With --json, -o is required and a summary is printed.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.JSON = f.Global.JSON
			if len(args) == 1 {
				o.Wallet = args[0]
			}
			if o.JSON && (o.Output == "" || o.Output == "-") {
				return usagef("the export is JSON lines on stdout; with --json give -o FILE for it and the summary goes to stdout")
			}
			if runF != nil {
				return runF(c.Context(), o)
			}
			return journalExportRun(c.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.Since, "since", "", "only entries from this date (YYYY-MM-DD, UTC) or time (RFC 3339) on")
	cmd.Flags().StringVarP(&o.Output, "output", "o", "", "write the export here (default: stdout)")
	return withJSONFields(cmd, linesExportJSON{})
}

// linesExportJSON is the summary `journal export` and `label export`
// print with --json.
type linesExportJSON struct {
	File    string `json:"file"`
	Records int    `json:"records"`
}

func journalExportRun(ctx context.Context, o *JournalExportOptions) error {
	since, err := parseSince(o.Since)
	if err != nil {
		return err
	}
	co, err := o.Coordinator()
	if err != nil {
		return err
	}
	es, err := co.Journal(ctx, o.Wallet, since)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	for _, e := range es {
		line, err := json.Marshal(newJournalEntryJSON(e))
		if err != nil {
			return err
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	if err := writeOutput(o.IO, o.Output, b.Bytes()); err != nil {
		return err
	}
	if o.JSON {
		return writeJSON(o.IO.Out, linesExportJSON{File: o.Output, Records: len(es)})
	}
	if o.Output != "" && o.Output != "-" {
		fmt.Fprintf(o.IO.ErrOut, "Wrote %d entries to %s.\n", len(es), o.Output)
	}
	return nil
}

// JournalSignOptions are the inputs of `journal sign`.
type JournalSignOptions struct {
	IO          *Streams
	Coordinator func() (*coordinator.Coordinator, error)
	OpenKey     func(ctx context.Context, name, passphraseFile string) (softKey, error)
	JSON        bool
	With        string
	Output      string
	Passphrase  string
	Yes         bool
}

func newCmdJournalSign(f *Factory, runF func(context.Context, *JournalSignOptions) error) *cobra.Command {
	o := &JournalSignOptions{IO: f.IO, Coordinator: f.Coordinator, OpenKey: f.openUnlockedOrSoftKey}
	cmd := &cobra.Command{
		Use:   "sign --with key:NAME [-o FILE]",
		Short: "Sign the journal's head hash with a cosigner's software key",
		Long: `Sign the journal's head (the hash of its last entry) as a Bitcoin signed
message, in the legacy format (BIP-137) for the P2PKH address of the key's
master public key: any wallet that verifies messages (Electrum, Bitcoin
Core's verifymessage, Sparrow) can check it. The message is

  countersign journal head HASH at entry N

and the address's HASH160 begins with the key's fingerprint, so the
signature names its cosigner. Keep the file (-o) somewhere the store's
owner cannot rewrite it; journal verify --signature FILE checks that the
journal up to entry N is still the one signed. Only software keys sign
messages here (key:NAME); an unlocked one (countersign key unlock) signs
without the passphrase, and its signature is verified before it is shown.
The chain is verified first: a broken journal is not signed.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			o.JSON = f.Global.JSON
			o.Yes = f.Global.Yes
			if !strings.HasPrefix(o.With, "key:") || len(o.With) == len("key:") {
				return usagef("--with key:NAME: the journal head is signed with a software key (countersign key list)")
			}
			if runF != nil {
				return runF(c.Context(), o)
			}
			return journalSignRun(c.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.With, "with", "", "the software key that signs: key:NAME")
	cmd.Flags().StringVarP(&o.Output, "output", "o", "", "also write the signature (JSON) here, for journal verify --signature")
	cmd.Flags().StringVar(&o.Passphrase, "passphrase-file", "", "key-store passphrase file")
	return withJSONFields(cmd, coordinator.JournalSignature{})
}

func journalSignRun(ctx context.Context, o *JournalSignOptions) error {
	co, err := o.Coordinator()
	if err != nil {
		return err
	}
	name := strings.TrimPrefix(o.With, "key:")
	if err := confirm(o.IO, o.Yes, fmt.Sprintf("Sign the journal's head with software key %s?", safe(name))); err != nil {
		return err
	}
	k, err := o.OpenKey(ctx, name, o.Passphrase)
	if err != nil {
		return err
	}
	defer k.Close()
	sig, err := co.SignJournal(ctx, k)
	if err != nil {
		return err
	}
	js, err := json.MarshalIndent(sig, "", "  ")
	if err != nil {
		return err
	}
	if o.Output != "" && o.Output != "-" {
		if err := writeOutput(o.IO, o.Output, append(js, '\n')); err != nil {
			return err
		}
	}
	if o.JSON {
		return writeJSON(o.IO.Out, sig)
	}
	fmt.Fprintf(o.IO.Out, "Address:   %s\nMessage:   %s\nSignature: %s\n", sig.Address, sig.Message, sig.Signature)
	if o.Output != "" && o.Output != "-" {
		fmt.Fprintf(o.IO.ErrOut, "Wrote %s. Check it later with: countersign journal verify --signature %s\n", o.Output, o.Output)
	}
	return nil
}

// softKey is a software key as sign, journal sign and bsms record use it:
// the key opened in this process, or its agent while it is unlocked.
type softKey interface {
	hw.Device
	SignMessage(ctx context.Context, message string) (address, signature string, err error)
	BSMSKeyRecord(ctx context.Context, token, description string, path descriptor.Path) (*formats.KeyRecord, error)
	Network() *chaincfg.Params
	Close() error
}

var (
	_ softKey = (*soft.Signer)(nil)
	_ softKey = (*soft.AgentSigner)(nil)
)

// openUnlockedOrSoftKey reaches key name's agent when the key is unlocked
// (`key unlock`: no passphrase, no scrypt), and otherwise opens the key
// file with its passphrase.
func (f *Factory) openUnlockedOrSoftKey(ctx context.Context, name, passphraseFile string) (softKey, error) {
	ks, err := f.KeyStore()
	if err != nil {
		return nil, err
	}
	if a, ok, err := ks.DialAgent(ctx, name); err != nil {
		return nil, err
	} else if ok {
		return a, nil
	}
	return f.openSoftKey(name, passphraseFile)
}

// openSoftKey opens a software key of the key store with its passphrase.
func (f *Factory) openSoftKey(name, passphraseFile string) (*soft.Signer, error) {
	ks, err := f.KeyStore()
	if err != nil {
		return nil, err
	}
	pass, err := f.passphrase(passphraseFile, "Passphrase for key "+name+": ", false)
	if err != nil {
		return nil, err
	}
	k, err := ks.Open(name, pass)
	if errors.Is(err, soft.ErrNotFound) {
		return nil, withHint(err, "see countersign key list")
	}
	return k, err
}
