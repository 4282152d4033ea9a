package miniscript

import (
	"bufio"
	"compress/gzip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
)

// letterKeys maps the BIP-379 vector convention: a key argument A..Z is the
// public key of the secret key 1..26.
func letterKeys(t testing.TB) map[string]PubKey {
	t.Helper()
	m := map[string]PubKey{}
	for i := 0; i < 26; i++ {
		var sk [32]byte
		sk[31] = byte(i + 1)
		priv, _ := btcec.PrivKeyFromBytes(sk[:])
		m[string(rune('A'+i))] = PubKey(priv.PubKey().SerializeCompressed())
	}
	return m
}

// letterKey is a named key whose bytes come from letterKeys.
type letterKey string

func (l letterKey) String() string { return string(l) }

func letterParser(keys map[string]PubKey) KeyParser {
	return func(expr string) (Key, error) {
		if _, ok := keys[expr]; !ok {
			return nil, errString("unknown key " + expr)
		}
		return letterKey(expr), nil
	}
}

func letterBytes(keys map[string]PubKey) KeyBytes {
	return func(k Key) ([]byte, error) {
		if p, ok := k.(PubKey); ok {
			return p, nil
		}
		b, ok := keys[k.String()]
		if !ok {
			return nil, errString("unknown key " + k.String())
		}
		return b, nil
	}
}

type errString string

func (e errString) Error() string { return string(e) }

// readVectorLines reads a gzipped vector file from testdata; a missing file
// fails the test.
func readVectorLines(t testing.TB, name string) []string {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("vector file: %v", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	var lines []string
	sc := bufio.NewScanner(zr)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if l := strings.TrimRight(sc.Text(), "\r"); l != "" {
			lines = append(lines, l)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if len(lines) == 0 {
		t.Fatalf("%s: no vectors", name)
	}
	return lines
}

// corrLetters keeps the letters the BIP-379 corpora print (basic type and
// zondufesm), sorted.
func corrLetters(s string) string {
	var out []byte
	for _, c := range []byte(s) {
		if strings.IndexByte("BVKWzondufesm", c) >= 0 {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return string(out)
}
