package coordinator

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"

	"github.com/countersign/countersign/internal/bip137"
	"github.com/countersign/countersign/psbt"
	"github.com/countersign/countersign/wallet"
)

// ErrJournalBroken means the audit journal's hash chain does not hold: an
// entry was changed, inserted or removed outside countersign, or a signed
// head does not match the journal. It wraps psbt.ErrRefused (exit 4).
var ErrJournalBroken = fmt.Errorf("%w: the audit journal does not verify", psbt.ErrRefused)

// Journal returns the journal entries about the wallet called walletName
// (the whole journal when ""), oldest first, from since on (zero: all).
func (c *Coordinator) Journal(ctx context.Context, walletName string, since time.Time) ([]wallet.JournalEntry, error) {
	var es []wallet.JournalEntry
	var err error
	if walletName == "" {
		es, err = c.Store.AllJournal(ctx)
	} else {
		es, err = c.Store.Journal(ctx, walletName, 0)
		for i, j := 0, len(es)-1; i < j; i, j = i+1, j-1 {
			es[i], es[j] = es[j], es[i]
		}
	}
	if err != nil {
		return nil, err
	}
	out := es[:0]
	for _, e := range es {
		if !e.Time.Before(since) {
			out = append(out, e)
		}
	}
	return out, nil
}

// JournalCheck is what verifying the journal found.
type JournalCheck struct {
	wallet.ChainState
	// Signed is the signed head checked with VerifyJournal's signature,
	// nil without one; Later counts the entries after the signed one,
	// which the signature does not cover.
	Signed *JournalSignature
	Later  int
}

// VerifyJournal walks the journal's hash chain; a break is an error
// wrapping ErrJournalBroken that names the first entry that does not
// chain. With sig (a `journal sign` result), it also checks the signature
// and that the signed head is the hash of the entry it names in this
// journal: the journal up to there is the one that was signed.
func (c *Coordinator) VerifyJournal(ctx context.Context, sig *JournalSignature) (*JournalCheck, error) {
	es, err := c.Store.AllJournal(ctx)
	if err != nil {
		return nil, err
	}
	chk := &JournalCheck{ChainState: wallet.VerifyChain(es)}
	if b := chk.Break; b != nil {
		return chk, fmt.Errorf("%w: entry %d does not chain: %s", ErrJournalBroken, b.Entry, b.Reason)
	}
	if sig == nil {
		return chk, nil
	}
	if err := sig.check(); err != nil {
		return chk, err
	}
	at := -1
	for i, e := range es {
		if e.ID == sig.Entry {
			at = i
		}
	}
	if at < 0 {
		return chk, fmt.Errorf("%w: the signature is for entry %d, which this journal does not have", ErrJournalBroken, sig.Entry)
	}
	head := wallet.VerifyChain(es[:at+1]).Head
	if hex.EncodeToString(head[:]) != sig.Head {
		return chk, fmt.Errorf("%w: entry %d hashes to %x here, but the signed head is %s: the journal up to it is not the one that was signed", ErrJournalBroken, sig.Entry, head, sig.Head)
	}
	chk.Signed, chk.Later = sig, len(es)-at-1
	return chk, nil
}

// JournalSignature is a signed journal head: a Bitcoin signed message
// (BIP-137) by a cosigner's key over "countersign journal head HASH at
// entry N".
type JournalSignature struct {
	Address   string `json:"address"`
	Message   string `json:"message"`
	Signature string `json:"signature"`
	// Entry and Head are what Message says; Fingerprint the signer's key
	// fingerprint (the first four bytes of the address's HASH160: the
	// master key signs).
	Entry       int64  `json:"entry"`
	Head        string `json:"head"`
	Fingerprint string `json:"fingerprint"`
}

// headMessage is the message a journal head is signed as.
func headMessage(head string, entry int64) string {
	return fmt.Sprintf("countersign journal head %s at entry %d", head, entry)
}

