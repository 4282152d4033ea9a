package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/countersign/countersign/internal/vectors"
)

// coldcardVectorDescriptor is the published Coldcard export (2-of-4 P2WSH,
// testnet) from ../shared/vectors, as a descriptor.
func coldcardVectorDescriptor(t *testing.T) string {
	var v struct {
		Exports []struct {
			Descriptor string `json:"descriptor"`
		} `json:"coldcard_descriptor_export_with_checksum"`
	}
	vectors.Load(t, "descriptor_checksum.json", &v)
	if len(v.Exports) == 0 {
		t.Fatal("descriptor_checksum.json: no coldcard_descriptor_export_with_checksum entries")
	}
	return v.Exports[0].Descriptor
}

func TestWalletCreateShowExportImportRoundTrip(t *testing.T) {
	dir := t.TempDir()
	desc := coldcardVectorDescriptor(t)
	mustRun(t, dir, "wallet", "create", "cc", "--descriptor", desc)

	var show walletJSON
	if err := json.Unmarshal([]byte(mustRun(t, dir, "--json", "wallet", "show", "cc")), &show); err != nil {
		t.Fatal(err)
	}
	if show.Policy != "2 of 4" || show.Script != "wsh" || show.Network != "testnet" || len(show.Cosigners) != 4 {
		t.Fatalf("unexpected wallet: %+v", show)
	}
	if show.Cosigners[0].Fingerprint != "0f056943" || show.Cosigners[0].Path != "m/48h/1h/0h/2h" {
		t.Fatalf("cosigner 1: %+v", show.Cosigners[0])
	}

	for _, format := range []string{"descriptor", "core", "coldcard", "caravan", "specter", "bsms"} {
		t.Run(format, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "export."+format)
			mustRun(t, dir, "wallet", "export", "cc", "--format", format, "-o", file)
			name := "cc-" + format
			var got walletJSON
			if err := json.Unmarshal([]byte(mustRun(t, dir, "--json", "wallet", "import", name, "--file", file)), &got); err != nil {
				t.Fatal(err)
			}
			if got.Descriptor != show.Descriptor || got.FirstAddress != show.FirstAddress || got.Network != show.Network {
				t.Fatalf("round trip through %s changed the wallet:\n got %s %s %s\nwant %s %s %s", format, got.Descriptor, got.FirstAddress, got.Network, show.Descriptor, show.FirstAddress, show.Network)
			}
		})
	}
}

func TestWalletCreateFromCosigners(t *testing.T) {
	dir := t.TempDir()
	// The four keys of the published Coldcard export, given as cosigners.
	desc := coldcardVectorDescriptor(t)
	inner := desc[strings.Index(desc, "(2,")+3 : strings.Index(desc, "))")]
	var args []string
	for i, k := range strings.Split(inner, ",") {
		k = strings.TrimSuffix(k, "/0/*")
		args = append(args, "--cosigner", "signer"+strconv.Itoa(i+1)+"="+k)
	}
	out := mustRun(t, dir, append([]string{"--json", "wallet", "create", "cc", "--threshold", "2", "--network", "testnet"}, args...)...)
	var w walletJSON
	if err := json.Unmarshal([]byte(out), &w); err != nil {
		t.Fatal(err)
	}
	if w.Cosigners[2].Label != "signer3" || !strings.Contains(w.Descriptor, "/<0;1>/*") {
		t.Fatalf("labels or multipath missing: %+v", w)
	}
	// The same wallet created from the descriptor derives the same address.
	mustRun(t, dir, "wallet", "create", "cc2", "--descriptor", desc)
	a := mustRun(t, dir, "address", "cc", "--index", "5")
	b := mustRun(t, dir, "address", "cc2", "--index", "5")
	if a != b {
		t.Fatalf("cosigner form and descriptor form differ: %q vs %q", a, b)
	}
}

