package coordinator

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg/chainhash"

	"github.com/countersign/countersign/psbt"
	"github.com/countersign/countersign/relay"
	"github.com/countersign/countersign/relay/nip44"
	"github.com/countersign/countersign/wallet"
)

// The wallet settings the PSBT relay keeps (no table of its own: a
// wallet's relay setup is one JSON value, and where receive left off one
// number per receiving key).
const (
	settingRelay      = "relay"
	settingRelaySince = "relay_since"
)

// RelayConfig is how a wallet's cosigners reach each other over Nostr:
// the relays, the local software key whose Nostr key (NIP-06) sends and
// receives, and each remote cosigner's Nostr public key by label.
type RelayConfig struct {
	Relays    []string        `json:"relays"`
	Key       string          `json:"key"`
	Cosigners []RelayCosigner `json:"cosigners"`
}

// RelayCosigner is one cosigner reachable over the relay.
type RelayCosigner struct {
	Label  string          `json:"label"`
	PubKey nip44.PublicKey `json:"-"`
	Hex    string          `json:"pubkey"` // PubKey in hex, as stored
}

// check refuses an unusable setup and fills Hex/PubKey.
func (rc *RelayConfig) check() error {
	if len(rc.Relays) == 0 {
		return fmt.Errorf("%w: give at least one relay (--relay wss://...)", wallet.ErrInvalid)
	}
	for _, u := range rc.Relays {
		if err := relay.CheckURL(u); err != nil {
			return fmt.Errorf("%w: %v", wallet.ErrInvalid, err)
		}
	}
	if strings.TrimSpace(rc.Key) == "" {
		return fmt.Errorf("%w: name the local software key whose Nostr key sends and receives (--key NAME)", wallet.ErrInvalid)
	}
	seen := map[string]bool{}
	for i := range rc.Cosigners {
		co := &rc.Cosigners[i]
		if co.Label == "" || seen[co.Label] {
			return fmt.Errorf("%w: cosigner label %q is empty or given twice", wallet.ErrInvalid, co.Label)
		}
		seen[co.Label] = true
		// Hex is what is stored; a caller may give PubKey alone. Either
		// way the key must be a point on the curve.
		if co.Hex == "" {
			co.Hex = hex.EncodeToString(co.PubKey[:])
		}
		pk, err := relay.ParseNpub(co.Hex)
		if err != nil {
			return fmt.Errorf("cosigner %q: %w: %v", co.Label, wallet.ErrInvalid, err)
		}
		co.PubKey, co.Hex = pk, hex.EncodeToString(pk[:])
	}
	return nil
}

// ParseRelayCosigner reads LABEL=npub1... (or LABEL=64 hex digits).
func ParseRelayCosigner(s string) (RelayCosigner, error) {
	label, key, ok := strings.Cut(s, "=")
	label = strings.TrimSpace(label)
	if !ok || label == "" {
		return RelayCosigner{}, fmt.Errorf("%w: %q: give a cosigner as LABEL=NPUB", wallet.ErrInvalid, s)
	}
	pk, err := relay.ParseNpub(key)
	if err != nil {
		return RelayCosigner{}, fmt.Errorf("cosigner %q: %w: %v", label, wallet.ErrInvalid, err)
	}
	return RelayCosigner{Label: label, PubKey: pk, Hex: hex.EncodeToString(pk[:])}, nil
}

// SetRelay stores the wallet's relay setup, replacing any before it
// (journaled as a setting change).
func (c *Coordinator) SetRelay(ctx context.Context, walletName string, rc RelayConfig) error {
	if _, err := c.Wallet(ctx, walletName); err != nil {
		return err
	}
	if err := rc.check(); err != nil {
		return err
	}
	b, err := json.Marshal(rc)
	if err != nil {
		return err
	}
	return c.Store.SetSetting(ctx, walletName, settingRelay, string(b))
}

// ErrNoRelay means a wallet has no relay setup.
var ErrNoRelay = fmt.Errorf("%w: no relay set up for this wallet (countersign wallet relay set)", wallet.ErrNotFound)

// Relay returns the wallet's relay setup; ErrNoRelay when none.
func (c *Coordinator) Relay(ctx context.Context, walletName string) (*RelayConfig, error) {
	v, err := c.Store.Setting(ctx, walletName, settingRelay)
	if errors.Is(err, wallet.ErrNotFound) {
		if _, werr := c.Wallet(ctx, walletName); werr != nil {
			return nil, werr
		}
		return nil, fmt.Errorf("wallet %q: %w", walletName, ErrNoRelay)
	}
	if err != nil {
		return nil, err
	}
	var rc RelayConfig
	if err := json.Unmarshal([]byte(v), &rc); err != nil {
		return nil, fmt.Errorf("wallet %q: stored relay setup does not parse (%v): %w", walletName, err, wallet.ErrInvalid)
	}
	if err := rc.check(); err != nil {
		return nil, fmt.Errorf("wallet %q: stored relay setup: %w", walletName, err)
	}
	return &rc, nil
}

