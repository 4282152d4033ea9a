package wallet

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"

	"github.com/countersign/countersign/internal/pgtest"
)

// Several operators on one PostgreSQL store, as separate OS processes
// (this test binary re-executed in the "operator" role): every change is
// one transaction behind the store's write lock, so no address is handed
// out twice, no change index is taken twice, no signature merged into a
// draft is lost, and the journal stays one unbroken hash chain.

const (
	teamOperators = 5
	teamAddresses = 40 // per operator: 200 in all
	teamDrafts    = 10 // per operator: 50 in all
)

// teamSpend is the unsigned txid of operator op's n-th draft.
func teamSpend(op, n int) chainhash.Hash {
	return chainhash.Hash(sha256.Sum256([]byte(fmt.Sprintf("team spend %d/%d", op, n))))
}

// A team draft's "PSBT" is the txid and the sorted names of the operators
// who signed it: the store never parses a PSBT, and this makes a lost
// signature visible.
func teamPSBT(txid chainhash.Hash, signers []string) []byte {
	slices.Sort(signers)
	return []byte(txid.String() + "|" + strings.Join(signers, ","))
}

func teamSigners(psbt []byte) []string {
	_, list, _ := strings.Cut(string(psbt), "|")
	if list == "" {
		return nil
	}
	return strings.Split(list, ",")
}

// errNoDraftYet: another operator has not created the draft yet.
var errNoDraftYet = errors.New("no draft yet")

// runOperator is one operator: hand out addresses and create drafts,
// interleaved, then sign every operator's drafts.
func runOperator(ctx context.Context, s *Store) error {
	me, err := strconv.Atoi(os.Getenv("COUNTERSIGN_WALLET_TEST_OPINDEX"))
	if err != nil {
		return err
	}
	for i := range teamAddresses {
		if _, _, err := s.NextAddress(ctx, "shared", 0, func(idx uint32) (string, error) {
			return fakeAddr(0, idx), nil
		}, s.Operator()); err != nil {
			return err
		}
		if i%(teamAddresses/teamDrafts) != 0 {
			continue
		}
		n := i / (teamAddresses / teamDrafts)
		txid := teamSpend(me, n)
		if _, err := s.CreateDraft(ctx, "shared", func(change uint32) (*Draft, bool, error) {
			return &Draft{TxID: txid, PSBT: teamPSBT(txid, nil), Note: fmt.Sprintf("change %d", change)}, true, nil
		}); err != nil {
			return err
		}
	}
	for op := range teamOperators {
		for n := range teamDrafts {
			txid := teamSpend((op+me)%teamOperators, n)
			deadline := time.Now().Add(time.Minute)
			for {
				_, err := s.MergeDraft(ctx, "shared", txid, func(newest *Draft) (*Draft, error) {
					if newest == nil {
						return nil, errNoDraftYet
					}
					signers := append(teamSigners(newest.PSBT), s.Operator())
					return &Draft{TxID: txid, State: StateSigned, PSBT: teamPSBT(txid, signers),
						Event: &DraftEvent{Step: "sign", Signers: []string{s.Operator()}}}, nil
				})
				if errors.Is(err, errNoDraftYet) && time.Now().Before(deadline) {
					time.Sleep(5 * time.Millisecond)
					continue
				}
				if err != nil {
					return err
				}
				break
			}
		}
	}
	fmt.Println("done")
	return nil
}