func TestWalletBadInputExitCodesAndStoreUnchanged(t *testing.T) {
	dir := t.TempDir()
	desc := coldcardVectorDescriptor(t)
	mustRun(t, dir, "wallet", "create", "cc", "--descriptor", desc)
	before := mustRun(t, dir, "--json", "wallet", "list")

	bad := desc[:len(desc)-8] + "qqqqqqqq"
	cases := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"bad checksum", []string{"wallet", "create", "x", "--descriptor", bad}, 2, "expected"},
		{"duplicate name", []string{"wallet", "create", "cc", "--descriptor", desc}, 2, "already exists"},
		{"threshold above n", []string{"wallet", "create", "x", "--descriptor", strings.Replace(desc[:len(desc)-9], "(2,", "(5,", 1)}, 2, ""},
		{"wrong network", []string{"--network", "mainnet", "wallet", "create", "x", "--descriptor", desc}, 2, ""},
		{"missing threshold", []string{"wallet", "create", "x", "--cosigner", "tpubX"}, 2, "--threshold"},
		{"unknown wallet", []string{"wallet", "show", "nope"}, 3, "not found"},
		{"unknown format", []string{"wallet", "export", "cc", "--format", "docx"}, 2, ""},
		{"delete without --yes", []string{"wallet", "delete", "cc"}, 2, "--yes"},
		{"unknown flag", []string{"wallet", "list", "--bogus"}, 2, "unknown flag"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := runCLI(t, dir, "", c.args...)
			if r.Code != c.code {
				t.Fatalf("exit %d, want %d; stderr: %s", r.Code, c.code, r.Err)
			}
			if !strings.HasPrefix(r.Err, "error: ") || !strings.Contains(r.Err, c.msg) {
				t.Fatalf("stderr %q does not name the problem (%q)", r.Err, c.msg)
			}
		})
	}
	if after := mustRun(t, dir, "--json", "wallet", "list"); after != before {
		t.Fatalf("a failed command changed the store:\n%s\n%s", before, after)
	}
	r := runCLI(t, dir, "", "wallet", "import", "x", "--file", "-")
	if r.Code != 2 {
		t.Fatalf("empty import: exit %d, want 2 (%s)", r.Code, r.Err)
	}
}

func TestWalletDeleteWithYes(t *testing.T) {
	dir := t.TempDir()
	mustRun(t, dir, "wallet", "create", "cc", "--descriptor", coldcardVectorDescriptor(t))
	mustRun(t, dir, "--yes", "wallet", "delete", "cc")
	if r := runCLI(t, dir, "", "wallet", "show", "cc"); r.Code != 3 {
		t.Fatalf("deleted wallet still shows: exit %d", r.Code)
	}
}

// TestAddressConcurrentProcesses: 20 separate processes ask for a new
// receive address at once; each must get a different index.
func TestAddressConcurrentProcesses(t *testing.T) {
	dir := t.TempDir()
	mustRun(t, dir, "wallet", "create", "cc", "--descriptor", coldcardVectorDescriptor(t))
	const n = 20
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		idxs []int
	)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := execCLI(t, dir, "--json", "address", "cc")
			if err := cmd.Run(); err != nil {
				t.Errorf("process failed: %v: %s", err, cmd.Stderr)
				return
			}
			var a addressJSON
			if err := json.Unmarshal(cmd.Stdout.(interface{ Bytes() []byte }).Bytes(), &a); err != nil {
				t.Errorf("bad output: %v", err)
				return
			}
			mu.Lock()
			idxs = append(idxs, int(a.Index))
			mu.Unlock()
		}()
	}
	wg.Wait()
	sort.Ints(idxs)
	if len(idxs) != n {
		t.Fatalf("got %d results, want %d", len(idxs), n)
	}
	for i, v := range idxs {
		if v != i {
			t.Fatalf("indexes not distinct 0..19: %v", idxs)
		}
	}
}

func TestDescriptorCheckAndDerive(t *testing.T) {
	dir := t.TempDir()
	desc := coldcardVectorDescriptor(t)
	out := mustRun(t, dir, "descriptor", "check", strings.NewReplacer("h/", "'/", "h]", "']").Replace(desc[:len(desc)-9]))
	if strings.TrimSpace(out) != desc {
		t.Fatalf("canonical form: got %s want %s", out, desc)
	}
	var js descriptorCheckJSON
	if err := json.Unmarshal([]byte(mustRun(t, dir, "--json", "descriptor", "check", desc)), &js); err != nil {
		t.Fatal(err)
	}
	if js.Checksum != "al5z7mcj" || js.Threshold != 2 || len(js.Keys) != 4 || js.Script != "wsh" {
		t.Fatalf("json: %+v", js)
	}
	lines := strings.Split(strings.TrimSpace(mustRun(t, dir, "descriptor", "derive", desc, "--from", "3", "--count", "4")), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "tb1q") {
		t.Fatalf("derive: %q", lines)
	}
	var arr []derivedJSON
	if err := json.Unmarshal([]byte(mustRun(t, dir, "--json", "descriptor", "derive", desc, "--from", "3", "--count", "4")), &arr); err != nil {
		t.Fatal(err)
	}
	if arr[0].Index != 3 || arr[0].Address != lines[0] || !strings.HasPrefix(arr[0].ScriptPubKey, "0020") {
		t.Fatalf("json derive: %+v", arr[0])
	}
	r := runCLI(t, dir, "", "descriptor", "check", desc[:len(desc)-1]+"x")
	if r.Code != 2 || !strings.Contains(r.Err, "expected \"al5z7mcj\"") {
		t.Fatalf("bad checksum: exit %d, %s", r.Code, r.Err)
	}
}

