package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil"

	"github.com/countersign/countersign/internal/regtest"
	"github.com/countersign/countersign/psbt"
	"github.com/countersign/countersign/wallet"
)

// crashKillsPerOp is how many times each operation is killed; six
// operations make 108 kills.
const crashKillsPerOp = 18

// crashOp is one countersign command the crash loop runs and kills.
type crashOp struct {
	name string
	// args returns the command line of attempt i, after doing any chain
	// work the attempt needs (not timed).
	args func(t *testing.T, i int) []string
	// done records what a completed run printed (may be nil).
	done func(t *testing.T, i int, out []byte)
	// killed checks what a killed run may have left (may be nil).
	killed func(t *testing.T, i int)

	attempts  int
	kills     [killModes]int // runs the SIGKILL ended, by kill mode
	committed int            // killed runs whose store write had committed before the kill
	finished  int            // runs that exited before the kill (or were not to be killed)
	runs      []time.Duration
}

// killMode says when a run is killed.
type killMode int

const (
	noKill          killMode = iota // run to completion (calibration)
	killAtRandom                    // after a random delay from 0 to a typical run's length
	killMidWrite                    // as soon as the WAL file changes: the store transaction is writing
	killAfterCommit                 // as soon as the journal grows: the write committed, the process has not exited
	killModes
)

var killModeNames = [killModes]string{"", "random", "mid-write", "after-commit"}

// median of durations (0 for none).
func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// pick chooses how to kill the next run: half the time at a random moment
// of a typical run (process start, reading, RPC, building, writing), a
// quarter while its store transaction writes, a quarter between its commit
// and its exit (output file, closing the store). The last two are where a
// kill could tear something; random delays alone rarely land there, as
// the write is a few milliseconds of a run of tens.
func (op *crashOp) pick(rnd *rand.Rand) (killMode, time.Duration) {
	switch rnd.IntN(4) {
	case 0:
		return killMidWrite, 0
	case 1:
		return killAfterCommit, 0
	}
	return killAtRandom, time.Duration(rnd.Int64N(int64(median(op.runs)) + 1))
}

// killCount is how many runs of op were killed, in every mode.
func (op *crashOp) killCount() int {
	return op.kills[killAtRandom] + op.kills[killMidWrite] + op.kills[killAfterCommit]
}

// crashRig is what the crash loop's operations share.
type crashRig struct {
	t       *testing.T
	node    *regtest.Node
	dir     string        // the data directory every process uses
	work    string        // PSBT files
	store   *wallet.Store // the test's own view of the store; closed during some runs
	ext     string        // an address outside the wallet
	impFile string        // a wallet file to import: another wallet's descriptor
	rnd     *rand.Rand

	addrs    map[string]uint32            // every address a completed `address` printed -> its index
	spends   []string                     // whole unsigned PSBT files
	signNext [][2]string                  // (spend file, key) pairs no sign attempt has had yet
	jobs     map[int][2]string            // sign attempt -> (spend file, key)
	signed   map[string]map[string]string // spend file -> key -> signed file
	combined map[string]bool              // spend files whose signed pair went to a combine attempt
	doctorN  int
	doctorT  time.Duration
}

