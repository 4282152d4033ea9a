package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil"

	"github.com/countersign/countersign/internal/regtest"
	"github.com/countersign/countersign/psbt"
	"github.com/countersign/countersign/wallet"
)

// smallWallet is a funded 2-of-3 of software keys k1..k3 with one unsigned
// spend: the fixture of the hardening tests below.
type smallWallet struct {
	node     *regtest.Node
	dir      string
	unsigned string // the spend's file
	txid     string
}

func newSmallWallet(t *testing.T) *smallWallet {
	t.Helper()
	node := regtest.Start(t)
	ctx := context.Background()
	dir := t.TempDir()
	importTestKeys(t, dir, []testCosigner{newTestCosigner(t, 31, 2), newTestCosigner(t, 32, 2), newTestCosigner(t, 33, 2)})
	mustRun(t, dir, "--network", "regtest", "wallet", "create", "w", "--threshold", "2",
		"--device", "key:k1", "--device", "key:k2", "--device", "key:k3")
	mustRun(t, dir, "backend", "set", node.RPCURL())
	a, err := btcutil.DecodeAddress(strings.TrimSpace(mustRun(t, dir, "address", "w")), node.Params())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := node.Fund(ctx, a, 20_000_000); err != nil {
		t.Fatal(err)
	}
	node.Mine(ctx, 1)
	mustRun(t, dir, "wallet", "sync", "w")
	unsigned := filepath.Join(t.TempDir(), "u.psbt")
	mustRun(t, dir, "spend", "w", "--to", node.Address().EncodeAddress()+":0.05", "--fee-rate", "2", "-o", unsigned)
	b, _ := os.ReadFile(unsigned)
	p, err := psbt.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	return &smallWallet{node: node, dir: dir, unsigned: unsigned, txid: p.UnsignedTx.TxHash().String()}
}

// runAtTerminal runs countersign in-process with stdin and stderr marked
// as terminals, answering from stdin.
func runAtTerminal(t *testing.T, dir, stdin string, args ...string) result {
	t.Helper()
	io, in, out, errOut := TestStreams()
	io.StdinTTY, io.StderrTTY = true, true
	in.WriteString(stdin)
	env := map[string]string{"COUNTERSIGN_DATA_DIR": dir, "HOME": dir, "COUNTERSIGN_PASSPHRASE": testPassphrase}
	f := NewFactory(io, func(k string) string { return env[k] })
	cheapKeys(f)
	defer f.Close()
	code := Run(context.Background(), f, args)
	return result{Out: out.String(), Err: errOut.String(), Code: code}
}

// TestSoftwareKeyAsksFirst: a software key signs only after the summary
// is shown and the user says yes; a script must pass --yes; without a
// terminal there is never a prompt.
func TestSoftwareKeyAsksFirst(t *testing.T) {
	if testing.Short() {
		t.Skip("regtest test")
	}
	w := newSmallWallet(t)
	out := filepath.Join(t.TempDir(), "s.psbt")

	r := runCLI(t, w.dir, "y\n", "sign", w.unsigned, "--with", "key:k1", "-o", out)
	if r.Code != 2 || !strings.Contains(r.Err, "--yes") {
		t.Fatalf("no terminal, no --yes: exit %d: %s", r.Code, r.Err)
	}
	if _, err := os.Stat(out); err == nil {
		t.Fatal("signed without confirmation")
	}

	r = runAtTerminal(t, w.dir, "n\n", "sign", w.unsigned, "--with", "key:k1", "-o", out)
	if r.Code == 0 {
		t.Fatalf("answered no, exit 0: %s", r.Err)
	}
	if _, err := os.Stat(out); err == nil {
		t.Fatal("signed although the user said no")
	}
	summary, question := strings.Index(r.Err, "Sending 0.05000000 BTC"), strings.Index(r.Err, "Sign with software key key:k1? [y/N]")
	if summary < 0 || question < 0 || summary > question {
		t.Fatalf("the summary must come before the question:\n%s", r.Err)
	}

	r = runAtTerminal(t, w.dir, "y\n", "sign", w.unsigned, "--with", "key:k1", "-o", out)
	if r.Code != 0 || !strings.Contains(r.Err, "added 1 signature") {
		t.Fatalf("answered yes: exit %d: %s", r.Code, r.Err)
	}
	// --yes at a terminal does not ask.
	r = runAtTerminal(t, w.dir, "", "sign", w.unsigned, "--with", "key:k2", "--yes", "-o", out)
	if r.Code != 0 || strings.Contains(r.Err, "[y/N]") {
		t.Fatalf("--yes at a terminal: exit %d: %s", r.Code, r.Err)
	}
}

