package cli

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/countersign/countersign/coordinator"
	"github.com/countersign/countersign/relay"
	"github.com/countersign/countersign/relay/nip44"
)

// The PSBT relay's commands: `key npub`, `wallet relay set|show`,
// `psbt send`, `psbt receive`. The workflows are the coordinator's
// (coordinator/relay.go); the Nostr key is the named software key's
// (NIP-06), opened with its passphrase for each send or receive.

// nostrKey opens software key name and returns its Nostr secret key.
func (f *Factory) nostrKey(ctx context.Context, name, passphraseFile string) (nip44.SecretKey, error) {
	k, err := f.openSoftKey(name, passphraseFile)
	if err != nil {
		return nip44.SecretKey{}, err
	}
	defer k.Close()
	sk, err := k.NostrSecret(ctx)
	return nip44.SecretKey(sk), err
}

type keyNpubJSON struct {
	Name   string `json:"name"`
	Npub   string `json:"npub"`
	PubKey string `json:"pubkey"`
}

// KeyNpubOptions are the inputs of `key npub`.
type KeyNpubOptions struct {
	IO             *Streams
	JSON           bool
	Name           string
	PassphraseFile string
	NostrKey       func(ctx context.Context, name, passphraseFile string) (nip44.SecretKey, error)
}

func newCmdKeyNpub(f *Factory, runF func(context.Context, *KeyNpubOptions) error) *cobra.Command {
	o := &KeyNpubOptions{IO: f.IO, NostrKey: f.nostrKey}
	cmd := &cobra.Command{
		Use:   "npub NAME",
		Short: "Print the key's Nostr public key (NIP-06), which cosigners name in wallet relay set",
		Long: `A software key's Nostr key is derived from it (NIP-06: m/44'/1237'/0'/0/0),
so it is encrypted and backed up with the key. Give the npub to the other
cosigners: they name it in ` + "`wallet relay set --cosigner LABEL=NPUB`" + `.`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.JSON = f.Global.JSON
			o.Name = args[0]
			if runF != nil {
				return runF(c.Context(), o)
			}
			return keyNpubRun(c.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.PassphraseFile, "passphrase-file", "", "read the key-store passphrase from this file")
	return withJSONFields(cmd, keyNpubJSON{})
}

func keyNpubRun(ctx context.Context, o *KeyNpubOptions) error {
	sk, err := o.NostrKey(ctx, o.Name, o.PassphraseFile)
	if err != nil {
		return err
	}
	pk, err := sk.Public()
	clear(sk[:])
	if err != nil {
		return err
	}
	j := keyNpubJSON{Name: o.Name, Npub: relay.Npub(pk), PubKey: hex.EncodeToString(pk[:])}
	if o.JSON {
		return writeJSON(o.IO.Out, j)
	}
	fmt.Fprintln(o.IO.Out, j.Npub)
	return nil
}

func newCmdWalletRelay(f *Factory) *cobra.Command {
	cmd := groupCmd(&cobra.Command{
		Use:   "relay",
		Short: "Set up how cosigners pass PSBTs to each other over Nostr relays",
		Long: `Cosigners who share no store pass drafts through Nostr relays (psbt send,
psbt receive), each message encrypted with NIP-44 v2 to one cosigner's
Nostr key. A relay sees who writes to whom and when, never the PSBT.`,
	})
	cmd.AddCommand(newCmdWalletRelaySet(f, nil), newCmdWalletRelayShow(f, nil))
	return cmd
}

type relayCosignerJSON struct {
	Label  string `json:"label"`
	Npub   string `json:"npub"`
	PubKey string `json:"pubkey"`
}

type relayJSON struct {
	Wallet    string              `json:"wallet"`
	Relays    []string            `json:"relays"`
	Key       string              `json:"key"`
	Cosigners []relayCosignerJSON `json:"cosigners"`
}

func newRelayJSON(name string, rc *coordinator.RelayConfig) relayJSON {
	j := relayJSON{Wallet: name, Relays: rc.Relays, Key: rc.Key, Cosigners: []relayCosignerJSON{}}
	for _, co := range rc.Cosigners {
		j.Cosigners = append(j.Cosigners, relayCosignerJSON{Label: co.Label, Npub: relay.Npub(co.PubKey), PubKey: co.Hex})
	}
	return j
}

func renderRelay(o *Streams, asJSON bool, name string, rc *coordinator.RelayConfig) error {
	j := newRelayJSON(name, rc)
	if asJSON {
		return writeJSON(o.Out, j)
	}
	fmt.Fprintf(o.Out, "Wallet:  %s\nKey:     %s (its Nostr key sends and receives)\n", safe(j.Wallet), safe(j.Key))
	for _, r := range j.Relays {
		fmt.Fprintf(o.Out, "Relay:   %s\n", safe(r))
	}
	tw := tabwriter.NewWriter(o.Out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "COSIGNER\tNPUB")
	for _, c := range j.Cosigners {
		fmt.Fprintf(tw, "%s\t%s\n", safe(c.Label), c.Npub)
	}
	return tw.Flush()
}

// WalletRelaySetOptions are the inputs of `wallet relay set`.
type WalletRelaySetOptions struct {
	IO          *Streams
	Coordinator func() (*coordinator.Coordinator, error)
	JSON        bool
	Wallet      string
	Relays      []string
	Key         string
	Cosigners   []string
}

func newCmdWalletRelaySet(f *Factory, runF func(context.Context, *WalletRelaySetOptions) error) *cobra.Command {
	o := &WalletRelaySetOptions{IO: f.IO, Coordinator: f.Coordinator}
	cmd := &cobra.Command{
		Use:   "set WALLET --relay wss://... --key NAME --cosigner LABEL=NPUB...",
		Short: "Store the wallet's relays, the local key and each cosigner's Nostr key",
		Long: `Replaces the wallet's relay setup (journaled). --key names the local software
key whose Nostr key (countersign key npub NAME) sends and receives for this
wallet; each --cosigner names a cosigner's Nostr public key (npub1... or 64
hex digits) under the label psbt send --to uses. A relay URL is wss://
(ws:// only to this computer).`,
		Example: `  countersign wallet relay set treasury --relay wss://relay.example --key carol \
      --cosigner alice=npub1... --cosigner bob=npub1...`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.JSON = f.Global.JSON
			o.Wallet = args[0]
			if len(o.Relays) == 0 {
				return usagef("give at least one --relay wss://...")
			}
			if o.Key == "" {
				return usagef("--key NAME is required: the local software key whose Nostr key sends and receives")
			}
			if runF != nil {
				return runF(c.Context(), o)
			}
			return walletRelaySetRun(c.Context(), o)
		},
	}
	cmd.Flags().StringArrayVar(&o.Relays, "relay", nil, "relay URL (repeatable)")
	cmd.Flags().StringVar(&o.Key, "key", "", "local software key whose Nostr key sends and receives")
	cmd.Flags().StringArrayVar(&o.Cosigners, "cosigner", nil, "LABEL=NPUB of a cosigner (repeatable)")
	return withJSONFields(cmd, relayJSON{})
}