// TestCrashLoop starts real countersign processes (this test binary, see
// TestMain) and SIGKILLs them at random moments while they hand out
// addresses, import a wallet, sync, build a spend, sign with a software key
// and combine. After every kill `countersign doctor --json` must pass, a
// killed import must have left all of its wallet or none, output files
// must be whole or absent; every address a completed command printed is
// unique and is the one the wallet derives at its index; and at the end the
// wallet still pays on regtest.
func TestCrashLoop(t *testing.T) {
	start := time.Now()
	node := regtest.Start(t)
	ctx := context.Background()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("COUNTERSIGN_CRASH_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("COUNTERSIGN_CRASH_SEED: %v", err)
		}
	}
	t.Logf("seed %d (COUNTERSIGN_CRASH_SEED repeats the delays)", seed)
	r := &crashRig{t: t, node: node, dir: shortTempDir(t), work: t.TempDir(), ext: node.Address().EncodeAddress(),
		rnd: rand.New(rand.NewPCG(seed, 0x5eed)), addrs: map[string]uint32{}, jobs: map[int][2]string{},
		signed: map[string]map[string]string{}, combined: map[string]bool{}}

	desc, cs := testDescriptor(t, "wsh", 2, 3)
	mustRun(t, r.dir, "--network", "regtest", "wallet", "create", "w", "--descriptor", desc)
	mustRun(t, r.dir, "backend", "set", node.RPCURL())
	importTestKeys(t, r.dir, cs[:2])
	r.impFile = filepath.Join(r.work, "import.txt")
	if err := os.WriteFile(r.impFile, []byte(otherWallet(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	r.openStore()
	defer r.closeStore()
	for range 4 {
		r.fund(r.handOut(), 100_000_000)
	}
	if _, err := node.Mine(ctx, 1); err != nil {
		t.Fatal(err)
	}
	mustRun(t, r.dir, "wallet", "sync", "w")
	r.doctor("after setup")
	setup := time.Since(start)

	ops := r.ops()
	// Three whole runs of each, in order (spends before signs before
	// combines), time a typical run for the random delays.
	for _, op := range ops {
		for range 3 {
			r.attempt(op, noKill, 0)
		}
	}
	loopStart := time.Now()
	for more := true; more; {
		more = false
		for _, op := range ops {
			if op.killCount() >= crashKillsPerOp {
				continue
			}
			more = true
			mode, delay := op.pick(r.rnd)
			if r.attempt(op, mode, delay) {
				r.doctor(fmt.Sprintf("after killing %s (attempt %d, %s, %v)", op.name, op.attempts, killModeNames[mode], delay))
			}
			if op.attempts > 10*crashKillsPerOp {
				t.Fatalf("%s: %d kills in %d attempts: the kills miss the runs (median run %v)", op.name, op.killCount(), op.attempts, median(op.runs))
			}
		}
	}
	loop := time.Since(loopStart)

	// No address was handed out twice (recordAddress refuses a repeat),
	// and each is the one the wallet derives at its index.
	w, err := r.store.Wallet(ctx, "w")
	if err != nil {
		t.Fatal(err)
	}
	var shown []addressJSON
	mustJSON(t, mustRun(t, r.dir, "--json", "address", "w", "--index", "0", "--count", strconv.Itoa(int(w.NextReceive))), &shown)
	byIndex := map[uint32]string{}
	for a, i := range r.addrs {
		if prev, dup := byIndex[i]; dup {
			t.Fatalf("index %d handed out as %s and as %s", i, prev, a)
		}
		byIndex[i] = a
		if i >= w.NextReceive || shown[i].Address != a {
			t.Fatalf("address %s was handed out at index %d; next receive is %d and `address --index` shows %+v", a, i, w.NextReceive, shown[min(int(i), len(shown)-1)])
		}
	}

	// The wallet still pays: spend, two signatures, combine, finalize,
	// broadcast; the next sync sees exactly the payment and its fee leave.
	before := syncJSONOf(t, r.dir, node.RPCURL())
	final := filepath.Join(r.work, "final.psbt")
	mustRun(t, r.dir, "spend", "w", "--to", r.ext+":0.5", "--fee-rate", "5", "--allow-conflict", "-o", final)
	fee := inspectFile(t, r.dir, final).Fee
	for _, k := range []string{"k1", "k2"} {
		mustRun(t, r.dir, "sign", final, "--with", "key:"+k, "--yes", "-o", final+"."+k)
	}
	mustRun(t, r.dir, "psbt", "combine", final+".k1", final+".k2", "-o", final+".both")
	mustRun(t, r.dir, "psbt", "finalize", final+".both", "-o", final+".tx")
	mustRun(t, r.dir, "psbt", "broadcast", final+".tx")
	if _, err := node.Mine(ctx, 1); err != nil {
		t.Fatal(err)
	}
	after := syncJSONOf(t, r.dir, node.RPCURL())
	if paid := before.Confirmed + before.Unconfirmed - after.Confirmed - after.Unconfirmed; paid != 50_000_000+fee || after.Unconfirmed != 0 {
		t.Fatalf("the final payment moved %d sat (unconfirmed left %d), want 0.5 BTC + %d fee", paid, after.Unconfirmed, fee)
	}
	r.doctor("after the final payment")

	kills := 0
	t.Logf("%-8s %8s %6s %7s %10s %13s %10s %9s %11s", "op", "attempts", "kills", "random", "mid-write", "after-commit", "committed", "finished", "median run")
	for _, op := range ops {
		kills += op.killCount()
		t.Logf("%-8s %8d %6d %7d %10d %13d %10d %9d %11v", op.name, op.attempts, op.killCount(), op.kills[killAtRandom], op.kills[killMidWrite],
			op.kills[killAfterCommit], op.committed, op.finished, median(op.runs).Round(time.Millisecond))
	}
	drafts, err := r.store.Drafts(ctx, "w")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d kills; %d addresses printed by completed commands, %d handed out to killed ones (next receive %d, next change %d); %d drafts; %d temporary files left by killed writers",
		kills, len(r.addrs), int(w.NextReceive)-len(r.addrs), w.NextReceive, w.NextChange, len(drafts), r.leftovers())
	t.Logf("%d doctor runs, %v each on average; setup %v, kill loop %v, total %v", r.doctorN, (r.doctorT / time.Duration(r.doctorN)).Round(time.Millisecond),
		setup.Round(time.Millisecond), loop.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	if kills < 100 {
		t.Fatalf("only %d kills", kills)
	}
}

// otherWallet is a descriptor of other cosigners to import, so PSBTs of
// "w" stay recognisable by their fingerprints.
func otherWallet(t *testing.T) string {
	t.Helper()
	var keys []string
	for i := byte(10); i < 13; i++ {
		keys = append(keys, newTestCosigner(t, i, 2).Expr+"/<0;1>/*")
	}
	return "wsh(sortedmulti(2," + strings.Join(keys, ",") + "))\n"
}

func importName(i int) string { return fmt.Sprintf("imp%d", i) }

// ops are the operations the loop kills, in calibration order.
func (r *crashRig) ops() []*crashOp {
	return []*crashOp{
		{name: "address",
			args: func(*testing.T, int) []string { return []string{"--json", "address", "w"} },
			done: func(t *testing.T, _ int, out []byte) { r.recordAddress(t, out) }},
		{name: "import",
			args: func(_ *testing.T, i int) []string {
				return []string{"--network", "regtest", "wallet", "import", importName(i), "--file", r.impFile}
			},
			done: func(t *testing.T, i int, _ []byte) { r.dropImport(t, i) },
			killed: func(t *testing.T, i int) {
				w, err := r.store.Wallet(context.Background(), importName(i))
				switch {
				case errors.Is(err, wallet.ErrNotFound):
				case err != nil:
					t.Fatal(err)
				case w.N != 3 || slices.Contains(w.Fingerprints, ""):
					t.Fatalf("a killed import left part of a wallet: %+v", w)
				}
				r.dropImport(t, i)
			}},
		{name: "sync",
			args: func(t *testing.T, i int) []string {
				// New coins for the sync to find, on an address handed out
				// before; every third sync rescans everything.
				if i%2 == 0 {
					r.fund(r.anyAddress(), 1_000_000)
					if _, err := r.node.Mine(context.Background(), 1); err != nil {
						t.Fatal(err)
					}
				}
				if i%3 == 0 {
					return []string{"wallet", "sync", "w", "--full"}
				}
				return []string{"wallet", "sync", "w"}
			}},
		{name: "spend",
			args: func(_ *testing.T, i int) []string {
				// The drafts are never sent: their coins are spent again.
				return []string{"spend", "w", "--to", r.ext + ":0.001", "--fee-rate", "2", "--allow-conflict", "-o", r.file("spend", i)}
			},
			done:   func(t *testing.T, i int, _ []byte) { r.addSpend(r.wholeFile(t, r.file("spend", i)), true) },
			killed: func(t *testing.T, i int) { r.addSpend(r.wholeFile(t, r.file("spend", i)), true) }},
		{name: "sign",
			args: func(t *testing.T, i int) []string {
				// Every attempt signs a spend that key has not been asked
				// to sign: signing again would store the same bytes, and
				// the store would have nothing to write.
				if len(r.signNext) == 0 {
					r.newSpend(t, true)
				}
				job := r.signNext[0]
				r.signNext = r.signNext[1:]
				r.jobs[i] = job
				return []string{"sign", job[0], "--with", "key:" + job[1], "--yes", "-o", r.file("sign", i)}
			},
			done:   func(t *testing.T, i int, _ []byte) { r.recordSigned(t, i) },
			killed: func(t *testing.T, i int) { r.recordSigned(t, i) }},
		{name: "combine",
			args: func(t *testing.T, i int) []string {
				a, b := r.pair(t)
				return []string{"psbt", "combine", a, b, "-o", r.file("combine", i)}
			},
			done:   func(t *testing.T, i int, _ []byte) { r.wholeFile(t, r.file("combine", i)) },
			killed: func(t *testing.T, i int) { r.wholeFile(t, r.file("combine", i)) }},
	}
}

// attempt runs op once as a separate process and kills it as mode says,
// unless it has exited by then; it reports whether the kill ended the run.
// While an `address` run is killed at a random moment, a second `address`
// process runs beside it and must succeed: a writer killed while holding
// the store's lock must not stop the next one.
func (r *crashRig) attempt(op *crashOp, mode killMode, delay time.Duration) (killed bool) {
	t := r.t
	t.Helper()
	i := op.attempts
	op.attempts++
	args := op.args(t, i)
	before := r.lastEntry()
	wal0 := r.walState()
	// Watching needs the test's connection; otherwise it is closed, so the
	// run may be the store's last user and checkpoint and delete the WAL
	// when it closes, a step worth killing too.
	if mode == noKill || mode == killAtRandom {
		r.closeStore()
		defer r.openStore()
	}
	cmd := execCLI(t, r.dir, args...)
	var bystander *exec.Cmd
	if mode == killAtRandom && op.name == "address" {
		bystander = execCLI(t, r.dir, "--json", "address", "w")
	}
	started := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if bystander != nil {
		if err := bystander.Start(); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan struct{})
	var err error
	var elapsed time.Duration
	go func() {
		err = cmd.Wait()
		elapsed = time.Since(started)
		close(done)
	}()
	switch mode {
	case noKill:
		<-done
	case killAtRandom:
		timer := time.NewTimer(delay - time.Since(started))
		select {
		case <-done:
			timer.Stop()
		case <-timer.C:
			_ = cmd.Process.Kill() // SIGKILL; harmless if it exits meanwhile
			<-done
		}
	default:
		// Watch the store and kill the moment the run reaches the point
		// mode names.
		for watching := true; watching; {
			select {
			case <-done:
				watching = false
				continue
			default:
			}
			// The journal is read only once the WAL has changed: the
			// watcher must not take the CPU the run needs.
			if writing := r.walState() != wal0; writing && (mode == killMidWrite || r.lastEntry() > before) {
				_ = cmd.Process.Kill()
				<-done
				watching = false
			}
			time.Sleep(100 * time.Microsecond)
		}
	}
	r.openStore()
	written := r.lastEntry() - before // journal ids are gap-free: entries committed meanwhile
	if bystander != nil {
		if err := bystander.Wait(); err != nil {
			t.Fatalf("an address process beside a killed one failed: %v\n%s", err, bystander.Stderr)
		}
		r.recordAddress(t, bystander.Stdout.(*bytes.Buffer).Bytes())
		written-- // the bystander's address
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			op.kills[mode]++
			if written > 0 {
				op.committed++
			}
			if op.killed != nil {
				op.killed(t, i)
			}
			return true
		}
	}
	if err != nil {
		t.Fatalf("%s: countersign %s: %v\n%s", op.name, strings.Join(args, " "), err, cmd.Stderr)
	}
	op.finished++
	op.runs = append(op.runs, elapsed)
	if op.done != nil {
		op.done(t, i, cmd.Stdout.(*bytes.Buffer).Bytes())
	}
	return false
}

// openStore opens the test's own view of the store, if closed.
func (r *crashRig) openStore() {
	if r.store != nil {
		return
	}
	st, err := wallet.Open(r.dir)
	if err != nil {
		r.t.Fatal(err)
	}
	r.store = st
}

// closeStore closes the test's view of the store, if open.
func (r *crashRig) closeStore() {
	if r.store == nil {
		return
	}
	if err := r.store.Close(); err != nil {
		r.t.Fatal(err)
	}
	r.store = nil
}

// walState is the WAL file's size and modification time: a writer
// changes them with its first frame, before it commits.
func (r *crashRig) walState() [2]int64 {
	info, err := os.Stat(filepath.Join(r.dir, wallet.DBFile+"-wal"))
	if err != nil {
		return [2]int64{-1, 0}
	}
	return [2]int64{info.Size(), info.ModTime().UnixNano()}
}

// doctor runs `countersign doctor --json` as its own process and fails the
// test unless every check passes.
func (r *crashRig) doctor(when string) {
	t := r.t
	t.Helper()
	cmd := execCLI(t, r.dir, "--json", "doctor")
	start := time.Now()
	err := cmd.Run()
	r.doctorT += time.Since(start)
	r.doctorN++
	var rep doctorReport
	if jerr := json.Unmarshal(cmd.Stdout.(*bytes.Buffer).Bytes(), &rep); jerr != nil || err != nil || !rep.OK {
		t.Fatalf("%s: doctor: %v %v\n%s\n%s", when, err, jerr, rep.failedChecks(), cmd.Stderr)
	}
}

// lastEntry is the newest journal id: it grows exactly when a write
// commits.
func (r *crashRig) lastEntry() int64 {
	es, err := r.store.Journal(context.Background(), "", 1)
	if err != nil {
		r.t.Fatal(err)
	}
	if len(es) == 0 {
		return 0
	}
	return es[0].ID
}

// fund pays addr from the node's coins.
func (r *crashRig) fund(addr string, sat int64) {
	a, err := btcutil.DecodeAddress(addr, r.node.Params())
	if err != nil {
		r.t.Fatal(err)
	}
	if _, err := r.node.Fund(context.Background(), a, sat); err != nil {
		r.t.Fatal(err)
	}
}

// handOut hands out an address in this process.
func (r *crashRig) handOut() string {
	return r.recordAddress(r.t, []byte(mustRun(r.t, r.dir, "--json", "address", "w")))
}

// anyAddress is one of the addresses handed out so far.
func (r *crashRig) anyAddress() string {
	all := make([]string, 0, len(r.addrs))
	for a := range r.addrs {
		all = append(all, a)
	}
	slices.Sort(all)
	return all[r.rnd.IntN(len(all))]
}

// recordAddress notes the address an `address` command printed and fails
// the test if any command printed it before.
func (r *crashRig) recordAddress(t *testing.T, out []byte) string {
	t.Helper()
	var a addressJSON
	mustJSON(t, string(out), &a)
	if prev, dup := r.addrs[a.Address]; dup {
		t.Fatalf("address %s handed out twice (index %d, then %d)", a.Address, prev, a.Index)
	}
	if !a.HandedOut || a.Address == "" {
		t.Fatalf("address output: %s", out)
	}
	r.addrs[a.Address] = a.Index
	return a.Address
}

// file is the output file of an operation's attempt.
func (r *crashRig) file(kind string, i int) string {
	return filepath.Join(r.work, fmt.Sprintf("%s-%d.psbt", kind, i))
}

// wholeFile checks a PSBT file a (possibly killed) command wrote: absent,
// or a PSBT that decodes completely. It returns path when the file is
// there.
func (r *crashRig) wholeFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := psbt.Decode(b); err != nil {
		t.Fatalf("%s is torn: %v (%d bytes)", path, err, len(b))
	}
	return path
}

