package miniscript

import (
	"encoding/hex"
	"errors"
	"sort"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/txscript"
)

const (
	inheritance = "or_d(multi(2,A,B,C),and_v(v:pkh(L),older(52560)))"
	decaying    = "thresh(3,pk(A),s:pk(B),s:pk(C),s:pk(D),s:pk(E),sln:older(52560))"
)

func mustParse(t *testing.T, expr string, ctx Context) *Node {
	t.Helper()
	n, err := Parse(expr, ctx, letterParser(letterKeys(t)))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return n
}

func TestParseErrors(t *testing.T) {
	for _, c := range []struct {
		expr string
		ctx  Context
		want string
	}{
		{"pk(A", P2WSH, "unterminated"},
		{"pk(A)x", P2WSH, "unexpected"},
		{"multi(0,A)", P2WSH, "threshold 0"},
		{"multi(2,A)", P2WSH, "threshold 2"},
		{"multi(1,A)", Tapscript, "multi_a"},
		{"multi_a(1,A)", P2WSH, "only available in tapscript"},
		{"older(0)", P2WSH, "1..2^31-1"},
		{"after(2147483648)", P2WSH, "1..2^31-1"},
		{"older(01)", P2WSH, "bad number"},
		{"older(+1)", P2WSH, "bad number"},
		{"thresh(0,pk(A))", P2WSH, "need 1 <= k <= n"},
		{"thresh(2,pk(A))", P2WSH, "need 1 <= k <= n"},
		{"sha256(abcd)", P2WSH, "32-byte hex digest"},
		{"ripemd160(926a54995ca48600920a19bf7bc502ca5f2f7d07e6f804c4f00ebf0325084dbc)", P2WSH, "20-byte"},
		{"x:pk(A)", P2WSH, "unknown wrapper"},
		{"pk_q(A)", P2WSH, "unknown fragment"},
		{"and_v(pk(A),pk(B))", P2WSH, "does not type-check"},
		{"v:pk(A)", P2WSH, "top level must be of type B"},
		{"pk(Q9)", P2WSH, "unknown key"},
		{"pk()", P2WSH, "empty key"},
		{"", P2WSH, "expected an expression"},
		{":pk(A)", P2WSH, "empty wrapper"},
	} {
		_, err := Parse(c.expr, c.ctx, letterParser(letterKeys(t)))
		if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Parse(%q, %s) = %v, want ErrInvalid mentioning %q", c.expr, c.ctx, err, c.want)
		}
	}
	// A P2WSH script over 3600 bytes is not valid miniscript.
	big := "thresh(1,pk(A)" + strings.Repeat(",s:pk(B)", 100) + ")"
	if _, err := Parse(big, P2WSH, letterParser(letterKeys(t))); err == nil || !strings.Contains(err.Error(), "over the p2wsh limit") {
		t.Errorf("oversized script: %v", err)
	}
	// Literal hex keys: invalid points and uncompressed keys are refused.
	if _, err := Parse("pk(020000000000000000000000000000000000000000000000000000000000000007)", P2WSH, nil); err == nil {
		t.Error("a point off the curve parsed")
	}
	if _, err := Parse("pk(0479be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8)", P2WSH, nil); err == nil {
		t.Error("an uncompressed key parsed in p2wsh")
	}
	if _, err := Parse("pk(79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798)", Tapscript, nil); err != nil {
		t.Errorf("x-only key in tapscript: %v", err)
	}
}

func TestStringSugar(t *testing.T) {
	for in, want := range map[string]string{
		"c:pk_k(A)":                            "pk(A)",
		"c:pk_h(A)":                            "pkh(A)",
		"andor(pk(A),pk(B),0)":                 "and_n(pk(A),pk(B))",
		"and_v(v:pk(A),1)":                     "tv:pk(A)",
		"or_i(0,pk(A))":                        "l:pk(A)",
		"or_i(pk(A),0)":                        "u:pk(A)",
		"d:v:older(1)":                         "dv:older(1)",
		"and_b(pk(A),a:c:pk_k(B))":             "and_b(pk(A),a:pk(B))",
		"thresh(2,pk(A),s:pk(B),sln:older(5))": "thresh(2,pk(A),s:pk(B),sln:older(5))",
		inheritance:                            inheritance,
		decaying:                               decaying,
	} {
		n := mustParse(t, "and_v(v:pk(Z),"+in+")", P2WSH)
		if got := n.String(); got != "and_v(v:pk(Z),"+want+")" {
			t.Errorf("%s printed as %s, want %s", in, got, want)
		}
	}
}