// headMessageRE is compiled on first use, not by every process at start.
var headMessageRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^countersign journal head ([0-9a-f]{64}) at entry ([1-9][0-9]{0,18})$`)
})

// MessageSigner signs a Bitcoin signed message (a software key, see
// hw/soft.Signer.SignMessage).
type MessageSigner interface {
	SignMessage(ctx context.Context, message string) (address, signature string, err error)
}

// SignJournal signs the journal's head hash with s, after checking that
// the chain holds (a broken journal is not vouched for).
func (c *Coordinator) SignJournal(ctx context.Context, s MessageSigner) (*JournalSignature, error) {
	chk, err := c.VerifyJournal(ctx, nil)
	if err != nil {
		return nil, err
	}
	if chk.Entries == 0 {
		return nil, fmt.Errorf("the journal is empty: %w; there is nothing to sign", wallet.ErrInvalid)
	}
	head := hex.EncodeToString(chk.Head[:])
	msg := headMessage(head, chk.HeadID)
	addr, sig, err := s.SignMessage(ctx, msg)
	if err != nil {
		return nil, err
	}
	js := &JournalSignature{Address: addr, Message: msg, Signature: sig, Entry: chk.HeadID, Head: head}
	if err := js.check(); err != nil {
		return nil, err
	}
	return js, nil
}

// ParseJournalSignature reads what `journal sign --json` printed (any
// other keys are ignored): address, message and signature.
func ParseJournalSignature(data []byte) (*JournalSignature, error) {
	var js JournalSignature
	if err := json.Unmarshal(data, &js); err != nil {
		return nil, fmt.Errorf("%w: a journal signature is the JSON `journal sign --json` prints: %v", wallet.ErrInvalid, err)
	}
	if js.Address == "" || js.Message == "" || js.Signature == "" {
		return nil, fmt.Errorf("%w: a journal signature needs address, message and signature", wallet.ErrInvalid)
	}
	m := headMessageRE().FindStringSubmatch(js.Message)
	if m == nil {
		return nil, fmt.Errorf("%w: the signed message %q is not a countersign journal head", wallet.ErrInvalid, js.Message)
	}
	entry, err := strconv.ParseInt(m[2], 10, 64)
	if err != nil {
		return nil, fmt.Errorf("%w: entry %q", wallet.ErrInvalid, m[2])
	}
	js.Head, js.Entry = m[1], entry
	return &js, nil
}

// check verifies the signature (BIP-137) for its address, on whichever
// network the address is of, and fills Fingerprint.
func (js *JournalSignature) check() error {
	var lastErr error
	for _, net := range []*chaincfg.Params{&chaincfg.MainNetParams, &chaincfg.TestNet3Params, &chaincfg.RegressionNetParams, &chaincfg.SigNetParams} {
		a, err := btcutil.DecodeAddress(js.Address, net)
		if err != nil || !a.IsForNet(net) {
			continue
		}
		if err := bip137.Verify(js.Address, js.Signature, js.Message, net); err != nil {
			lastErr = err
			break
		}
		if h := a.ScriptAddress(); len(h) >= 4 {
			js.Fingerprint = hex.EncodeToString(h[:4])
		}
		return nil
	}
	if lastErr == nil {
		lastErr = fmt.Errorf("%q is not a Bitcoin address", js.Address)
	}
	if errors.Is(lastErr, bip137.ErrMismatch) {
		return fmt.Errorf("%w: %v", ErrJournalBroken, lastErr)
	}
	return fmt.Errorf("%w: %v", wallet.ErrInvalid, lastErr)
}

// SignerName names the cosigner whose fingerprint signed, from the stored
// wallets' labels; "" when none has that fingerprint.
func (c *Coordinator) SignerName(ctx context.Context, fingerprint string) string {
	ws, err := c.Store.Wallets(ctx)
	if err != nil {
		return ""
	}
	for _, w := range ws {
		for i, fp := range w.Fingerprints {
			if strings.EqualFold(fp, fingerprint) {
				if i < len(w.Labels) && w.Labels[i] != "" {
					return w.Labels[i]
				}
				return "a cosigner of wallet " + w.Name
			}
		}
	}
	return ""
}