func walletRelaySetRun(ctx context.Context, o *WalletRelaySetOptions) error {
	rc := coordinator.RelayConfig{Relays: o.Relays, Key: o.Key}
	for _, s := range o.Cosigners {
		co, err := coordinator.ParseRelayCosigner(s)
		if err != nil {
			return err
		}
		rc.Cosigners = append(rc.Cosigners, co)
	}
	co, err := o.Coordinator()
	if err != nil {
		return err
	}
	if err := co.SetRelay(ctx, o.Wallet, rc); err != nil {
		return err
	}
	got, err := co.Relay(ctx, o.Wallet)
	if err != nil {
		return err
	}
	return renderRelay(o.IO, o.JSON, o.Wallet, got)
}

// WalletRelayShowOptions are the inputs of `wallet relay show`.
type WalletRelayShowOptions struct {
	IO          *Streams
	Coordinator func() (*coordinator.Coordinator, error)
	JSON        bool
	Wallet      string
}

func newCmdWalletRelayShow(f *Factory, runF func(context.Context, *WalletRelayShowOptions) error) *cobra.Command {
	o := &WalletRelayShowOptions{IO: f.IO, Coordinator: f.Coordinator}
	cmd := &cobra.Command{
		Use:   "show WALLET",
		Short: "Show the wallet's relays, local key and cosigners' Nostr keys",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.JSON = f.Global.JSON
			o.Wallet = args[0]
			if runF != nil {
				return runF(c.Context(), o)
			}
			return walletRelayShowRun(c.Context(), o)
		},
	}
	return withJSONFields(cmd, relayJSON{})
}

func walletRelayShowRun(ctx context.Context, o *WalletRelayShowOptions) error {
	co, err := o.Coordinator()
	if err != nil {
		return err
	}
	rc, err := co.Relay(ctx, o.Wallet)
	if err != nil {
		return err
	}
	return renderRelay(o.IO, o.JSON, o.Wallet, rc)
}

type relaySentJSON struct {
	Label   string            `json:"label"`
	Npub    string            `json:"npub"`
	EventID string            `json:"event_id"`
	Relays  []string          `json:"relays"`
	Failed  map[string]string `json:"failed"`
}

type psbtSendJSON struct {
	ID     string          `json:"id"`
	Wallet string          `json:"wallet"`
	TxID   string          `json:"txid"`
	Sent   []relaySentJSON `json:"sent"`
}

