package miniscript

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// The BIP-379 test vectors (testdata/bip379, see testdata/README.md).

func vecCtx(name string) Context {
	if strings.Contains(name, "_tap") {
		return Tapscript
	}
	return P2WSH
}

// failures collects mismatches and reports the first few.
type failures struct {
	t     *testing.T
	n     int
	total int
}

func (f *failures) add(format string, args ...any) {
	f.n++
	if f.n <= 15 {
		f.t.Errorf(format, args...)
	}
}

func (f *failures) done(name string) {
	f.t.Logf("%s: %d vectors, %d failures", name, f.total, f.n)
	if f.n > 15 {
		f.t.Errorf("%s: %d failures in all", name, f.n)
	}
}

func TestBIP379Props(t *testing.T) {
	keys := letterKeys(t)
	for _, name := range []string{"props_from_rust.tsv.gz", "props_from_rust_tap.tsv.gz"} {
		t.Run(name, func(t *testing.T) {
			ctx := vecCtx(name)
			f := &failures{t: t}
			threshSkipped, hashBounded := 0, 0
			defer func() {
				t.Logf("sat_size not compared on %d thresh rows; %d values checked as bounds on hash rows", threshSkipped, hashBounded)
			}()
			for i, line := range readVectorLines(t, "bip379/"+name) {
				if i == 0 {
					continue // header
				}
				f.total++
				fields := strings.Split(line, "\t")
				expr := fields[0]
				n, err := Parse(expr, ctx, letterParser(keys))
				if len(fields) == 2 && fields[1] == "PARSE_ERR" {
					if err == nil {
						f.add("%s: parses, want PARSE_ERR", expr)
					}
					continue
				}
				if err != nil {
					f.add("%s: %v", expr, err)
					continue
				}
				want := func(i int) int { v, _ := strconv.Atoi(fields[i]); return v }
				got := []string{}
				check := func(name string, g int, ok bool, w string) {
					if w == "-1" {
						if ok {
							got = append(got, fmt.Sprintf("%s=%d want unsatisfiable", name, g))
						}
						return
					}
					wv, _ := strconv.Atoi(w)
					if !ok || g != wv {
						got = append(got, fmt.Sprintf("%s=%d(%v) want %d", name, g, ok, wv))
					}
				}
				check("script_size", n.ScriptSize(), true, fields[1])
				// rust-miniscript also counts the (malleable)
				// dissatisfaction of hash fragments; Core, and we,
				// bound non-malleable witnesses only, which never
				// use it. There its numbers are upper bounds.
				hasHash := strings.Contains(expr, "sha256(") || strings.Contains(expr, "hash256(") ||
					strings.Contains(expr, "ripemd160(") || strings.Contains(expr, "hash160(")
				bounded := func(name string, g int, ok bool, w string) {
					// Where every satisfaction needs a hash
					// dissatisfaction, none is non-malleable and
					// we report none.
					if wv, err := strconv.Atoi(w); err == nil && hasHash && (!ok || g <= wv) {
						hashBounded++
						return
					}
					check(name, g, ok, w)
				}
				if ctx == P2WSH {
					ops, ok := n.MaxOps()
					bounded("op_count", ops, ok, fields[2])
				}
				el, ok := n.MaxWitnessElements()
				bounded("sat_witness_elements", el+1, ok, fields[3])
				// exec_stack (column 4) is rust-miniscript's own
				// measure and is not compared: it differs from
				// Core's execution stack size, which
				// TestCoreFixedVectors checks.
				sz, ok := n.MaxWitnessSize()
				if strings.Contains(expr, "thresh(") {
					// rust-miniscript sizes thresh as if every X_i
					// were satisfied (sum of the satisfactions),
					// not as the largest canonical witness with
					// exactly k satisfied, which we compute as
					// Core does (TestCoreFixedVectors checks it).
					threshSkipped++
				} else {
					bounded("sat_size", sz, ok, fields[8])
				}
				_ = want
				if mixed := fields[5] == "true"; mixed == n.Type().Has(PropK) {
					got = append(got, fmt.Sprintf("mixed_timelocks want %v, type %s", mixed, n.Type()))
				}
				if nm := fields[6] == "true"; nm != n.Type().Has(PropM) {
					got = append(got, fmt.Sprintf("non_malleable want %v, type %s", nm, n.Type()))
				}
				if rs := fields[7] == "true"; rs != n.Type().Has(PropS) {
					got = append(got, fmt.Sprintf("requires_sig want %v, type %s", rs, n.Type()))
				}
				if len(got) > 0 {
					f.add("%s: %s", expr, strings.Join(got, "; "))
				}
			}
			f.done(name)
		})
	}
}

