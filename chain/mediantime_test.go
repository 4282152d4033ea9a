package chain

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

// headerChain makes n linked headers whose timestamps are times[i]
// (block i), starting from a made-up parent.
func headerChain(times []int64) ([]wire.BlockHeader, []chainhash.Hash) {
	headers := make([]wire.BlockHeader, len(times))
	hashes := make([]chainhash.Hash, len(times))
	prev := hashOf("parent of block 0")
	for i, ts := range times {
		headers[i] = wire.BlockHeader{Version: 0x20000000, PrevBlock: prev, MerkleRoot: hashOf(string(rune('a' + i))),
			Timestamp: time.Unix(ts, 0), Bits: 0x207fffff}
		hashes[i] = headers[i].BlockHash()
		prev = hashes[i]
	}
	return headers, hashes
}

func headerHex(h wire.BlockHeader) string {
	var buf bytes.Buffer
	_ = h.Serialize(&buf)
	return hex.EncodeToString(buf.Bytes())
}

// timestamps out of order, as miners may set them (each only above the
// median before it): the median is taken after sorting.
var mtpTimes = []int64{
	1_700_000_000, 1_700_000_900, 1_700_000_300, 1_700_001_500, 1_700_000_600, 1_700_002_100,
	1_700_001_200, 1_700_001_800, 1_700_003_000, 1_700_002_400, 1_700_002_700, 1_700_002_200,
	1_700_003_300, 1_700_002_900,
}

// TestMedianTime: the median of the last 11 timestamps after sorting, and
// of fewer near the genesis block (the later middle one for an even
// count, as Core's GetMedianTimePast).
func TestMedianTime(t *testing.T) {
	headers, _ := headerChain(mtpTimes)
	for _, tc := range []struct {
		from, to int
		want     int64
	}{
		{3, 13, 1_700_002_200}, // 11 headers: sorted, the 6th
		{0, 0, 1_700_000_000},  // the genesis block alone
		{0, 1, 1_700_000_900},  // two: the later
		{0, 2, 1_700_000_300},  // three: the middle
		{0, 3, 1_700_000_900},  // four: the third of the sorted ones
	} {
		if got := medianTime(headers[tc.from : tc.to+1]); got.Unix() != tc.want {
			t.Errorf("medianTime(blocks %d..%d) = %d, want %d", tc.from, tc.to, got.Unix(), tc.want)
		}
	}
}

// headerNode serves getblockhash and getblockheader (verbose false) for
// a chain of headers from answer functions a test may bend.
func headerNode(t *testing.T, headers []wire.BlockHeader, hashes []chainhash.Hash, bend func(height int, hexHeader string) string) Backend {
	byHash := map[chainhash.Hash]int{}
	for i, h := range hashes {
		byHash[h] = i
	}
	srv := newRPCHostile(t, func(method string, params json.RawMessage) any {
		var p []any
		_ = json.Unmarshal(params, &p)
		switch method {
		case "getblockchaininfo":
			return regtestInfo
		case "getblockhash":
			h := int(p[0].(float64))
			if h >= len(hashes) {
				return &rpcError{Code: codeMisc, Message: "Block number out of range"}
			}
			return hashes[h].String()
		case "getblockheader":
			if p[1] != false {
				t.Errorf("getblockheader asked verbose %v, want false", p[1])
			}
			hash, _ := chainhash.NewHashFromStr(p[0].(string))
			i, ok := byHash[*hash]
			if !ok {
				return &rpcError{Code: codeNoInfo, Message: "Block not found"}
			}
			return bend(i, headerHex(headers[i]))
		}
		return &rpcError{Code: codeMethodNotFound, Message: "Method not found"}
	})
	b, err := Open("btcd://u:p@" + srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestMedianTimePastNode: a btcd-style node's headers give the median;
// a header that does not hash to its block is ErrLying; an answer that is
// not a header is ErrLying; through WithRetry it answers the same.
func TestMedianTimePastNode(t *testing.T) {
	ctx := testCtx(t)
	headers, hashes := headerChain(mtpTimes)
	honest := headerNode(t, headers, hashes, func(_ int, h string) string { return h })
	for _, b := range []Backend{honest, WithRetry(honest)} {
		got, err := MedianTimePast(ctx, b, 13)
		if err != nil || got.Unix() != 1_700_002_200 {
			t.Errorf("MedianTimePast(13) = %v, %v; want 1700002200", got.Unix(), err)
		}
		if _, err := MedianTimePast(ctx, b, 14); !errors.Is(err, ErrNotFound) {
			t.Errorf("MedianTimePast above the tip = %v, want ErrNotFound", err)
		}
	}
	// A node that moves one timestamp (say, to make a lock look open)
	// breaks the header's hash.
	swapped := headerNode(t, headers, hashes, func(i int, h string) string {
		if i != 9 {
			return h
		}
		moved := headers[9]
		moved.Timestamp = moved.Timestamp.Add(time.Hour)
		return headerHex(moved)
	})
	if _, err := MedianTimePast(ctx, swapped, 13); !errors.Is(err, ErrLying) {
		t.Errorf("a moved timestamp = %v, want ErrLying", err)
	}
	garbage := headerNode(t, headers, hashes, func(_ int, h string) string { return h + "00" })
	if _, err := MedianTimePast(ctx, garbage, 13); !errors.Is(err, ErrLying) || !strings.Contains(err.Error(), "81 bytes") {
		t.Errorf("an 81-byte header = %v, want ErrLying naming the size", err)
	}
	if _, err := MedianTimePast(ctx, honest, -1); err == nil {
		t.Error("MedianTimePast(-1) succeeded")
	}
}

// TestHeadersBrokenLink: headers that hash right but do not link (the
// chain reorganised between getblockhash and getblockheader, or a node
// mixing chains) are ErrUnavailable, which a retry settles.
func TestHeadersBrokenLink(t *testing.T) {
	ctx := testCtx(t)
	headers, hashes := headerChain(mtpTimes)
	other, otherHashes := headerChain([]int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14})
	headers[7], hashes[7] = other[7], otherHashes[7]
	b := headerNode(t, headers, hashes, func(_ int, h string) string { return h })
	if _, err := MedianTimePast(ctx, b, 13); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "does not follow") {
		t.Errorf("unlinked headers = %v, want ErrUnavailable", err)
	}
}

