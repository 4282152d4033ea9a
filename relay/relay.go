// Package relay carries PSBTs between cosigners over Nostr relays
// (NIP-01 events), each message encrypted with NIP-44 v2 to one recipient
// (package nip44). It never publishes anything unencrypted: Send takes a
// plaintext and a recipient, and only the NIP-44 payload leaves this
// computer.
//
// What a relay sees, and any reader of it: the sender's and recipient's
// Nostr public keys (the event's pubkey and its "p" tag), when each message
// was sent, its kind (so that it is a countersign PSBT message), and its
// size to within NIP-44's padding. Not the PSBT.
//
// The wire: one regular event of kind Kind per recipient (NIP-01 regular
// range, so relays store it and a cosigner who is offline gets it later),
// content the NIP-44 v2 payload, tags [["p", recipient]]. Signed by the
// sender's key (BIP-340), so a recipient knows who sent it.
package relay

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/nbd-wtf/go-nostr"
	"github.com/nbd-wtf/go-nostr/nip19"

	"github.com/countersign/countersign/relay/nip44"
)

// Kind is the event kind of a countersign PSBT message: an app-specific
// regular kind (1000-9999: stored, not replaced). Not kind 4 (NIP-04's
// deprecated encryption, shown by clients as a direct message) and not
// NIP-17's gift wraps (which would hide the sender behind a throw-away key;
// countersign does not implement them yet, and says so in its README).
const Kind = 9438

// MaxMessages is the most messages one Fetch returns: a relay, or someone
// writing to a key through it, that floods the key with events gets no
// further. Relays answer a limited query with the newest events, so
// older messages past this many are not fetched (receive --all from
// another relay, or ask the cosigner to send again).
const MaxMessages = 500

var (
	// ErrInvalid: a relay URL or a key that cannot be used.
	ErrInvalid = errors.New("relay: invalid input")
	// ErrUnreachable: no relay took the message, or none answered.
	ErrUnreachable = errors.New("relay: no relay reachable")
)

// ParseNpub reads a Nostr public key given as npub1... (NIP-19) or as 64
// hex digits.
func ParseNpub(s string) (nip44.PublicKey, error) {
	var pk nip44.PublicKey
	s = strings.TrimSpace(s)
	hexKey := s
	if strings.HasPrefix(strings.ToLower(s), "npub1") {
		prefix, v, err := nip19.Decode(strings.ToLower(s))
		if err != nil || prefix != "npub" {
			return pk, fmt.Errorf("%w: %q is not an npub (NIP-19)", ErrInvalid, s)
		}
		hexKey, _ = v.(string)
	}
	b, err := hex.DecodeString(hexKey)
	if err != nil || len(b) != 32 {
		return pk, fmt.Errorf("%w: %q is neither an npub nor 64 hex digits", ErrInvalid, s)
	}
	copy(pk[:], b)
	// Encrypting to a key off the curve fails later; refuse it now.
	if _, err := nip44.ConversationKey(oneKey(), pk); err != nil {
		return pk, fmt.Errorf("%w: %q is not a key on secp256k1", ErrInvalid, s)
	}
	return pk, nil
}

// oneKey is the secret key 1, used only to check a public key's point.
func oneKey() nip44.SecretKey {
	var k nip44.SecretKey
	k[31] = 1
	return k
}

// Npub writes pk as NIP-19 npub1....
func Npub(pk nip44.PublicKey) string {
	s, err := nip19.EncodePublicKey(hex.EncodeToString(pk[:]))
	if err != nil {
		return hex.EncodeToString(pk[:]) // cannot happen for 32 bytes
	}
	return s
}

// CheckURL accepts a relay URL: ws:// or wss:// with a host. A plain ws://
// is allowed only to a loopback host (the payload is encrypted either way,
// but who-talks-to-whom should not cross a network in clear).
func CheckURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%w: %q is not a relay URL (wss://host)", ErrInvalid, s)
	}
	switch u.Scheme {
	case "wss":
		return nil
	case "ws":
		h := u.Hostname()
		if h == "localhost" || h == "127.0.0.1" || h == "::1" {
			return nil
		}
		return fmt.Errorf("%w: %q is ws:// to another computer; use wss://", ErrInvalid, s)
	}
	return fmt.Errorf("%w: %q: a relay URL starts with wss://", ErrInvalid, s)
}

// Sent is one message published.
type Sent struct {
	ID string // the event id
	// Relays are those that accepted it (OK true); Failed those that did
	// not, with why.
	Relays []string
	Failed map[string]error
}

// Send encrypts plaintext from sk to `to` and publishes it to every relay.
// It succeeds when at least one relay accepted the event.
func Send(ctx context.Context, relays []string, sk nip44.SecretKey, to nip44.PublicKey, plaintext []byte) (*Sent, error) {
	from, err := sk.Public()
	if err != nil {
		return nil, err
	}
	payload, err := nip44.Encrypt(sk, to, plaintext)
	if err != nil {
		return nil, err
	}
	ev := nostr.Event{
		PubKey:    hex.EncodeToString(from[:]),
		CreatedAt: nostr.Now(),
		Kind:      Kind,
		Tags:      nostr.Tags{{"p", hex.EncodeToString(to[:])}},
		Content:   payload,
	}
	if err := ev.Sign(hex.EncodeToString(sk[:])); err != nil {
		return nil, fmt.Errorf("sign the Nostr event: %w", err)
	}
	out := &Sent{ID: ev.ID, Failed: map[string]error{}}
	for _, r := range relays {
		if err := publishOne(ctx, r, ev); err != nil {
			out.Failed[r] = err
			continue
		}
		out.Relays = append(out.Relays, r)
	}
	if len(out.Relays) == 0 {
		return out, fmt.Errorf("%w: no relay accepted the message (%s)", ErrUnreachable, failures(out.Failed))
	}
	return out, nil
}