// cosignerByLabel finds a relay cosigner.
func (rc *RelayConfig) cosignerByLabel(label string) (RelayCosigner, bool) {
	for _, co := range rc.Cosigners {
		if co.Label == label {
			return co, true
		}
	}
	return RelayCosigner{}, false
}

// cosignerByKey finds the relay cosigner with Nostr key pk.
func (rc *RelayConfig) cosignerByKey(pk nip44.PublicKey) (RelayCosigner, bool) {
	for _, co := range rc.Cosigners {
		if co.PubKey == pk {
			return co, true
		}
	}
	return RelayCosigner{}, false
}

// RelaySent is one recipient's message.
type RelaySent struct {
	Label   string
	PubKey  nip44.PublicKey
	EventID string
	Relays  []string          // relays that accepted it
	Failed  map[string]string // relays that did not, and why
}

// RelaySendResult is what SendPSBT published.
type RelaySendResult struct {
	Pending *Pending
	Sent    []RelaySent
}

// SendPSBT publishes the newest version of the spend ref to each cosigner
// labelled in to, one NIP-44 encrypted event per recipient, signed with
// sk (the local software key's Nostr key). The PSBT passes the gate first,
// as before any other step that hands it on. Recipients are all checked
// before anything is sent.
func (c *Coordinator) SendPSBT(ctx context.Context, walletName, ref string, to []string, sk nip44.SecretKey, opts GateOptions) (*RelaySendResult, error) {
	if len(to) == 0 {
		return nil, fmt.Errorf("%w: name at least one cosigner to send to (--to LABEL)", wallet.ErrInvalid)
	}
	p, err := c.PendingSpend(ctx, walletName, ref)
	if err != nil {
		return nil, err
	}
	if !p.live() {
		return nil, fmt.Errorf("spend %s is %s: %w; only a draft is sent to cosigners", p.ID, p.State, wallet.ErrInvalid)
	}
	rc, err := c.Relay(ctx, p.Wallet.Name)
	if err != nil {
		return nil, err
	}
	var recipients []RelayCosigner
	for _, l := range to {
		co, ok := rc.cosignerByLabel(l)
		if !ok {
			return nil, fmt.Errorf("%w: wallet %q has no relay cosigner %q (countersign wallet relay show)", wallet.ErrNotFound, p.Wallet.Name, l)
		}
		recipients = append(recipients, co)
	}
	vetted, _, _, err := c.vet(ctx, p.Wallet, p.PSBT, opts)
	if err != nil {
		return nil, err
	}
	b64, err := psbt.Encode(vetted)
	if err != nil {
		return nil, err
	}
	if len(b64) > nip44.MaxPlaintext {
		return nil, fmt.Errorf("%w: the PSBT is %d bytes in base64; one NIP-44 message carries at most %d (send it as a file instead)", wallet.ErrInvalid, len(b64), nip44.MaxPlaintext)
	}
	out := &RelaySendResult{Pending: p}
	for _, co := range recipients {
		s, err := relay.Send(ctx, rc.Relays, sk, co.PubKey, []byte(b64))
		if err != nil {
			return out, fmt.Errorf("send to %q: %w", co.Label, err)
		}
		rs := RelaySent{Label: co.Label, PubKey: co.PubKey, EventID: s.ID, Relays: s.Relays, Failed: map[string]string{}}
		for r, e := range s.Failed {
			rs.Failed[r] = e.Error()
		}
		out.Sent = append(out.Sent, rs)
		// On record as each recipient's message leaves: who was sent
		// which version, through which relays.
		if err := c.Store.Record(ctx, p.Wallet.Name, wallet.ActionRelaySend, map[string]any{
			"txid": p.TxID.String(), "psbt_sha256": sha256Hex(b64), "to": co.Label, "pubkey": co.Hex,
			"event_id": s.ID, "relays": s.Relays,
		}); err != nil {
			return out, err
		}
	}
	return out, nil
}

// sha256Hex names the PSBT sent (base64 text decoded) as draft ids do.
func sha256Hex(b64 string) string {
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		raw = []byte(b64)
	}
	h := sha256.Sum256(raw)
	return hex.EncodeToString(h[:])
}

// The outcomes of one received message.
const (
	ReceivedMerged        = "merged"         // its signatures joined a draft here
	ReceivedNew           = "new"            // stored as a new draft (ReceiveOptions.New)
	ReceivedUnknownTx     = "unknown-tx"     // no draft of its transaction here: reported, not stored
	ReceivedUnknownSender = "unknown-sender" // not from a cosigner of the wallet's relay setup: ignored
	ReceivedRefused       = "refused"        // undecryptable, not a PSBT, not this wallet's, or refused by the gate
)