func TestIsSaneReasons(t *testing.T) {
	for _, c := range []struct {
		expr string
		want error
	}{
		{inheritance, nil},
		{decaying, nil},
		{"or_d(pk(A),sha256(926a54995ca48600920a19bf7bc502ca5f2f7d07e6f804c4f00ebf0325084dbc))", ErrNoSignature},
		{"and_v(v:pk(A),pk(A))", ErrDuplicateKey},
		{"and_b(and_v(v:pk(A),older(10)),a:and_v(v:pk(B),older(4194305)))", ErrTimelockMix},
		{"and_v(v:after(500000001),or_d(j:multi(2,A,B,C),multi(2,D,E,F)))", ErrMalleable},
		// 40 pkh checks: about 1100 bytes but 280 opcodes.
		{"thresh(1,pkh(A)" + strings.Repeat(",a:pkh(B)", 39) + ")", ErrResourceLimit},
	} {
		err := mustParse(t, c.expr, P2WSH).IsSane()
		if c.want == nil {
			if err != nil {
				t.Errorf("%s: %v", c.expr, err)
			}
			continue
		}
		if !errors.Is(err, ErrNotSane) || !errors.Is(err, c.want) {
			t.Errorf("%s: IsSane = %v, want %v", c.expr, err, c.want)
		}
	}
}

func TestLockState(t *testing.T) {
	for _, c := range []struct {
		l     LockState
		older uint32
		after uint32
		oOK   bool
		aOK   bool
	}{
		{LockState{Sequence: 52560, LockTime: 800000}, 52560, 800000, true, true},
		{LockState{Sequence: 52559, LockTime: 799999}, 52560, 800000, false, false},
		// Height and time locks never satisfy each other.
		{LockState{Sequence: 4194304 | 100, LockTime: 500000001}, 100, 800000, false, false},
		{LockState{Sequence: 4194304 | 100, LockTime: 500000001}, 4194304 | 100, 500000001, true, true},
		// The BIP-68 disable flag turns relative locks off; a final
		// input turns CLTV off.
		{LockState{Sequence: 1<<31 | 100, LockTime: 10}, 100, 10, false, true},
		{LockState{Sequence: 0xffffffff, LockTime: 10}, 100, 10, false, false},
		// Bits outside the type flag and the 16-bit mask are ignored.
		{LockState{Sequence: 1<<20 | 100, LockTime: 10}, 100, 10, true, true},
	} {
		if got := c.l.OlderOK(c.older); got != c.oOK {
			t.Errorf("%+v OlderOK(%d) = %v", c.l, c.older, got)
		}
		if got := c.l.AfterOK(c.after); got != c.aOK {
			t.Errorf("%+v AfterOK(%d) = %v", c.l, c.after, got)
		}
	}
}

func keySet(names ...string) func(Key, []byte) bool {
	return func(k Key, _ []byte) bool {
		for _, n := range names {
			if k.String() == n {
				return true
			}
		}
		return false
	}
}

func keyNames(ks []Key) string {
	var s []string
	for _, k := range ks {
		s = append(s, k.String())
	}
	sort.Strings(s)
	return strings.Join(s, ",")
}

