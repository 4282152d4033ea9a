package wallet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// childEnv selects a child role when the test binary re-executes itself;
// childDirEnv passes the store directory.
const (
	childEnv    = "COUNTERSIGN_WALLET_TEST_CHILD"
	childDirEnv = "COUNTERSIGN_WALLET_TEST_DIR"
	// childOperatorEnv names the operator a child on PostgreSQL journals as.
	childOperatorEnv = "COUNTERSIGN_WALLET_TEST_OPERATOR"
)

// TestMain lets multi-process tests run this binary as a child doing one
// store operation, instead of the tests.
func TestMain(m *testing.M) {
	if role := os.Getenv(childEnv); role != "" {
		if err := runChild(role, os.Getenv(childDirEnv)); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runChild performs one child role against the store in dir.
func runChild(role, dir string) error {
	open := Open
	if IsPostgresURL(dir) {
		open = func(url string) (*Store, error) { return OpenStore(context.Background(), "", url) }
	}
	s, err := open(dir)
	if err != nil {
		return err
	}
	s.SetOperator(os.Getenv(childOperatorEnv))
	defer s.Close()
	// Every child opens first, then waits for the parent to close stdin, so
	// all of them hit the store at the same moment.
	if _, err := io.Copy(io.Discard, os.Stdin); err != nil {
		return err
	}
	ctx := context.Background()
	switch role {
	case "open":
		fmt.Println("opened")
		return nil
	case "next-address":
		idx, _, err := s.NextAddress(ctx, "shared", 0, func(i uint32) (string, error) {
			time.Sleep(2 * time.Millisecond) // widen the window a race would need
			return fakeAddr(0, i), nil
		}, "")
		if err != nil {
			return err
		}
		fmt.Println(idx)
		return nil
	case "operator":
		return runOperator(ctx, s)
	case "sync-loop":
		for gen := int32(1); ; gen++ {
			if err := s.ApplySync(ctx, "crash", generation(gen)); err != nil {
				return err
			}
			fmt.Println("gen", gen)
		}
	}
	return fmt.Errorf("unknown child role %q", role)
}

// startChildren starts n children in role on dir and returns them once all
// are running; closing the returned release function lets them go.
func startChildren(t *testing.T, role, dir string, n int) (cmds []*exec.Cmd, outs []*lockedBuffer, release func()) {
	t.Helper()
	var stdins []io.WriteCloser
	for range n {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"="+role, childDirEnv+"="+dir)
		out, errOut := &lockedBuffer{}, &lockedBuffer{}
		cmd.Stdout, cmd.Stderr = out, errOut
		in, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatalf("start child: %v", err)
		}
		t.Cleanup(func() {
			if t.Failed() && errOut.Len() > 0 {
				t.Logf("child stderr: %s", errOut)
			}
		})
		cmds, outs, stdins = append(cmds, cmd), append(outs, out), append(stdins, in)
	}
	return cmds, outs, func() {
		for _, in := range stdins {
			in.Close()
		}
	}
}

// lockedBuffer collects a child's output; the test may read it while the
// child still writes.
type lockedBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *lockedBuffer) Len() int { return len(b.String()) }

// testClock is a deterministic clock: every reading is one second after the
// previous, starting at base. Safe for concurrent use.
type testClock struct{ ticks atomic.Int64 }

var testBase = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func (c *testClock) now() time.Time {
	return testBase.Add(time.Duration(c.ticks.Add(1)) * time.Second)
}

// newStore opens a fresh store with a test clock: SQLite in a temporary
// directory, or a new PostgreSQL database when the suite runs on
// PostgreSQL (TestPostgresEngine).
func newStore(t testing.TB) *Store {
	t.Helper()
	s, err := openFresh(t)
	if err != nil {
		t.Fatal(err)
	}
	s.now = (&testClock{}).now
	t.Cleanup(func() { s.Close() })
	return s
}

// testWallet returns a valid 2-of-3 wallet named name.
func testWallet(name string) *Wallet {
	return &Wallet{
		Name:         name,
		Descriptor:   "wsh(sortedmulti(2,[d34db33f/48h/1h/0h/2h]tpubA/<0;1>/*,[0badf00d/48h/1h/0h/2h]tpubB/<0;1>/*,[c0ffee00/48h/1h/0h/2h]tpubC/<0;1>/*))#abcdefgh",
		Network:      "regtest",
		Script:       "wsh",
		Threshold:    2,
		N:            3,
		Labels:       []string{"alice", "bob", ""},
		Fingerprints: []string{"D34DB33F", "0badf00d", "c0ffee00"},
		BirthHeight:  100,
	}
}

// mustCreate stores testWallet(name) in s.
func mustCreate(t testing.TB, s *Store, name string) *Wallet {
	t.Helper()
	w := testWallet(name)
	if err := s.CreateWallet(context.Background(), w); err != nil {
		t.Fatal(err)
	}
	return w
}

// fakeAddr stands in for a derived address.
func fakeAddr(branch, index uint32) string { return fmt.Sprintf("bcrt1q-fake-%d-%d", branch, index) }

// deriveFake is a derivation callback returning fakeAddr on branch 0.
func deriveFake(i uint32) (string, error) { return fakeAddr(0, i), nil }

// journalLen counts all journal rows.
func journalLen(t testing.TB, s *Store) int {
	t.Helper()
	var n int
	if err := s.rawQueryRow(`SELECT count(*) FROM journal`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// wantErr checks err against a sentinel (nil: no error expected).
func wantErr(t testing.TB, err, want error) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Fatalf("unexpected error: %v", err)
	case want != nil && !errors.Is(err, want):
		t.Fatalf("error = %v, want one wrapping %v", err, want)
	}
}