// Received is one message fetched from the relays and what became of it.
type Received struct {
	EventID string
	From    nip44.PublicKey
	Label   string // the sender's cosigner label, "" when unknown
	At      time.Time
	Outcome string
	TxID    *chainhash.Hash
	Pending *Pending // the spend it joined, for merged and new
	Signers []string // fingerprints whose signatures it added
	Reason  string   // why refused or not stored
}

// ReceiveOptions are ReceivePSBTs' choices.
type ReceiveOptions struct {
	// Wait, when > 0 and nothing is waiting, listens that long for the
	// first message.
	Wait time.Duration
	// New stores a PSBT of a transaction this store has no draft of, as
	// a new draft (a cosigner taking a spend proposed elsewhere); without
	// it such a PSBT is reported and dropped.
	New bool
	// All fetches every message, not only those since the last receive.
	All  bool
	Gate GateOptions
}

// ReceivePSBTs fetches the messages addressed to sk on the wallet's relays
// since the last receive, decrypts them, and merges each PSBT from a
// cosigner of the wallet's relay setup into its draft through the same
// path as `psbt combine` (every copy vetted by the gate, every signature
// verified). Nothing is stored from an unknown sender, for a transaction
// with no draft here (unless opts.New), or that the gate refuses; each
// such message is reported with why.
func (c *Coordinator) ReceivePSBTs(ctx context.Context, walletName string, sk nip44.SecretKey, opts ReceiveOptions) ([]Received, error) {
	rc, err := c.Relay(ctx, walletName)
	if err != nil {
		return nil, err
	}
	me, err := sk.Public()
	if err != nil {
		return nil, err
	}
	// Where each receiving key left off: on a shared store several
	// operators receive for one wallet, each with their own key.
	sinceKey := settingRelaySince + "_" + hex.EncodeToString(me[:8])
	since := time.Unix(0, 0)
	if !opts.All {
		if v, err := c.Store.Setting(ctx, walletName, sinceKey); err == nil {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				since = time.Unix(n, 0)
			}
		}
	}
	msgs, err := relay.Fetch(ctx, rc.Relays, sk, since, opts.Wait)
	if err != nil {
		return nil, err
	}
	var out []Received
	newest := since
	for _, m := range msgs {
		r := c.receiveOne(ctx, walletName, rc, m, opts)
		out = append(out, r)
		detail := map[string]any{"event_id": r.EventID, "from": hex.EncodeToString(r.From[:]), "label": r.Label, "outcome": r.Outcome, "reason": r.Reason}
		if r.TxID != nil {
			detail["txid"] = r.TxID.String()
		}
		if err := c.Store.Record(ctx, walletName, wallet.ActionRelayReceive, detail); err != nil {
			return out, err
		}
		if m.CreatedAt.After(newest) {
			newest = m.CreatedAt
		}
	}
	// Where to start next time: the newest message's second (inclusive:
	// another message in the same second is fetched again, and merging a
	// PSBT twice changes nothing).
	if newest.After(since) {
		if err := c.Store.SetSetting(ctx, walletName, sinceKey, strconv.FormatInt(newest.Unix(), 10)); err != nil {
			return out, err
		}
	}
	return out, nil
}

func (c *Coordinator) receiveOne(ctx context.Context, walletName string, rc *RelayConfig, m relay.Message, opts ReceiveOptions) Received {
	r := Received{EventID: m.ID, From: m.From, At: m.CreatedAt}
	co, ok := rc.cosignerByKey(m.From)
	if !ok {
		r.Outcome, r.Reason = ReceivedUnknownSender, "the sender is not a cosigner of this wallet's relay setup"
		return r
	}
	r.Label = co.Label
	if m.Err != nil {
		r.Outcome, r.Reason = ReceivedRefused, m.Err.Error()
		return r
	}
	p, err := psbt.Decode(m.Plaintext)
	if err != nil {
		r.Outcome, r.Reason = ReceivedRefused, "not a PSBT: "+err.Error()
		return r
	}
	txid := p.UnsignedTx.TxHash()
	r.TxID = &txid
	w, err := c.WalletFor(ctx, walletName, p)
	if err != nil {
		r.Outcome, r.Reason = ReceivedRefused, err.Error()
		return r
	}
	before, err := c.latestVersion(ctx, w, txid)
	if err != nil {
		r.Outcome, r.Reason = ReceivedRefused, err.Error()
		return r
	}
	if before == nil && !opts.New {
		r.Outcome, r.Reason = ReceivedUnknownTx, "no draft of this transaction here; receive with --new to take it as a new draft"
		return r
	}
	res, err := c.Combine(ctx, w.Name, []*bpsbt.Packet{p}, opts.Gate)
	if err != nil {
		r.Outcome, r.Reason = ReceivedRefused, err.Error()
		return r
	}
	r.Outcome = ReceivedMerged
	if before == nil {
		r.Outcome = ReceivedNew
	}
	r.Signers = newSigners(before, res.Report)
	if pend, err := c.PendingSpend(ctx, w.Name, txid.String()); err == nil {
		r.Pending = pend
	}
	return r
}