// TestFileSignerInterrupted: a FIFO named like the device's answer does
// not block the wait, and Ctrl-C during it ends with exit 130 and says the
// PSBT is still on the card: nothing was signed, so it is not success.
func TestFileSignerInterrupted(t *testing.T) {
	if testing.Short() {
		t.Skip("regtest test")
	}
	w := newSmallWallet(t)
	card := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(card, "w-"+w.txid[:8]+"-part.psbt"), 0o600); err != nil {
		t.Skip("no FIFOs here:", err)
	}
	cmd := exec.Command(os.Args[0], "sign", w.unsigned, "--with", "file:"+card, "-o", filepath.Join(t.TempDir(), "s.psbt"))
	cmd.Env = append(os.Environ(), "COUNTERSIGN_AS_MAIN=1", "COUNTERSIGN_DATA_DIR="+w.dir)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var all bytes.Buffer
	waiting := make(chan struct{})
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		sc := bufio.NewScanner(stderr)
		seen := false
		for sc.Scan() {
			all.WriteString(sc.Text() + "\n")
			if !seen && strings.Contains(sc.Text(), "Waiting for the signed PSBT") {
				seen = true
				close(waiting)
			}
		}
	}()
	select {
	case <-waiting:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("sign never started waiting")
	}
	time.Sleep(300 * time.Millisecond) // a few polls of the card, FIFO included
	cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { <-copied; done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 130 {
			t.Fatalf("Ctrl-C while waiting: %v, want exit 130\n%s", err, all.String())
		}
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("Ctrl-C was not noticed (blocked on the FIFO?)\n%s", all.String())
	}
	if msg := all.String(); !strings.Contains(msg, "nothing was signed") || !strings.Contains(msg, "stays on the card") {
		t.Fatalf("the message does not say what happened:\n%s", msg)
	}
}

// TestHostileLabelsEscaped: a cosigner label from an imported Caravan file
// with a line break and terminal escapes is printed escaped: it cannot
// forge a line of countersign's output nor drive the terminal.
func TestHostileLabelsEscaped(t *testing.T) {
	if testing.Short() {
		t.Skip("regtest test")
	}
	w := newSmallWallet(t)
	caravan := mustRun(t, w.dir, "wallet", "export", "w", "--format", "caravan")
	var c map[string]any
	if err := json.Unmarshal([]byte(caravan), &c); err != nil {
		t.Fatal(err)
	}
	keys := c["extendedPublicKeys"].([]any)
	const hostile = "alice\r\nReady to finalize: yes\x1b[2K\x1b]0;pwned\x07"
	keys[0].(map[string]any)["name"] = hostile
	b, _ := json.Marshal(c)
	file := writeSecret(t, string(b), 0o600)
	other := t.TempDir()
	mustRun(t, other, "wallet", "import", "w2", "--file", file, "--network", "regtest")

	check := func(what string, r result) {
		t.Helper()
		text := r.Out + r.Err
		if strings.ContainsAny(text, "\x1b\r\x07") {
			t.Fatalf("%s printed raw control characters: %q", what, text)
		}
		for _, line := range strings.Split(text, "\n") {
			if strings.TrimSpace(line) == "Ready to finalize: yes" {
				t.Fatalf("%s shows a forged line: %q", what, text)
			}
		}
	}
	r := runCLI(t, other, "", "psbt", "inspect", w.unsigned)
	if r.Code != 0 || !strings.Contains(r.Out, "Ready to finalize: no") {
		t.Fatalf("inspect: exit %d: %s %s", r.Code, r.Out, r.Err)
	}
	check("psbt inspect", r)
	check("wallet show", runCLI(t, other, "", "wallet", "show", "w2"))
	check("wallet list", runCLI(t, other, "", "wallet", "list"))
	// The label did arrive as written: JSON carries it, escaped by JSON.
	var show walletJSON
	mustJSON(t, mustRun(t, other, "--json", "wallet", "show", "w2"), &show)
	found := false
	for _, c := range show.Cosigners {
		found = found || c.Label == hostile
	}
	if !found {
		t.Fatalf("the hostile label was not imported as written: %+v", show.Cosigners)
	}
}

