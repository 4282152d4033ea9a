package relay_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/nostrrelay"
	"github.com/countersign/countersign/relay"
	"github.com/countersign/countersign/relay/nip44"
)

func key(b byte) (nip44.SecretKey, nip44.PublicKey) {
	var sk nip44.SecretKey
	sk[31] = b
	sk[0] = 0x42
	pk, err := sk.Public()
	if err != nil {
		panic(err)
	}
	return sk, pk
}

// TestSendFetch: a message from a to b through a real relay reaches b,
// decrypted, with a as its sender; c, to whom nothing was sent, gets
// nothing; c waiting gets the message published to it while it listens,
// and not the one to b.
func TestSendFetch(t *testing.T) {
	url := nostrrelay.Start(t)
	ctx := context.Background()
	askA, apkA := key(1)
	bsk, bpk := key(2)
	csk, _ := key(3)
	sent, err := relay.Send(ctx, []string{url}, askA, bpk, []byte("cHNidP8B-a-psbt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(sent.Relays) != 1 {
		t.Fatalf("accepted by %v", sent.Relays)
	}
	since := time.Now().Add(-time.Hour)
	msgs, err := relay.Fetch(ctx, []string{url}, bsk, since, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || msgs[0].Err != nil || string(msgs[0].Plaintext) != "cHNidP8B-a-psbt" || msgs[0].From != apkA || msgs[0].ID != sent.ID {
		t.Fatalf("b got %+v", msgs)
	}
	if msgs, err := relay.Fetch(ctx, []string{url}, csk, since, 0); err != nil || len(msgs) != 0 {
		t.Fatalf("c got %+v, %v", msgs, err)
	}
	// Waiting: c listens, a sends while it does.
	_, cpk := key(3)
	done := make(chan []relay.Message, 1)
	go func() {
		m, err := relay.Fetch(ctx, []string{url}, csk, since, 20*time.Second)
		if err != nil {
			t.Error(err)
		}
		done <- m
	}()
	time.Sleep(500 * time.Millisecond)
	// The test relay (@nostr-relay/core) passes live events to every
	// subscription of their kind without checking "#p": the one to b
	// must not reach c.
	if _, err := relay.Send(ctx, []string{url}, askA, bpk, []byte("for b")); err != nil {
		t.Fatal(err)
	}
	if _, err := relay.Send(ctx, []string{url}, askA, cpk, []byte("later")); err != nil {
		t.Fatal(err)
	}
	if m := <-done; len(m) != 1 || string(m[0].Plaintext) != "later" {
		t.Fatalf("waiting c got %+v", m)
	}
}

// TestNothingInClear: the event a relay stores carries the NIP-44 payload,
// never the plaintext.
func TestNothingInClear(t *testing.T) {
	url := nostrrelay.Start(t)
	ctx := context.Background()
	ask, _ := key(1)
	bsk, bpk := key(2)
	secret := "cHNidP8BAHECAAAAAfN0dGhpcyBpcyB0aGUgcHNidA"
	if _, err := relay.Send(ctx, []string{url}, ask, bpk, []byte(secret)); err != nil {
		t.Fatal(err)
	}
	raw, err := relay.FetchRaw(ctx, url, bsk)
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) != 1 || strings.Contains(raw[0], secret) || strings.Contains(raw[0], "cHNidP8") {
		t.Fatalf("stored events %q", raw)
	}
}

func TestUnreachable(t *testing.T) {
	ask, _ := key(1)
	_, bpk := key(2)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := relay.Send(ctx, []string{"ws://127.0.0.1:1"}, ask, bpk, []byte("x"))
	if !errors.Is(err, relay.ErrUnreachable) {
		t.Fatalf("got %v", err)
	}
}

func TestParseNpubAndURL(t *testing.T) {
	_, pk := key(7)
	got, err := relay.ParseNpub(relay.Npub(pk))
	if err != nil || got != pk {
		t.Fatalf("npub round trip: %v", err)
	}
	for _, bad := range []string{"", "npub1qqq", "zz", strings.Repeat("ff", 32), "nsec1abc"} {
		if _, err := relay.ParseNpub(bad); !errors.Is(err, relay.ErrInvalid) {
			t.Errorf("ParseNpub(%q) = %v", bad, err)
		}
	}
	for _, ok := range []string{"wss://relay.example", "ws://127.0.0.1:7000"} {
		if err := relay.CheckURL(ok); err != nil {
			t.Errorf("CheckURL(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"https://relay.example", "ws://relay.example", "wss://", "relay"} {
		if err := relay.CheckURL(bad); !errors.Is(err, relay.ErrInvalid) {
			t.Errorf("CheckURL(%q) = %v", bad, err)
		}
	}
}