// recordSigned notes sign attempt i's output when it is there.
func (r *crashRig) recordSigned(t *testing.T, i int) {
	f := r.wholeFile(t, r.file("sign", i))
	if f == "" {
		return
	}
	job := r.jobs[i]
	if r.signed[job[0]] == nil {
		r.signed[job[0]] = map[string]string{}
	}
	r.signed[job[0]][job[1]] = f
}

// pair returns two copies of one spend, signed by k1 and by k2, that no
// combine attempt has had (combining a pair again would store the same
// bytes: nothing to write, nothing to kill); when there is none, it makes
// one in this process.
func (r *crashRig) pair(t *testing.T) (string, string) {
	t.Helper()
	var fresh []string
	for src, by := range r.signed {
		if by["k1"] != "" && by["k2"] != "" && !r.combined[src] {
			fresh = append(fresh, src)
		}
	}
	if len(fresh) == 0 {
		src := r.newSpend(t, false)
		for _, k := range []string{"k1", "k2"} {
			out := src + "." + k
			mustRun(t, r.dir, "sign", src, "--with", "key:"+k, "--yes", "-o", out)
			if r.signed[src] == nil {
				r.signed[src] = map[string]string{}
			}
			r.signed[src][k] = out
		}
		fresh = append(fresh, src)
	}
	slices.Sort(fresh)
	src := fresh[r.rnd.IntN(len(fresh))]
	r.combined[src] = true
	return r.signed[src]["k1"], r.signed[src]["k2"]
}