// TestPlanRecoveryTemplates plans spends of the two wallet templates of
// the recovery issue before and after their time locks.
func TestPlanRecoveryTemplates(t *testing.T) {
	keys := letterKeys(t)
	kb := letterBytes(keys)
	young := LockState{Sequence: 1000, LockTime: 0}
	old := LockState{Sequence: 60000, LockTime: 0}
	for _, c := range []struct {
		expr      string
		signers   []string
		locks     LockState
		wantKeys  string // "" = no path
		wantSeq   uint32
		available int
	}{
		{inheritance, []string{"A", "B"}, young, "A,B", 0, 1},
		{inheritance, []string{"A", "L"}, young, "", 0, 0},
		{inheritance, []string{"A", "L"}, old, "L", 52560, 1},
		{inheritance, []string{"A", "B", "C", "L"}, old, "L", 52560, 4}, // the heir's path is the cheapest
		{decaying, []string{"A", "B", "C"}, young, "A,B,C", 0, 1},
		{decaying, []string{"A", "B"}, young, "", 0, 0},
		{decaying, []string{"A", "B"}, old, "A,B", 52560, 1},
		{decaying, []string{"C", "E"}, old, "C,E", 52560, 1},
	} {
		n := mustParse(t, c.expr, P2WSH)
		plan, err := n.Plan(kb, PlanAssets{CanSign: keySet(c.signers...), Locks: c.locks})
		avail := 0
		if plan != nil {
			for _, p := range plan.Paths {
				if p.Available {
					avail++
				}
			}
		}
		if avail != c.available {
			t.Errorf("%s with %v: %d paths available, want %d", c.expr, c.signers, avail, c.available)
		}
		if c.wantKeys == "" {
			if !errors.Is(err, ErrCannotSatisfy) {
				t.Errorf("%s with %v: %v, want ErrCannotSatisfy", c.expr, c.signers, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s with %v: %v", c.expr, c.signers, err)
			continue
		}
		if got := keyNames(plan.Best.Keys); got != c.wantKeys {
			t.Errorf("%s with %v: best path keys %s, want %s", c.expr, c.signers, got, c.wantKeys)
		}
		if plan.Best.NeedsSequence != (c.wantSeq != 0) || plan.Best.Sequence != c.wantSeq {
			t.Errorf("%s with %v: best path sequence %v/%d, want %d", c.expr, c.signers, plan.Best.NeedsSequence, plan.Best.Sequence, c.wantSeq)
		}
	}
	// The inheritance template has four spending paths, all of them
	// non-malleable; the largest is a 2-of-3 (dummy + two signatures).
	paths, err := mustParse(t, inheritance, P2WSH).Paths(kb, 0)
	if err != nil || len(paths) != 4 {
		t.Fatalf("paths: %v %d", err, len(paths))
	}
	for _, p := range paths {
		if !p.NonMalleable {
			t.Errorf("path %s is malleable", keyNames(p.Keys))
		}
	}
	if max, _ := mustParse(t, inheritance, P2WSH).MaxWitnessSize(); max != 1+73+73 || paths[3].WitnessSize != max {
		t.Errorf("max witness %d, largest path %d", max, paths[3].WitnessSize)
	}
	if paths[0].WitnessSize != 73+34+3 { // sig, key, multi's dummy and two empty signatures
		t.Errorf("heir path witness %d", paths[0].WitnessSize)
	}
}

// TestSatisfyExplainsMissing checks the error says what is missing.
func TestSatisfyExplainsMissing(t *testing.T) {
	keys := letterKeys(t)
	n := mustParse(t, inheritance, P2WSH)
	s := &Satisfier{Keys: letterBytes(keys), Signatures: map[string][]byte{
		hex.EncodeToString(keys["A"]): fakeSig(P2WSH, "A"),
		hex.EncodeToString(keys["L"]): fakeSig(P2WSH, "L"),
	}, Locks: LockState{Sequence: 100}}
	_, err := n.Satisfy(s)
	if !errors.Is(err, ErrCannotSatisfy) {
		t.Fatalf("Satisfy: %v", err)
	}
	for _, want := range []string{"nSequence meeting older(52560) = 52560 blocks", "signature from B", "signature from C"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	// With the lock met, the heir alone spends.
	s.Locks.Sequence = 52560
	w, err := n.Satisfy(s)
	if err != nil {
		t.Fatal(err)
	}
	if len(w) != 5 {
		t.Errorf("heir witness has %d elements, want sig, key, and three zeros", len(w))
	}
}

func TestDecodeErrors(t *testing.T) {
	keys := letterKeys(t)
	kb := letterBytes(keys)
	n := mustParse(t, "and_v(v:pkh(A),older(5))", P2WSH)
	script, _ := n.Script(kb)
	if _, err := Decode(script, P2WSH, DecodeOptions{}); err == nil || !strings.Contains(err.Error(), "no key lookup") {
		t.Errorf("pk_h without lookup: %v", err)
	}
	if _, err := Decode(script, P2WSH, letterDecode(P2WSH, keys)); err != nil {
		t.Errorf("with lookup: %v", err)
	}
	pk := keys["A"]
	for name, s := range map[string][]byte{
		"empty":            {},
		"truncated push":   {0x21, 0x02},
		"non-minimal lock": append(append([]byte{0x21}, pk...), txscript.OP_CHECKSIGVERIFY, 0x01, 0x05, txscript.OP_CHECKSEQUENCEVERIFY),
		"unfolded verify":  append(append([]byte{0x21}, pk...), txscript.OP_CHECKSIG, txscript.OP_VERIFY, txscript.OP_5, txscript.OP_CHECKSEQUENCEVERIFY),
		"stray opcode":     {txscript.OP_NOP, txscript.OP_1},
		"extra leading":    append([]byte{txscript.OP_1}, append(append([]byte{0x21}, pk...), txscript.OP_CHECKSIG)...),
		"multi in tap":     {txscript.OP_1, txscript.OP_1, txscript.OP_CHECKMULTISIG},
		"unbalanced endif": {txscript.OP_1, txscript.OP_ENDIF},
	} {
		ctx := P2WSH
		if name == "multi in tap" {
			ctx = Tapscript
		}
		if d, err := Decode(s, ctx, letterDecode(ctx, keys)); err == nil {
			t.Errorf("%s: decoded to %s", name, d)
		} else if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: error %v is not ErrInvalid", name, err)
		}
	}
}

// TestTapscriptSizeLimit: Core's limit is 329482 bytes; multi_a with 999
// keys is 33970 bytes, within it, and the P2WSH limit rejects multi-key
// scripts over 3600 bytes.
func TestTapscriptSizeLimit(t *testing.T) {
	if MaxTapscriptScriptSize != 329482 {
		t.Errorf("MaxTapscriptScriptSize = %d", MaxTapscriptScriptSize)
	}
	expr := "multi_a(1" + strings.Repeat(",A", 999) + ")"
	n := mustParse(t, expr, Tapscript)
	if n.ScriptSize() != 999*34+2 {
		t.Errorf("multi_a(1, 999 keys) is %d bytes", n.ScriptSize())
	}
	if _, err := Parse("multi_a(1"+strings.Repeat(",A", 1000)+")", Tapscript, letterParser(letterKeys(t))); err == nil {
		t.Error("multi_a with 1000 keys parsed")
	}
}
