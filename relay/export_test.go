package relay

import (
	"context"
	"encoding/hex"
	"encoding/json"

	"github.com/nbd-wtf/go-nostr"

	"github.com/countersign/countersign/relay/nip44"
)

// FetchRaw returns the events addressed to sk's key as the relay stores
// them (JSON), for tests that look at what a relay sees.
func FetchRaw(ctx context.Context, url string, sk nip44.SecretKey) ([]string, error) {
	me, err := sk.Public()
	if err != nil {
		return nil, err
	}
	r, err := nostr.RelayConnect(ctx, url)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	evs, err := r.QuerySync(ctx, nostr.Filter{Kinds: []int{Kind}, Tags: nostr.TagMap{"p": {hex.EncodeToString(me[:])}}})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, ev := range evs {
		b, _ := json.Marshal(ev)
		out = append(out, string(b))
	}
	return out, nil
}