// PSBTSendOptions are the inputs of `psbt send`.
type PSBTSendOptions struct {
	IO             *Streams
	Coordinator    func() (*coordinator.Coordinator, error)
	NostrKey       func(ctx context.Context, name, passphraseFile string) (nip44.SecretKey, error)
	JSON           bool
	Ref            string
	Wallet         string
	To             []string
	Key            string // overrides the relay setup's key (a shared store's operators each have their own)
	PassphraseFile string
	AllowHighFee   bool
}

func newCmdPSBTSend(f *Factory, runF func(context.Context, *PSBTSendOptions) error) *cobra.Command {
	o := &PSBTSendOptions{IO: f.IO, Coordinator: f.Coordinator, NostrKey: f.nostrKey}
	cmd := &cobra.Command{
		Use:   "send ID --to LABEL...",
		Short: "Send a draft to cosigners over the wallet's Nostr relays, encrypted to each",
		Long: `Publishes the spend's newest version (every signature collected) to the
wallet's relays (wallet relay set), one event per cosigner named by --to,
encrypted with NIP-44 v2 to that cosigner's Nostr key and signed with the
local key's. The PSBT passes the same checks as psbt combine first. Nothing
is published unencrypted; a relay sees who sent to whom and when.`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.JSON = f.Global.JSON
			o.Ref = args[0]
			if len(o.To) == 0 {
				return usagef("name the cosigners to send to: --to LABEL (see wallet relay show)")
			}
			if runF != nil {
				return runF(c.Context(), o)
			}
			return psbtSendRun(c.Context(), o)
		},
	}
	cmd.Flags().StringArrayVar(&o.To, "to", nil, "cosigner label from wallet relay show (repeatable)")
	cmd.Flags().StringVar(&o.Key, "key", "", "send as this software key's Nostr key instead of the relay setup's")
	cmd.Flags().StringVar(&o.Wallet, "wallet", "", "look only in this wallet")
	cmd.Flags().StringVar(&o.PassphraseFile, "passphrase-file", "", "read the key-store passphrase from this file")
	cmd.Flags().BoolVar(&o.AllowHighFee, "allow-high-fee", false, "send even with a fee the gate calls absurd")
	return withJSONFields(cmd, psbtSendJSON{})
}

func psbtSendRun(ctx context.Context, o *PSBTSendOptions) error {
	co, err := o.Coordinator()
	if err != nil {
		return err
	}
	p, err := co.PendingSpend(ctx, o.Wallet, o.Ref)
	if err != nil {
		return err
	}
	rc, err := co.Relay(ctx, p.Wallet.Name)
	if err != nil {
		return err
	}
	sk, err := o.NostrKey(ctx, keyOr(o.Key, rc.Key), o.PassphraseFile)
	if err != nil {
		return err
	}
	defer clear(sk[:])
	res, err := co.SendPSBT(ctx, p.Wallet.Name, o.Ref, o.To, sk, coordinator.GateOptions{AllowHighFee: o.AllowHighFee})
	if res != nil {
		j := psbtSendJSON{ID: res.Pending.ID, Wallet: res.Pending.Wallet.Name, TxID: res.Pending.TxID.String(), Sent: []relaySentJSON{}}
		for _, s := range res.Sent {
			j.Sent = append(j.Sent, relaySentJSON{Label: s.Label, Npub: relay.Npub(s.PubKey), EventID: s.EventID, Relays: s.Relays, Failed: s.Failed})
		}
		if o.JSON && err == nil {
			return writeJSON(o.IO.Out, j)
		}
		for _, s := range j.Sent {
			fmt.Fprintf(o.IO.ErrOut, "Sent spend %s to %s on %d relay(s) (event %s).\n", shortID(j.ID), safe(s.Label), len(s.Relays), shortID(s.EventID))
			for r, why := range s.Failed {
				fmt.Fprintf(o.IO.ErrOut, "  not taken by %s: %s\n", safe(r), safe(why))
			}
		}
	}
	return err
}

type receivedJSON struct {
	EventID string   `json:"event_id"`
	From    string   `json:"from"`
	Label   string   `json:"label"`
	At      string   `json:"at"`
	Outcome string   `json:"outcome"`
	TxID    string   `json:"txid"`
	Spend   string   `json:"spend"`
	State   string   `json:"state"`
	Signers []string `json:"signers"`
	Reason  string   `json:"reason"`
}

// PSBTReceiveOptions are the inputs of `psbt receive`.
type PSBTReceiveOptions struct {
	IO             *Streams
	Coordinator    func() (*coordinator.Coordinator, error)
	NostrKey       func(ctx context.Context, name, passphraseFile string) (nip44.SecretKey, error)
	JSON           bool
	Wallet         string
	Wait           time.Duration
	New, All       bool
	Key            string // overrides the relay setup's key
	PassphraseFile string
	AllowHighFee   bool
}

