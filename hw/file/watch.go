package file

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/wire"

	"github.com/countersign/countersign/hw"
	"github.com/countersign/countersign/internal/regularfile"
	"github.com/countersign/countersign/psbt"
)

// maxFile bounds what is read back from the card; btcd refuses PSBT values
// over 4 MB, so a real signed PSBT is far below this.
const maxFile = 64 << 20

// settle is how long a file that does not decode must stay unchanged before
// it is reported: a device writing through a live mount (Coldcard Mk4's
// virtual disk) can be seen mid-write.
const settle = time.Second

// stamp identifies one version of a file without reading it.
type stamp struct {
	size int64
	mod  time.Time
}

// watcher finds the device's answer among the files in dir: a new or changed
// BASE-*.psbt, or a finished transaction (*.txn) for the same transaction.
type watcher struct {
	dir, base string           // base as written; matching uses its lower-case form
	before    map[string]stamp // answers already there when the PSBT was written
	undecoded map[string]undecoded
}

// undecoded is a version of a file that did not decode, and since when.
type undecoded struct {
	st    stamp
	since time.Time
}

func newWatcher(dir, base string) *watcher {
	w := &watcher{dir: dir, base: base, before: map[string]stamp{}, undecoded: map[string]undecoded{}}
	w.scan(func(name string, st stamp) { w.before[name] = st })
	return w
}

// scan calls fn for every candidate answer file in dir. A folder that cannot
// be read is skipped silently: the card is out of the computer while the
// user signs, so the mount point comes and goes.
func (w *watcher) scan(fn func(name string, st stamp)) {
	entries, err := os.ReadDir(w.dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		name := e.Name()
		// Only a regular file is a device's answer: a FIFO named like one
		// would block the read (see regularfile).
		if !e.Type().IsRegular() || (!w.isPSBT(name) && !isTxn(name)) {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		fn(name, stamp{size: info.Size(), mod: info.ModTime()})
	}
}

// isPSBT matches Coldcard's answers to BASE.psbt: BASE-part.psbt,
// BASE-signed.psbt, their -N variants, and BASE-part-signed.psbt after a
// second pass. FAT keeps case but ignores it, hence the lower-casing. Names
// starting with '.' are temporary files or macOS "._" shadows.
func (w *watcher) isPSBT(name string) bool {
	l := strings.ToLower(name)
	return !strings.HasPrefix(l, ".") && strings.HasPrefix(l, strings.ToLower(w.base)+"-") && strings.HasSuffix(l, ".psbt")
}

func isTxn(name string) bool {
	l := strings.ToLower(name)
	return !strings.HasPrefix(l, ".") && strings.HasSuffix(l, ".txn")
}

// check looks once for the answer to p. It returns the merged packet and
// true when a signed PSBT arrived, or an error when the answer is unusable.
func (w *watcher) check(p *bpsbt.Packet) (*bpsbt.Packet, bool, error) {
	var fresh []string
	w.scan(func(name string, st stamp) {
		if old, ok := w.before[name]; !ok || old != st {
			fresh = append(fresh, name)
		}
	})
	var txns []string
	for _, name := range fresh {
		if isTxn(name) {
			txns = append(txns, name)
			continue
		}
		out, err := w.answer(name, p)
		if err != nil || out != nil {
			return out, out != nil, err
		}
	}
	// Only a finished transaction came back: Coldcard's "Delete PSBTs"
	// setting writes no PSBT when its signature completes the transaction.
	for _, name := range txns {
		if path := filepath.Join(w.dir, name); isFinalOf(path, p) {
			return nil, false, fmt.Errorf("%w: the device wrote the finished, fully signed transaction %s instead of a signed PSBT (Coldcard's Delete PSBTs setting is on); broadcast that file with any wallet, or turn the setting off and sign again",
				hw.ErrDevice, path)
		}
	}
	return nil, false, nil
}

// answer reads one candidate file. It returns nil, nil when the file is not
// readable yet (still being written): later polls try again, and a file that
// stays unreadable and unchanged for the settle time is reported.
func (w *watcher) answer(name string, p *bpsbt.Packet) (*bpsbt.Packet, error) {
	path := filepath.Join(w.dir, name)
	data, st, err := readFile(path)
	if err != nil {
		return nil, nil
	}
	signed, err := psbt.Decode(data)
	if err != nil {
		u, seen := w.undecoded[name]
		if !seen || u.st != st {
			w.undecoded[name] = undecoded{st: st, since: time.Now()}
			return nil, nil
		}
		if time.Since(u.since) < settle {
			return nil, nil
		}
		return nil, fmt.Errorf("the signed file %s is not a valid PSBT: %w", path, err)
	}
	if !sameTx(p.UnsignedTx, signed.UnsignedTx) {
		return nil, fmt.Errorf("%w: %s is a PSBT for another transaction (txid %s, this one is %s); it was not used: remove it from the card and sign %s.psbt",
			psbt.ErrRefused, path, signed.UnsignedTx.TxHash(), p.UnsignedTx.TxHash(), filepath.Join(w.dir, w.base))
	}
	if !hasNewSignature(p, signed) {
		return nil, fmt.Errorf("%w: signed file %s holds no partial signature the PSBT did not already have; was it signed by a cosigner of this wallet (and not finalized by another program)?", hw.ErrDevice, path)
	}
	return signed, nil
}

// readFile reads a file with a size bound and returns the stamp of what it
// read.
func readFile(path string) ([]byte, stamp, error) {
	f, err := regularfile.Open(path)
	if err != nil {
		return nil, stamp{}, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, stamp{}, err
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFile+1))
	if err == nil && len(data) > maxFile {
		err = fmt.Errorf("%s is larger than %d bytes: not a PSBT", path, maxFile)
	}
	return data, stamp{size: info.Size(), mod: info.ModTime()}, err
}

// sameTx compares two unsigned transactions byte for byte.
func sameTx(a, b *wire.MsgTx) bool {
	if a == nil || b == nil {
		return false
	}
	var ab, bb bytes.Buffer
	if a.SerializeNoWitness(&ab) != nil || b.SerializeNoWitness(&bb) != nil {
		return false
	}
	return bytes.Equal(ab.Bytes(), bb.Bytes())
}

// isFinalOf reports whether path holds, in hex, p's transaction with its
// inputs signed. Signatures are stripped before comparing, because a
// legacy P2SH transaction's txid changes when it is signed.
func isFinalOf(path string, p *bpsbt.Packet) bool {
	data, _, err := readFile(path)
	if err != nil {
		return false
	}
	raw, err := hex.DecodeString(strings.TrimSpace(string(data)))
	if err != nil {
		return false
	}
	var tx wire.MsgTx
	if err := tx.Deserialize(bytes.NewReader(raw)); err != nil {
		return false
	}
	for _, in := range tx.TxIn {
		in.SignatureScript, in.Witness = nil, nil
	}
	return sameTx(&tx, p.UnsignedTx)
}

// hasNewSignature reports whether signed carries a partial signature that p
// lacks.
func hasNewSignature(p, signed *bpsbt.Packet) bool {
	for i := range signed.Inputs {
		if i >= len(p.Inputs) {
			return false
		}
		have := map[string]bool{}
		for _, ps := range p.Inputs[i].PartialSigs {
			have[string(ps.PubKey)] = true
		}
		for _, ps := range signed.Inputs[i].PartialSigs {
			if ps != nil && !have[string(ps.PubKey)] {
				return true
			}
		}
	}
	return false
}