func publishOne(ctx context.Context, url string, ev nostr.Event) error {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	r, err := nostr.RelayConnect(ctx, url)
	if err != nil {
		return err
	}
	defer r.Close()
	return r.Publish(ctx, ev)
}

func failures(m map[string]error) string {
	var s []string
	for r, err := range m {
		s = append(s, r+": "+err.Error())
	}
	sort.Strings(s)
	return strings.Join(s, "; ")
}

// Message is one event addressed to the local key. Plaintext is set when
// it decrypted; Err says why not.
type Message struct {
	ID        string
	From      nip44.PublicKey
	CreatedAt time.Time
	Plaintext []byte
	Err       error
}

// Fetch returns the messages addressed to sk's public key on the relays,
// created at or after since, oldest first, each once however many relays
// hold it. With wait > 0 and nothing stored, it listens for up to wait for
// the first one to arrive. Events whose signature does not verify are
// dropped by go-nostr before they reach here.
func Fetch(ctx context.Context, relays []string, sk nip44.SecretKey, since time.Time, wait time.Duration) ([]Message, error) {
	me, err := sk.Public()
	if err != nil {
		return nil, err
	}
	ts := nostr.Timestamp(since.Unix())
	filter := nostr.Filter{Kinds: []int{Kind}, Tags: nostr.TagMap{"p": {hex.EncodeToString(me[:])}}, Since: &ts, Limit: MaxMessages}
	seen := map[string]bool{}
	var out []Message
	var reached int
	failed := map[string]error{}
	add := func(ev *nostr.Event) {
		if seen[ev.ID] || len(out) >= MaxMessages || ev.Kind != Kind || !ev.Tags.ContainsAny("p", []string{hex.EncodeToString(me[:])}) {
			return
		}
		// go-nostr checks each event's id and BIP-340 signature unless a
		// relay is marked trusted; none is here, and the check is cheap
		// enough to make again where it matters.
		if ok, err := ev.CheckSignature(); !ok || err != nil {
			return
		}
		seen[ev.ID] = true
		m := Message{ID: ev.ID, CreatedAt: ev.CreatedAt.Time().UTC()}
		b, err := hex.DecodeString(ev.PubKey)
		if err != nil || len(b) != 32 {
			m.Err = fmt.Errorf("%w: sender key %q", ErrInvalid, ev.PubKey)
		} else {
			copy(m.From[:], b)
			m.Plaintext, m.Err = nip44.Decrypt(sk, m.From, ev.Content)
		}
		out = append(out, m)
	}
	var subs []*nostr.Subscription
	defer func() {
		for _, s := range subs {
			s.Unsub()
			s.Relay.Close()
		}
	}()
	for _, url := range relays {
		cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		r, err := nostr.RelayConnect(cctx, url)
		cancel()
		if err != nil {
			failed[url] = err
			continue
		}
		sub, err := r.Subscribe(ctx, nostr.Filters{filter})
		if err != nil {
			r.Close()
			failed[url] = err
			continue
		}
		subs = append(subs, sub)
		// Stored events first, until the relay's EOSE.
		if err := drainStored(ctx, sub, add); err != nil {
			failed[url] = err
			continue
		}
		reached++
	}
	if reached == 0 {
		return nil, fmt.Errorf("%w: %s", ErrUnreachable, failures(failed))
	}
	if len(out) == 0 && wait > 0 {
		wctx, cancel := context.WithTimeout(ctx, wait)
		defer cancel()
		merged := make(chan *nostr.Event)
		for _, s := range subs {
			go func(s *nostr.Subscription) {
				for {
					select {
					case ev, ok := <-s.Events:
						if !ok {
							return
						}
						select {
						case merged <- ev:
						case <-wctx.Done():
							return
						}
					case <-wctx.Done():
						return
					}
				}
			}(s)
		}
	wait:
		for len(out) == 0 {
			select {
			case ev := <-merged:
				add(ev) // an event not for us is dropped: wait on
			case <-wctx.Done():
				break wait
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, nil
}

func drainStored(ctx context.Context, sub *nostr.Subscription, add func(*nostr.Event)) error {
	timeout := time.NewTimer(20 * time.Second)
	defer timeout.Stop()
	for {
		select {
		case ev, ok := <-sub.Events:
			if !ok {
				return errors.New("the relay closed the subscription")
			}
			add(ev)
		case <-sub.EndOfStoredEvents:
			// Events may still sit in the channel behind EOSE's signal.
			for {
				select {
				case ev := <-sub.Events:
					add(ev)
				default:
					return nil
				}
			}
		case <-timeout.C:
			return errors.New("no end of stored events within 20s")
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
