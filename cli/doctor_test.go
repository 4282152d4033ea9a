package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// doctorReport is doctor's JSON as a script reads it.
type doctorReport struct {
	DataDir string            `json:"data_dir"`
	OK      bool              `json:"ok"`
	Failed  int               `json:"failed"`
	Checks  []doctorCheckJSON `json:"checks"`
}

// failedChecks lists the failed checks with their problems, for messages.
func (r doctorReport) failedChecks() string {
	var out []string
	for _, c := range r.Checks {
		if !c.OK {
			out = append(out, c.Name+" ["+c.Wallet+"]: "+strings.Join(c.Problems, "; "))
		}
	}
	return strings.Join(out, "\n")
}

func TestDoctorOptions(t *testing.T) {
	f := NewFactory(&Streams{}, func(string) string { return "" })
	var got *DoctorOptions
	cmd := newCmdDoctor(f, func(_ context.Context, o *DoctorOptions) error { got = o; return nil })
	f.Global.JSON = true
	cmd.SetArgs(nil)
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if got == nil || !got.JSON || got.Coordinator == nil || got.KeyStore == nil || got.DataDir == nil {
		t.Fatalf("options: %+v", got)
	}
	cmd = newCmdDoctor(f, func(context.Context, *DoctorOptions) error { return nil })
	cmd.SetArgs([]string{"extra"})
	cmd.SetErr(&strings.Builder{})
	cmd.SetOut(&strings.Builder{})
	if err := cmd.Execute(); err == nil || ExitCode(err) != ExitBadInput {
		t.Fatalf("an argument: %v", err)
	}
}

func TestDoctorCommand(t *testing.T) {
	dir := t.TempDir()
	desc, cs := testDescriptor(t, "wsh", 2, 3)
	mustRun(t, dir, "--network", "regtest", "wallet", "create", "w", "--descriptor", desc)
	importTestKeys(t, dir, cs[:1])
	for range 3 {
		mustRun(t, dir, "address", "w")
	}

	text := mustRun(t, dir, "doctor")
	for _, want := range []string{"ok  sqlite.integrity", "ok  journal.sequence", "ok  wallet.addresses [w]", "3 addresses and 0 coins re-derived", "ok  keys.files", "1 keys in"} {
		if !strings.Contains(text, want) {
			t.Errorf("text report lacks %q:\n%s", want, text)
		}
	}
	var rep doctorReport
	mustJSON(t, mustRun(t, dir, "--json", "doctor"), &rep)
	if !rep.OK || rep.Failed != 0 || len(rep.Checks) != 20 || rep.DataDir == "" {
		t.Fatalf("report: %+v\n%s", rep, rep.failedChecks())
	}

	// A key file others can read: exit 1, the report on stdout (also
	// with --fields), the error on stderr.
	if err := os.Chmod(filepath.Join(dir, "keys", "k1.age"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, dir, "", "--json", "doctor")
	mustJSON(t, r.Out, &rep)
	var e struct {
		Error    string `json:"error"`
		ExitCode int    `json:"exit_code"`
	}
	mustJSON(t, r.Err, &e)
	if r.Code != 1 || rep.OK || rep.Failed != 1 || !strings.Contains(rep.failedChecks(), "keys.files") || e.ExitCode != 1 || !strings.Contains(e.Error, "1 of") {
		t.Fatalf("exit %d, report %+v, error %+v", r.Code, rep, e)
	}
	r = runCLI(t, dir, "", "--json", "--fields", "ok,failed", "doctor")
	var sel map[string]any
	mustJSON(t, r.Out, &sel)
	if r.Code != 1 || len(sel) != 2 || sel["ok"] != false || sel["failed"] != float64(1) {
		t.Fatalf("--fields with a failure: exit %d, %s", r.Code, r.Out)
	}
	r = runCLI(t, dir, "", "doctor")
	if r.Code != 1 || !strings.Contains(r.Out, "FAILED  keys.files") || !strings.Contains(r.Out, "want 0600") || !strings.Contains(r.Err, "error: integrity checks failed: 1 of") {
		t.Fatalf("text with a failure: exit %d\n%s\n%s", r.Code, r.Out, r.Err)
	}
}

func TestDoctorWithoutStore(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nothing-here")
	r := runCLI(t, dir, "", "doctor")
	if r.Code != 3 || !strings.Contains(r.Err, "no countersign store") {
		t.Fatalf("exit %d: %s", r.Code, r.Err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("doctor created the data directory: %v", err)
	}
	var e map[string]any
	r = runCLI(t, dir, "", "--json", "doctor")
	if err := json.Unmarshal([]byte(r.Err), &e); err != nil || e["exit_code"] != float64(3) {
		t.Fatalf("json error: %s", r.Err)
	}
}
