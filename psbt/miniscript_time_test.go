package psbt

import (
	"encoding/hex"
	"fmt"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/countersign/countersign/descriptor/miniscript"
)

// TestMiniscriptRequiredTimeLocks: when a transaction opens no path of a
// miniscript, the count of signatures falls back to the cheapest path
// with every lock met, of either kind: a script whose only paths are
// locked in time needs its 2 signatures, not 1 (a height lock does not
// meet a time lock).
func TestMiniscriptRequiredTimeLocks(t *testing.T) {
	var keys [][]byte
	var hexKeys []any
	for i := byte(1); i <= 3; i++ {
		_, pub := btcec.PrivKeyFromBytes([]byte{31: i})
		keys = append(keys, pub.SerializeCompressed())
		hexKeys = append(hexKeys, hex.EncodeToString(pub.SerializeCompressed()))
	}
	parse := func(expr string) (miniscript.Key, error) {
		b, err := hex.DecodeString(expr)
		return miniscript.PubKey(b), err
	}
	for _, c := range []struct {
		expr  string
		locks miniscript.LockState
		want  int
	}{
		// Height-locked transaction (nLockTime 200), time-locked script.
		{"and_v(v:multi(2,%s,%s,%s),after(1800000000))", miniscript.LockState{Sequence: 0xfffffffd, LockTime: 200}, 2},
		{"and_v(v:multi(2,%s,%s,%s),older(4194473))", miniscript.LockState{Sequence: 0xfffffffd, LockTime: 200}, 2},
		// The lock met: the same count.
		{"and_v(v:multi(2,%s,%s,%s),after(1800000000))", miniscript.LockState{Sequence: 0xfffffffd, LockTime: 1800000000}, 2},
		// Block locks as before.
		{"and_v(v:multi(2,%s,%s,%s),older(144))", miniscript.LockState{Sequence: 0xfffffffd, LockTime: 200}, 2},
		// Two paths of different kinds: the cheaper (1 signature) counts.
		{"or_i(and_v(v:multi(2,%s,%s),after(1800000000)),and_v(v:pk(%s),older(144)))", miniscript.LockState{Sequence: 0xfffffffd, LockTime: 200}, 1},
	} {
		expr := fmt.Sprintf(c.expr, hexKeys...)
		n, err := miniscript.Parse(expr, miniscript.P2WSH, parse)
		if err != nil {
			t.Fatalf("%s: %v", c.expr, err)
		}
		if got := miniscriptRequired(n, keys, c.locks); got != c.want {
			t.Errorf("%s under %+v: %d signatures, want %d", c.expr, c.locks, got, c.want)
		}
	}
}
