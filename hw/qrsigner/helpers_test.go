package qrsigner_test

import (
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/hw"
	"github.com/countersign/countersign/hw/hwtest"
	"github.com/countersign/countersign/hw/qr/bbqr"
	"github.com/countersign/countersign/hw/qr/render"
	"github.com/countersign/countersign/hw/qr/ur"
	"github.com/countersign/countersign/psbt"
)

const hard = hdkeychain.HardenedKeyStart

var regtest = &chaincfg.RegressionNetParams

// testWallet is a 2-of-3 wsh(sortedmulti) whose master keys the test
// holds; keys[0] plays the camera signer.
type testWallet struct {
	keys []*hdkeychain.ExtendedKey
	d    *descriptor.Descriptor
	w    *hw.Wallet
}

func newTestWallet(t *testing.T) *testWallet {
	t.Helper()
	tw := &testWallet{}
	var exprs []string
	for i := range 3 {
		seed := bytes.Repeat([]byte{byte(i + 1)}, 32)
		m, err := hdkeychain.NewMaster(seed, regtest)
		if err != nil {
			t.Fatal(err)
		}
		acct := m
		for _, s := range []uint32{48 + hard, 1 + hard, 0 + hard, 2 + hard} {
			if acct, err = acct.Derive(s); err != nil {
				t.Fatal(err)
			}
		}
		xpub, _ := acct.Neuter()
		pub, _ := m.ECPubKey()
		fp := btcutil.Hash160(pub.SerializeCompressed())[:4]
		tw.keys = append(tw.keys, m)
		exprs = append(exprs, fmt.Sprintf("[%x/48h/1h/0h/2h]%s/<0;1>/*", fp, xpub))
	}
	d, err := descriptor.Parse("wsh(sortedmulti(2," + strings.Join(exprs, ",") + "))")
	if err != nil {
		t.Fatal(err)
	}
	tw.d = d
	tw.w = hwtest.Wallet(d, regtest, "vault")
	return tw
}

func (tw *testWallet) psbt(t *testing.T) *bpsbt.Packet {
	t.Helper()
	p, _ := hwtest.BuildPSBT(t, tw.d, regtest)
	return p
}

// signed is p signed by key k, serialized: what the device shows back.
func (tw *testWallet) signed(t *testing.T, p *bpsbt.Packet, k int) []byte {
	t.Helper()
	c, err := psbt.Clone(p)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := psbt.Sign(c, tw.keys[k]); err != nil || n == 0 {
		t.Fatalf("sign: %d, %v", n, err)
	}
	raw, err := psbt.Serialize(c)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// urParts encodes raw as crypto-psbt parts of fragment length frag: the
// first seqLen parts, then extra fountain parts.
func urParts(t *testing.T, raw []byte, frag, extra int) []string {
	t.Helper()
	msg, err := ur.EncodePSBT(raw)
	if err != nil {
		t.Fatal(err)
	}
	e, err := ur.NewEncoder(ur.TypeCryptoPSBT, msg, frag, 10)
	if err != nil {
		t.Fatal(err)
	}
	return e.Parts(e.SeqLen() + extra)
}

// bbqrParts splits raw as a BBQr PSBT in version-5 codes (several parts).
func bbqrParts(t *testing.T, raw []byte, fileType byte) []string {
	t.Helper()
	parts, _, err := bbqr.Split(raw, fileType, bbqr.SplitOptions{MaxVersion: 5})
	if err != nil {
		t.Fatal(err)
	}
	return parts
}

// shuffled returns parts in a random (seeded) order with every part
// twice.
func shuffled(parts []string) []string {
	out := append(append([]string(nil), parts...), parts...)
	rand.New(rand.NewSource(7)).Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// lockedBuffer is a bytes.Buffer safe for a writer goroutine and a reader.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// lines collects Prompt or Status messages.
type lines struct {
	mu sync.Mutex
	l  []string
}

func (l *lines) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.l = append(l.l, s)
}

func (l *lines) all() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.l, "\n")
}

// writePNGs renders each part as a PNG file in dir.
func writePNGs(t *testing.T, dir string, parts []string) []string {
	t.Helper()
	var files []string
	for i, p := range parts {
		c, err := render.New(render.ForQR(p), 0)
		if err != nil {
			t.Fatal(err)
		}
		b, err := c.PNG(3, 0)
		if err != nil {
			t.Fatal(err)
		}
		fn := filepath.Join(dir, fmt.Sprintf("answer-%d.png", i))
		if err := os.WriteFile(fn, b, 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, fn)
	}
	return files
}

// countSigs counts partial signatures over p's inputs.
func countSigs(p *bpsbt.Packet) int {
	n := 0
	for _, in := range p.Inputs {
		n += len(in.PartialSigs)
	}
	return n
}
