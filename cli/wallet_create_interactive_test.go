package cli

import (
	"context"
	"strings"
	"testing"
)

// TestWalletCreateInteractive answers the guided setup through a terminal
// (simulated: stdin and stderr marked as terminals) and checks the wallet.
func TestWalletCreateInteractive(t *testing.T) {
	dir := t.TempDir()
	var answers []string
	answers = append(answers, "family", "4" /* regtest */, "1" /* wsh */, "3", "" /* M default 2 */)
	for i := 1; i <= 3; i++ {
		c := newTestCosigner(t, byte(i), 2)
		answers = append(answers, "2" /* paste */, "member"+string(rune('0'+i)), c.Expr)
	}
	answers = append(answers, "y")
	io, in, _, errOut := TestStreams()
	io.StdinTTY, io.StderrTTY = true, true
	in.WriteString(strings.Join(answers, "\n") + "\n")
	env := map[string]string{"COUNTERSIGN_DATA_DIR": dir}
	f := NewFactory(io, func(k string) string { return env[k] })
	defer f.Close()
	if code := Run(context.Background(), f, []string{"wallet", "create"}); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(errOut.String(), `Summary: wallet "family", 2 of 3, wsh on regtest`) {
		t.Fatalf("no summary shown:\n%s", errOut)
	}
	out := mustRun(t, dir, "wallet", "show", "family")
	if !strings.Contains(out, "2 of 3") || !strings.Contains(out, "member2") {
		t.Fatalf("wallet not as answered:\n%s", out)
	}

	// Answering no creates nothing.
	io2, in2, _, _ := TestStreams()
	io2.StdinTTY, io2.StderrTTY = true, true
	in2.WriteString(strings.Join(append(append([]string{"other"}, answers[1:len(answers)-1]...), "n"), "\n") + "\n")
	f2 := NewFactory(io2, func(k string) string { return env[k] })
	defer f2.Close()
	if code := Run(context.Background(), f2, []string{"wallet", "create"}); code == 0 {
		t.Fatal("declined setup exited 0")
	}
	if r := runCLI(t, dir, "", "wallet", "show", "other"); r.Code != 3 {
		t.Fatalf("declined wallet was created: exit %d", r.Code)
	}

	// Without a terminal it never prompts: missing flags are an error.
	if r := runCLI(t, dir, "family\n", "wallet", "create"); r.Code != 2 {
		t.Fatalf("non-terminal create without flags: exit %d, want 2", r.Code)
	}
}

// Choosing "attached signer" with nothing attached asks again instead of
// ending the setup.
func TestWalletCreateInteractiveNoSignerAsksAgain(t *testing.T) {
	dir := t.TempDir()
	answers := []string{"solo", "4", "1", "1", "1", "1" /* attached: none */}
	c := newTestCosigner(t, 1, 2)
	answers = append(answers, "2", "me", c.Expr, "y")
	io, in, _, errOut := TestStreams()
	io.StdinTTY, io.StderrTTY = true, true
	in.WriteString(strings.Join(answers, "\n") + "\n")
	env := map[string]string{"COUNTERSIGN_DATA_DIR": dir}
	f := NewFactory(io, func(k string) string { return env[k] })
	defer f.Close()
	if code := Run(context.Background(), f, []string{"wallet", "create"}); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(errOut.String(), "no signers attached") {
		t.Fatalf("no explanation shown:\n%s", errOut)
	}
}