func TestTeamOnPostgres(t *testing.T) {
	if onPostgres() {
		t.Skip("runs its own server")
	}
	if testing.Short() {
		t.Skip("starts a PostgreSQL server and five processes")
	}
	srv := pgtest.ForTest(t)
	ctx := context.Background()
	url, err := srv.CreateDB(ctx, "team")
	if err != nil {
		t.Fatal(err)
	}
	s, err := OpenStore(ctx, t.TempDir(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mustCreate(t, s, "shared")

	var stdins []func()
	var cmds []*childProc
	for i := range teamOperators {
		cmd, release := startChild(t, "operator", url,
			childOperatorEnv+"=op"+strconv.Itoa(i), "COUNTERSIGN_WALLET_TEST_OPINDEX="+strconv.Itoa(i))
		cmds, stdins = append(cmds, cmd), append(stdins, release)
	}
	start := time.Now()
	for _, release := range stdins {
		release()
	}
	for i, c := range cmds {
		if err := c.cmd.Wait(); err != nil {
			t.Fatalf("operator %d: %v\n%s", i, err, c.errOut)
		}
	}
	t.Logf("%d operators: %d addresses, %d drafts, %d signatures in %v", teamOperators,
		teamOperators*teamAddresses, teamOperators*teamDrafts, teamOperators*teamOperators*teamDrafts, time.Since(start).Round(time.Millisecond))

	// No address handed out twice, none skipped, each journaled by the
	// operator who took it.
	addrs, err := s.Addresses(ctx, "shared")
	if err != nil {
		t.Fatal(err)
	}
	if len(addrs) != teamOperators*teamAddresses {
		t.Fatalf("%d addresses stored, want %d", len(addrs), teamOperators*teamAddresses)
	}
	seen := map[string]bool{}
	for i, a := range addrs {
		if a.Index != uint32(i) || seen[a.Address] {
			t.Fatalf("address %d: index %d, %q (duplicate: %v)", i, a.Index, a.Address, seen[a.Address])
		}
		seen[a.Address] = true
	}
	w, err := s.Wallet(ctx, "shared")
	if err != nil {
		t.Fatal(err)
	}
	if w.NextReceive != teamOperators*teamAddresses || w.NextChange != teamOperators*teamDrafts {
		t.Errorf("counters: next receive %d, next change %d; want %d, %d", w.NextReceive, w.NextChange, teamOperators*teamAddresses, teamOperators*teamDrafts)
	}

	// Every draft's newest version carries every operator's signature, and
	// each change index went to one draft.
	drafts, err := s.Drafts(ctx, "shared")
	if err != nil {
		t.Fatal(err)
	}
	newest := map[chainhash.Hash]*Draft{}
	changes := map[string]bool{}
	for _, d := range drafts {
		if cur := newest[d.TxID]; cur == nil || d.Seq > cur.Seq {
			newest[d.TxID] = d
		}
		if d.State == StateDraft {
			if changes[d.Note] {
				t.Errorf("two drafts took %s", d.Note)
			}
			changes[d.Note] = true
		}
	}
	if len(newest) != teamOperators*teamDrafts || len(changes) != teamOperators*teamDrafts {
		t.Fatalf("%d spends, %d change indexes; want %d", len(newest), len(changes), teamOperators*teamDrafts)
	}
	for txid, d := range newest {
		if got := teamSigners(d.PSBT); len(got) != teamOperators {
			t.Errorf("spend %s: newest version signed by %v, want all %d operators", txid, got, teamOperators)
		}
	}

	// One journal: a single hash chain, ids without a gap, each operator's
	// entries under its own name; and the doctor's checks pass.
	all, err := s.AllJournal(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st := VerifyChain(all); st.Break != nil || st.Unchained != 0 {
		t.Fatalf("journal chain: %+v", st)
	}
	byOp := map[string]int{}
	for i, e := range all {
		if e.ID != int64(i+1) {
			t.Fatalf("journal entry %d has id %d", i+1, e.ID)
		}
		if e.Action == ActionAddressIssue {
			var d struct{ Label string }
			if err := json.Unmarshal(e.Detail, &d); err != nil || d.Label != e.Operator {
				t.Errorf("entry %d: address labelled %q journaled by %q", e.ID, d.Label, e.Operator)
			}
			byOp[e.Operator]++
		}
	}
	for i := range teamOperators {
		if n := byOp["op"+strconv.Itoa(i)]; n != teamAddresses {
			t.Errorf("op%d journaled %d addresses, want %d", i, n, teamAddresses)
		}
	}
	sn, err := s.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range append(sn.Check(), sn.CheckWallet(sn.Wallets[0])...) {
		if c.Failed() {
			t.Errorf("check %s: %v", c.Name, c.Problems)
		}
	}
}

// childProc is a started child and its stderr.
type childProc struct {
	cmd    *exec.Cmd
	errOut *lockedBuffer
}

// startChild starts one child in role on the store at dir (a directory or
// a postgres:// URL) with extra environment; calling release lets it go.
func startChild(t *testing.T, role, dir string, env ...string) (*childProc, func()) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), childEnv+"="+role, childDirEnv+"="+dir), env...)
	c := &childProc{cmd: cmd, errOut: &lockedBuffer{}}
	cmd.Stdout, cmd.Stderr = &lockedBuffer{}, c.errOut
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start child: %v", err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return c, func() { in.Close() }
}