func newCmdPSBTReceive(f *Factory, runF func(context.Context, *PSBTReceiveOptions) error) *cobra.Command {
	o := &PSBTReceiveOptions{IO: f.IO, Coordinator: f.Coordinator, NostrKey: f.nostrKey}
	cmd := &cobra.Command{
		Use:   "receive WALLET [--wait DURATION] [--new]",
		Short: "Fetch what cosigners sent over the wallet's relays and merge it into the drafts",
		Long: `Fetches the messages addressed to the wallet's local Nostr key since the last
receive, decrypts them, and merges each PSBT into its draft the way psbt
combine does: every copy is checked, every signature verified. Nothing is
stored from a sender who is not a cosigner in wallet relay show, that the
checks refuse, or for a transaction with no draft here, unless --new (a
cosigner taking a spend proposed by another); each is reported. --wait
listens for the first message when none is waiting.`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.JSON = f.Global.JSON
			o.Wallet = args[0]
			if o.Wait < 0 {
				return usagef("--wait must not be negative")
			}
			if runF != nil {
				return runF(c.Context(), o)
			}
			return psbtReceiveRun(c.Context(), o)
		},
	}
	cmd.Flags().DurationVar(&o.Wait, "wait", 0, "when nothing is waiting, listen this long for the first message (e.g. 10m)")
	cmd.Flags().StringVar(&o.Key, "key", "", "receive as this software key's Nostr key instead of the relay setup's")
	cmd.Flags().BoolVar(&o.New, "new", false, "store a PSBT of a transaction with no draft here as a new draft")
	cmd.Flags().BoolVar(&o.All, "all", false, "fetch every message kept by the relays, not only those since the last receive")
	cmd.Flags().StringVar(&o.PassphraseFile, "passphrase-file", "", "read the key-store passphrase from this file")
	cmd.Flags().BoolVar(&o.AllowHighFee, "allow-high-fee", false, "accept a fee the gate calls absurd")
	return withJSONFields(cmd, receivedJSON{})
}

func psbtReceiveRun(ctx context.Context, o *PSBTReceiveOptions) error {
	co, err := o.Coordinator()
	if err != nil {
		return err
	}
	rc, err := co.Relay(ctx, o.Wallet)
	if err != nil {
		return err
	}
	sk, err := o.NostrKey(ctx, keyOr(o.Key, rc.Key), o.PassphraseFile)
	if err != nil {
		return err
	}
	defer clear(sk[:])
	got, err := co.ReceivePSBTs(ctx, o.Wallet, sk, coordinator.ReceiveOptions{Wait: o.Wait, New: o.New, All: o.All, Gate: coordinator.GateOptions{AllowHighFee: o.AllowHighFee}})
	if err != nil {
		return err
	}
	out := []receivedJSON{}
	for _, r := range got {
		j := receivedJSON{EventID: r.EventID, From: relay.Npub(r.From), Label: r.Label, At: r.At.UTC().Format(time.RFC3339), Outcome: r.Outcome, Signers: r.Signers, Reason: r.Reason}
		if j.Signers == nil {
			j.Signers = []string{}
		}
		if r.TxID != nil {
			j.TxID = r.TxID.String()
		}
		if r.Pending != nil {
			j.Spend, j.State = r.Pending.ID, r.Pending.State
		}
		out = append(out, j)
	}
	if o.JSON {
		return writeJSON(o.IO.Out, out)
	}
	if len(out) == 0 {
		fmt.Fprintln(o.IO.ErrOut, "Nothing new on the relays.")
		return nil
	}
	for _, j := range out {
		from := j.Label
		if from == "" {
			from = j.From
		}
		switch j.Outcome {
		case coordinator.ReceivedMerged, coordinator.ReceivedNew:
			signers := "no new signature"
			if len(j.Signers) > 0 {
				signers = "signed by " + strings.Join(j.Signers, ", ")
			}
			fmt.Fprintf(o.IO.Out, "%s from %s: spend %s %s (%s), now %s\n", j.At, safe(from), shortID(j.Spend), j.Outcome, signers, j.State)
		default:
			fmt.Fprintf(o.IO.Out, "%s from %s: %s: %s\n", j.At, safe(from), j.Outcome, safe(j.Reason))
		}
	}
	return nil
}

// shortID is the first 12 digits of a draft or event id.
func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// keyOr is the --key flag when given, else the relay setup's key: on a
// shared store the setup names one operator's key, and each operator
// sends and receives with their own.
func keyOr(flag, setup string) string {
	if flag != "" {
		return flag
	}
	return setup
}