// TestEsploraHostileHeaders: Esplora's headers are checked alike, and an
// endless header answer stops at its small budget.
func TestEsploraHostileHeaders(t *testing.T) {
	ctx := testCtx(t)
	headers, hashes := headerChain(mtpTimes)
	byHash := map[string]int{}
	for i, h := range hashes {
		byHash[h.String()] = i
	}
	lie := false
	srv := newHostileEsplora(t, map[string]http.HandlerFunc{
		"GET /api/block-height/{h}": func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte(hashes[13].String()))
		},
		"GET /api/block/{hash}/header": func(w http.ResponseWriter, r *http.Request) {
			i, ok := byHash[r.PathValue("hash")]
			if !ok {
				http.NotFound(w, r)
				return
			}
			h := headers[i]
			if lie && i == 5 {
				h.Timestamp = h.Timestamp.Add(-time.Hour)
			}
			_, _ = w.Write([]byte(headerHex(h)))
		},
	})
	b, err := Open(srv.url(""))
	if err != nil {
		t.Fatal(err)
	}
	got, err := MedianTimePast(ctx, b, 13)
	if err != nil || got.Unix() != 1_700_002_200 {
		t.Errorf("Esplora MedianTimePast(13) = %v, %v; want 1700002200", got.Unix(), err)
	}
	lie = true
	if _, err := MedianTimePast(ctx, b, 13); !errors.Is(err, ErrLying) {
		t.Errorf("Esplora with a moved timestamp = %v, want ErrLying", err)
	}

	endless := newHostileEsplora(t, map[string]http.HandlerFunc{
		"GET /api/block-height/{h}": func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte(hashes[13].String()))
		},
		"GET /api/block/{hash}/header": func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write(bytes.Repeat([]byte("00"), 1<<20))
		},
	})
	b, err = Open(endless.url(""))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := MedianTimePast(ctx, b, 13); !errors.Is(err, ErrTooLarge) {
		t.Errorf("an endless header = %v, want ErrTooLarge", err)
	}
}

// noHeaders is a Backend without HeaderSource.
type noHeaders struct{ Backend }

// TestMedianTimePastUnsupported: a backend without headers is refused
// with ErrUnsupported, directly and through WithRetry, never guessed.
func TestMedianTimePastUnsupported(t *testing.T) {
	ctx := context.Background()
	for _, b := range []Backend{noHeaders{}, WithRetry(noHeaders{})} {
		if _, err := MedianTimePast(ctx, b, 10); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "median time past") {
			t.Errorf("MedianTimePast without headers = %v, want ErrUnsupported", err)
		}
	}
}

// FuzzDecodeHeaderHex: any answer to getblockheader or /header decodes to
// a header or an error, never a panic; a header decodes back to itself.
func FuzzDecodeHeaderHex(f *testing.F) {
	headers, _ := headerChain(mtpTimes[:2])
	f.Add(headerHex(headers[0]))
	f.Add(headerHex(headers[1]) + "\n")
	f.Add("zz")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := decodeHeaderHex(s)
		if err != nil {
			return
		}
		if got := headerHex(h); got != strings.ToLower(strings.TrimSpace(s)) {
			t.Errorf("header %q encodes back as %q", s, got)
		}
	})
}