// TestSignerFormsListed: an unknown signer is bad usage and the message
// lists every form, software keys and card folders included.
func TestSignerFormsListed(t *testing.T) {
	if testing.Short() {
		t.Skip("regtest test")
	}
	w := newSmallWallet(t)
	r := runCLI(t, w.dir, "", "sign", w.unsigned, "--with", "bogus", "--yes")
	if r.Code != 2 || !strings.Contains(r.Err, "key:NAME") || !strings.Contains(r.Err, "file:DIR") || !strings.Contains(r.Err, "qr") {
		t.Fatalf("--with bogus: exit %d: %s", r.Code, r.Err)
	}
}

// TestSignTwiceAndOtherWallet: signing twice with one key is not an error
// (exit 0, "already signed", nothing new written), and a PSBT named as
// another wallet's is refused at every step without touching that wallet.
func TestSignTwiceAndOtherWallet(t *testing.T) {
	if testing.Short() {
		t.Skip("regtest test")
	}
	w := newSmallWallet(t)
	work := t.TempDir()
	s1 := filepath.Join(work, "s1.psbt")
	mustRun(t, w.dir, "sign", w.unsigned, "--with", "key:k1", "--yes", "-o", s1)
	before, _ := os.ReadFile(s1)
	r := runCLI(t, w.dir, "", "sign", s1, "--with", "key:k1", "--yes")
	if r.Code != 0 || !strings.Contains(r.Err, "already signed") {
		t.Fatalf("signing twice: exit %d: %s", r.Code, r.Err)
	}
	if after, _ := os.ReadFile(s1); !bytes.Equal(before, after) {
		t.Fatal("signing twice rewrote the file")
	}
	var j struct {
		AlreadySigned bool `json:"already_signed"`
		Added         int  `json:"added"`
	}
	mustJSON(t, mustRun(t, w.dir, "--json", "sign", s1, "--with", "key:k1", "--yes"), &j)
	if !j.AlreadySigned || j.Added != 0 {
		t.Fatalf("signing twice, --json: %+v", j)
	}

	// Another wallet in the same store: naming it is refused everywhere.
	c := []testCosigner{newTestCosigner(t, 41, 2), newTestCosigner(t, 42, 2), newTestCosigner(t, 43, 2)}
	mustRun(t, w.dir, "--network", "regtest", "wallet", "create", "other", "--threshold", "2",
		"--cosigner", c[0].Expr, "--cosigner", c[1].Expr, "--cosigner", c[2].Expr)
	s2 := filepath.Join(work, "s2.psbt")
	mustRun(t, w.dir, "sign", s1, "--with", "key:k2", "--yes", "-o", s2)
	for _, args := range [][]string{
		{"psbt", "inspect", s2, "--wallet", "other"},
		{"sign", w.unsigned, "--with", "key:k2", "--yes", "--wallet", "other", "-o", filepath.Join(work, "x.psbt")},
		{"psbt", "combine", s1, s2, "--wallet", "other", "-o", filepath.Join(work, "y.psbt")},
		{"psbt", "finalize", s2, "--wallet", "other", "-o", filepath.Join(work, "tx")},
	} {
		r := runCLI(t, w.dir, "", args...)
		if r.Code != 4 || !strings.Contains(r.Err, `not this wallet's PSBT: the PSBT spends nothing of wallet "other"`) {
			t.Fatalf("%v: exit %d: %s", args, r.Code, r.Err)
		}
	}
	for _, f := range []string{"x.psbt", "y.psbt", "tx"} {
		if _, err := os.Stat(filepath.Join(work, f)); err == nil {
			t.Fatalf("a refused step wrote %s", f)
		}
	}
	s, err := wallet.Open(w.dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ds, err := s.Drafts(context.Background(), "other")
	if err != nil || len(ds) != 0 {
		t.Fatalf("wallet other got %d drafts (%v)", len(ds), err)
	}
}