func TestBIP379ScriptsTap(t *testing.T) {
	keys := letterKeys(t)
	f := &failures{t: t}
	for _, line := range readVectorLines(t, "bip379/scripts_from_rust_tap.tsv.gz") {
		f.total++
		expr, want, _ := strings.Cut(line, "\t")
		n, err := Parse(expr, Tapscript, letterParser(keys))
		if want == "ERR" {
			if err == nil {
				f.add("%s: parses, want ERR", expr)
			}
			continue
		}
		if err != nil {
			f.add("%s: %v", expr, err)
			continue
		}
		script, err := n.Script(letterBytes(keys))
		if err != nil {
			f.add("%s: %v", expr, err)
			continue
		}
		if hex.EncodeToString(script) != want {
			f.add("%s: script %x, want %s", expr, script, want)
			continue
		}
		if len(script) != n.ScriptSize() {
			f.add("%s: ScriptSize %d, script has %d bytes", expr, n.ScriptSize(), len(script))
		}
	}
	f.done("scripts_from_rust_tap")
}

// TestBIP379Corpora runs the corpora of expressions with expected types:
// valid ones must parse with exactly that type, malleable ones must lack m,
// conflicting ones must lack k, invalid ones must not parse.
func TestBIP379Corpora(t *testing.T) {
	keys := letterKeys(t)
	cases := []struct {
		file string
		kind string
	}{
		{"valid_from_alloy.txt.gz", "valid"},
		{"malleable_from_alloy.txt.gz", "malleable"},
		{"conflict_from_alloy.txt.gz", "conflict"},
		{"opcodes.txt.gz", "opcodes"},
		{"edge_cases.txt.gz", "edge"},
		{"invalid.txt.gz", "invalid"},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			f := &failures{t: t}
			unmixed := 0
			if c.kind == "conflict" {
				defer func() {
					if unmixed != 187 {
						t.Errorf("%d conflict vectors found unmixed, want the 187 that props_from_rust.tsv also calls unmixed", unmixed)
					}
				}()
			}
			for _, line := range readVectorLines(t, "bip379/"+c.file) {
				f.total++
				fields := strings.Fields(line)
				n, err := Parse(fields[0], P2WSH, letterParser(keys))
				if c.kind == "invalid" {
					if err == nil {
						f.add("%s: parses as %s, want invalid", fields[0], n.Type())
					}
					continue
				}
				if err != nil {
					f.add("%s: %v", fields[0], err)
					continue
				}
				if len(fields) > 1 && corrLetters(n.Type().String()) != corrLetters(fields[1]) {
					f.add("%s: type %s, want %s", fields[0], corrLetters(n.Type().String()), corrLetters(fields[1]))
				}
				switch c.kind {
				case "malleable":
					if n.Type().Has(PropM) {
						f.add("%s: non-malleable, want malleable", fields[0])
					}
				case "conflict":
					// This corpus comes from an older rust-miniscript
					// that also flagged andor(X,Y,Z) when Y and Z
					// (alternatives) mix lock kinds; the newer
					// props_from_rust tables and Core's rule do not,
					// and neither do we. Pin the count.
					if n.Type().Has(PropK) {
						unmixed++
					}
				case "opcodes":
					want, _ := strconv.Atoi(fields[2])
					ops, ok := n.MaxOps()
					if strings.Contains(fields[0], "sha256(") && (!ok || ops <= want) {
						// Bound only: see TestBIP379Props on hash
						// dissatisfactions.
						break
					}
					if !ok || ops != want {
						f.add("%s: ops %d (%v), want %d", fields[0], ops, ok, want)
					}
				}
			}
			f.done(c.file)
		})
	}
}