func TestMain_noLeftoverFiles(t *testing.T) {
	// The data dir holds only the store; exports go where -o says.
	dir := t.TempDir()
	mustRun(t, dir, "wallet", "list")
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), "countersign.db") {
			t.Fatalf("unexpected file in data dir: %s", e.Name())
		}
	}
}

func TestCompletion(t *testing.T) {
	dir := t.TempDir()
	for _, sh := range []string{"bash", "zsh", "fish"} {
		if out := mustRun(t, dir, "completion", sh); !strings.Contains(out, "countersign") {
			t.Fatalf("%s completion script does not mention countersign", sh)
		}
	}
	// Man pages: cmd/countersign-man (TestManPages).
}

func TestJSONFieldSelection(t *testing.T) {
	dir := t.TempDir()
	mustRun(t, dir, "wallet", "create", "cc", "--descriptor", coldcardVectorDescriptor(t))
	var list []map[string]any
	mustJSON(t, mustRun(t, dir, "--json", "--fields", "name,policy", "wallet", "list"), &list)
	if len(list) != 1 || len(list[0]) != 2 || list[0]["name"] != "cc" || list[0]["policy"] != "2 of 4" {
		t.Fatalf("selected fields: %v", list)
	}
	var one map[string]any
	mustJSON(t, mustRun(t, dir, "--json", "--fields", "first_address", "wallet", "show", "cc"), &one)
	if len(one) != 1 || !strings.HasPrefix(one["first_address"].(string), "tb1") {
		t.Fatalf("selected fields: %v", one)
	}
	if r := runCLI(t, dir, "", "--json", "--fields", "nope", "wallet", "show", "cc"); r.Code != 2 || !strings.Contains(r.Err, "first_address") {
		t.Fatalf("unknown field: exit %d: %s", r.Code, r.Err)
	}
	if r := runCLI(t, dir, "", "--fields", "name", "wallet", "list"); r.Code != 2 || !strings.Contains(r.Err, "--json") {
		t.Fatalf("--fields without --json: exit %d: %s", r.Code, r.Err)
	}
}

// --fields is checked before the command runs: a mistyped field costs no
// handed-out address, and an optional field the output leaves out is null.
func TestFieldsCheckedBeforeRunning(t *testing.T) {
	dir := t.TempDir()
	mustRun(t, dir, "wallet", "create", "cc", "--descriptor", coldcardVectorDescriptor(t))
	if r := runCLI(t, dir, "", "--json", "--fields", "adress", "address", "cc"); r.Code != 2 || !strings.Contains(r.Err, "script_pubkey") {
		t.Fatalf("mistyped field: exit %d: %s", r.Code, r.Err)
	}
	var w struct {
		NextReceive int `json:"next_receive_index"`
	}
	mustJSON(t, mustRun(t, dir, "--json", "wallet", "show", "cc"), &w)
	if w.NextReceive != 0 {
		t.Fatalf("a refused --fields handed out an address: next receive index %d", w.NextReceive)
	}
	var a map[string]any
	mustJSON(t, mustRun(t, dir, "--json", "--fields", "address,label", "address", "cc"), &a)
	if len(a) != 2 || a["label"] != nil || !strings.HasPrefix(a["address"].(string), "tb1") {
		t.Fatalf("address with fields address,label: %v", a)
	}
	for _, args := range [][]string{{"psbt", "finalise", "x"}, {"wallet", "sycn", "cc"}, {"psbt"}, {"--network", "bogus", "wallet", "list"}} {
		if r := runCLI(t, dir, "", append([]string{"--json"}, args...)...); r.Code != 2 || r.Out != "" {
			t.Errorf("countersign %s: exit %d, stdout %q, stderr %s", strings.Join(args, " "), r.Code, r.Out, r.Err)
		}
	}
	if r := runCLI(t, dir, "", "wallet", "sycn", "cc"); !strings.Contains(r.Err, "did you mean sync") {
		t.Errorf("no suggestion for a typo: %s", r.Err)
	}
}
