package chain

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

// Time locks counted in seconds (after(T) with T >= 500000000, older(N)
// with the BIP-68 type flag) are judged against the median time past of
// the chain, not against any clock: BIP-113 makes a transaction with a
// time nLockTime final in a block when the median of the previous 11
// blocks' timestamps is above it, and BIP-68 counts a relative time lock
// from the median time past of the block before the coin's. Neither the
// nodes nor Esplora agree on a field that carries it for any block
// (btcd's getblockheader has none), so countersign reads the 11 headers
// and takes the median itself, as Bitcoin Core's
// CBlockIndex::GetMedianTimePast (src/chain.h) and btcd's
// blockNode.CalcPastMedianTime (blockchain/blockindex.go) do.

// medianTimeSpan is how many blocks the median time past is taken over
// (BIP-113; Core's nMedianTimeSpan).
const medianTimeSpan = 11

// maxHeaderSpan bounds one Headers call: the answer is small and its size
// known before asking.
const maxHeaderSpan = medianTimeSpan

// HeaderSource is implemented by backends that serve main-chain block
// headers by height. MedianTimePast needs it.
type HeaderSource interface {
	// Headers returns the main-chain headers at heights from to to,
	// inclusive, oldest first; at most maxHeaderSpan (11) of them. Each
	// is checked to hash to the block the backend named for its height
	// and to link to the one before it.
	Headers(ctx context.Context, from, to int32) ([]wire.BlockHeader, error)
}

// MedianTimePast returns the median time past (BIP-113) of the main-chain
// block at height: the median of its timestamp and its ten predecessors'
// (fewer near the genesis block, as Core counts them). A backend that
// serves no headers gives ErrUnsupported: a time lock is then refused,
// never judged by a guess.
func MedianTimePast(ctx context.Context, b Backend, height int32) (time.Time, error) {
	hs, ok := b.(HeaderSource)
	if !ok {
		return time.Time{}, fmt.Errorf("%w: %s serves no block headers, so countersign cannot know the median time past that time locks are judged by; use a btcd, Bitcoin Core or Esplora backend",
			ErrUnsupported, Name(b))
	}
	if height < 0 {
		return time.Time{}, fmt.Errorf("chain: no block has the negative height %d", height)
	}
	headers, err := hs.Headers(ctx, max(0, height-(medianTimeSpan-1)), height)
	if err != nil {
		return time.Time{}, err
	}
	return medianTime(headers), nil
}

// medianTime is the median of the headers' timestamps: sorted, the one in
// the middle (the later of the two middle ones for an even count, as
// Core's pbegin[(pend - pbegin) / 2]).
func medianTime(headers []wire.BlockHeader) time.Time {
	ts := make([]int64, len(headers))
	for i, h := range headers {
		ts[i] = h.Timestamp.Unix()
	}
	slices.Sort(ts)
	return time.Unix(ts[len(ts)/2], 0).UTC()
}

// checkHeaderSpan refuses a Headers request countersign never makes.
func checkHeaderSpan(from, to int32) error {
	if from < 0 || to < from || to-from >= maxHeaderSpan {
		return fmt.Errorf("chain: headers %d to %d: ask for 1 to %d headers at heights of 0 or more", from, to, maxHeaderSpan)
	}
	return nil
}

// checkHeaderChain checks that each header hashes to want[i] and links to
// the one before it. A header that does not hash to the block the backend
// named is a lie; a link that breaks is most likely a reorganisation
// between two questions, which asking again settles.
func checkHeaderChain(who string, headers []wire.BlockHeader, want []chainhash.Hash) error {
	for i := range headers {
		if got := headers[i].BlockHash(); got != want[i] {
			return fmt.Errorf("%w: %s sent header %s for block %s", ErrLying, who, got, want[i])
		}
		if i > 0 && headers[i].PrevBlock != want[i-1] {
			return fmt.Errorf("%w: %s: block %s does not follow block %s (the chain changed while countersign read it?); retry",
				ErrUnavailable, who, want[i], want[i-1])
		}
	}
	return nil
}

// decodeHeaderHex decodes one 80-byte serialized header given as hex.
func decodeHeaderHex(s string) (wire.BlockHeader, error) {
	raw, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return wire.BlockHeader{}, fmt.Errorf("not hex: %w", err)
	}
	if len(raw) != wire.MaxBlockHeaderPayload {
		return wire.BlockHeader{}, fmt.Errorf("%d bytes, not a %d-byte block header", len(raw), wire.MaxBlockHeaderPayload)
	}
	var h wire.BlockHeader
	if err := h.Deserialize(bytes.NewReader(raw)); err != nil {
		return wire.BlockHeader{}, err
	}
	return h, nil
}