// addSpend notes a whole unsigned PSBT file ("" is none); with sign, both
// keys are to sign it.
func (r *crashRig) addSpend(f string, sign bool) {
	if f == "" {
		return
	}
	r.spends = append(r.spends, f)
	if sign {
		r.signNext = append(r.signNext, [2]string{f, "k1"}, [2]string{f, "k2"})
	}
}

// newSpend builds a spend in this process, for operations that ran out of
// fresh input.
func (r *crashRig) newSpend(t *testing.T, sign bool) string {
	t.Helper()
	f := filepath.Join(r.work, fmt.Sprintf("extra-%d.psbt", len(r.spends)))
	mustRun(t, r.dir, "spend", "w", "--to", r.ext+":0.001", "--fee-rate", "2", "--allow-conflict", "-o", f)
	r.addSpend(f, sign)
	return f
}

// dropImport deletes what import attempt i stored, if anything, so the
// imports do not pile up in every later doctor run; the deletions also put
// wallet.delete entries in the journal for its rules to follow.
func (r *crashRig) dropImport(t *testing.T, i int) {
	if err := r.store.DeleteWallet(context.Background(), importName(i)); err != nil && !errors.Is(err, wallet.ErrNotFound) {
		t.Fatal(err)
	}
}

// leftovers counts the temporary files killed writers left in the work
// directory (".NAME.tmp-*": never mistaken for a PSBT, safe to delete).
func (r *crashRig) leftovers() int {
	ents, err := os.ReadDir(r.work)
	if err != nil {
		r.t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") && strings.Contains(e.Name(), ".tmp-") {
			n++
		}
	}
	return n
}