// Headers asks getblockhash for every height, then getblockheader with
// verbose false (the 80-byte header as hex, which btcd and Bitcoin Core
// both answer) for every hash: two batches, two round trips.
func (b *nodeBase) Headers(ctx context.Context, from, to int32) ([]wire.BlockHeader, error) {
	if err := checkHeaderSpan(from, to); err != nil {
		return nil, err
	}
	n := int(to-from) + 1
	hashHexes := make([]string, n)
	calls := make([]*rpcCall, n)
	for i := range calls {
		calls[i] = newCall("getblockhash", &hashHexes[i], from+int32(i))
	}
	if err := b.rpc.batch(ctx, calls); err != nil {
		return nil, err
	}
	who := b.rpc.kind.String() + " at " + b.rpc.host
	hashes := make([]chainhash.Hash, n)
	for i, c := range calls {
		if c.err != nil {
			if strings.Contains(c.err.Message, "out of range") {
				return nil, fmt.Errorf("%w: %s has no block at height %d (it is above the tip)", ErrNotFound, who, from+int32(i))
			}
			return nil, b.fail("getblockhash", c.err)
		}
		h, err := parseHash(hashHexes[i])
		if err != nil {
			return nil, fmt.Errorf("%w: %s answered getblockhash %d with %v", ErrUnavailable, who, from+int32(i), err)
		}
		hashes[i] = h
	}
	headerHexes := make([]string, n)
	for i := range calls {
		calls[i] = newCall("getblockheader", &headerHexes[i], hashes[i].String(), false)
	}
	if err := b.rpc.batch(ctx, calls); err != nil {
		return nil, err
	}
	headers := make([]wire.BlockHeader, n)
	for i, c := range calls {
		if c.err != nil {
			if c.err.Code == codeNoInfo {
				return nil, fmt.Errorf("%w: %s no longer knows block %s (the chain changed while countersign read it?); retry", ErrUnavailable, who, hashes[i])
			}
			return nil, b.fail("getblockheader", c.err)
		}
		h, err := decodeHeaderHex(headerHexes[i])
		if err != nil {
			return nil, fmt.Errorf("%w: %s sent a bad header for block %s: %v", ErrLying, who, hashes[i], err)
		}
		headers[i] = h
	}
	if err := checkHeaderChain(who, headers, hashes); err != nil {
		return nil, err
	}
	return headers, nil
}

// Headers reads /block-height/:to for the newest hash, then
// /block/:hash/header (the header as hex) for each block back to from,
// following each header's previous-block hash: one round trip per header
// plus one.
func (b *esploraBackend) Headers(ctx context.Context, from, to int32) ([]wire.BlockHeader, error) {
	if err := checkHeaderSpan(from, to); err != nil {
		return nil, err
	}
	who := "Esplora at " + b.host
	hash, err := b.BlockHash(ctx, to)
	if err != nil {
		return nil, err
	}
	n := int(to-from) + 1
	headers := make([]wire.BlockHeader, n)
	hashes := make([]chainhash.Hash, n)
	for i := n - 1; i >= 0; i-- {
		hashes[i] = hash
		path := "/block/" + hash.String() + "/header"
		raw, err := b.do(ctx, http.MethodGet, path, "", maxHeaderAnswer)
		var status *httpStatusError
		if errors.As(err, &status) && status.status == http.StatusNotFound {
			return nil, fmt.Errorf("%w: %s does not know block %s (the chain changed while countersign read it?); retry", ErrUnavailable, who, hash)
		}
		if err != nil {
			return nil, err
		}
		h, err := decodeHeaderHex(string(raw))
		if err != nil {
			return nil, fmt.Errorf("%w: %s sent a bad header for block %s: %v", ErrLying, who, hash, err)
		}
		headers[i] = h
		hash = h.PrevBlock
	}
	if err := checkHeaderChain(who, headers, hashes); err != nil {
		return nil, err
	}
	return headers, nil
}

// maxHeaderAnswer bounds one Esplora header answer: 160 hex digits and
// some whitespace.
const maxHeaderAnswer = 1 << 10
