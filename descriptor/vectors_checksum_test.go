package descriptor

import (
	"errors"
	"strings"
	"testing"

	"github.com/countersign/countersign/internal/vectors"
)

// TestBIP380Checksums runs every BIP-380 checksum vector through the
// checksum layer, and through Parse to show that bad checksums are refused
// for their own reason before the (unsupported) raw() script is looked at.
func TestBIP380Checksums(t *testing.T) {
	var v checksumVectors
	vectors.Load(t, "descriptor_checksum.json", &v)
	if len(v.Checksums) == 0 {
		t.Fatal("no checksum vectors")
	}
	for _, c := range v.Checksums {
		t.Run(c.Description, func(t *testing.T) {
			body, err := splitChecksum(c.Descriptor)
			valid := c.Valid == nil || *c.Valid // "No checksum" is listed without a verdict: the checksum is optional
			if valid {
				if err != nil {
					t.Fatalf("splitChecksum(%q): %v", c.Descriptor, err)
				}
				if i := strings.IndexByte(c.Descriptor, '#'); i >= 0 {
					sum, err := Checksum(body)
					if err != nil || sum != c.Descriptor[i+1:] {
						t.Fatalf("Checksum(%q) = %q, %v; want %q", body, sum, err, c.Descriptor[i+1:])
					}
				}
				t.Logf("checksum layer accepts it; Parse is not run: raw() is not a multisig descriptor")
				return
			}
			if err == nil {
				t.Fatalf("splitChecksum(%q) accepted an invalid checksum", c.Descriptor)
			}
			_, perr := Parse(c.Descriptor)
			if !errors.Is(perr, ErrInvalid) {
				t.Fatalf("Parse(%q) = %v, want ErrInvalid", c.Descriptor, perr)
			}
			if msg := perr.Error(); !strings.Contains(msg, "checksum") && !strings.Contains(msg, "character") {
				t.Fatalf("Parse(%q) failed for another reason: %v", c.Descriptor, perr)
			}
		})
	}
}

// TestBIP380KeyExpressions parses every valid key expression and refuses
// every invalid one. Canonical printing is checked to be stable.
func TestBIP380KeyExpressions(t *testing.T) {
	var v checksumVectors
	vectors.Load(t, "descriptor_checksum.json", &v)
	if len(v.KeyExpressions.Valid) == 0 || len(v.KeyExpressions.Invalid) == 0 {
		t.Fatal("no key expression vectors")
	}
	for _, c := range v.KeyExpressions.Valid {
		t.Run("valid/"+c.Description, func(t *testing.T) {
			k, err := ParseKey(c.KeyExpression)
			if err != nil {
				t.Fatalf("ParseKey(%q): %v", c.KeyExpression, err)
			}
			s := k.String()
			if strings.Contains(s, "'") {
				t.Fatalf("String() = %q: hardened steps must print as h", s)
			}
			wantPrivate := strings.Contains(c.Description, "private key")
			if k.Private != wantPrivate {
				t.Fatalf("Private = %v, want %v", k.Private, wantPrivate)
			}
			if body := keyBody(c.KeyExpression); wantPrivate && strings.Contains(s, body) {
				t.Fatalf("String() = %q shows the private key", s)
			}
			again, err := ParseKey(s)
			if err != nil || again.String() != s {
				t.Fatalf("ParseKey(String()) = %q, %v; want %q", again.String(), err, s)
			}
		})
	}
	for _, c := range v.KeyExpressions.Invalid {
		t.Run("invalid/"+c.Description, func(t *testing.T) {
			_, err := ParseKey(c.KeyExpression)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("ParseKey(%q) = %v, want an error wrapping ErrInvalid", c.KeyExpression, err)
			}
			t.Log(err)
		})
	}
}

// TestColdcardExportWithChecksum parses a real Coldcard descriptor export;
// it is already canonical, so String must reproduce it byte for byte.
func TestColdcardExportWithChecksum(t *testing.T) {
	var v checksumVectors
	vectors.Load(t, "descriptor_checksum.json", &v)
	if len(v.Coldcard) == 0 {
		t.Fatal("no Coldcard vectors")
	}
	for _, c := range v.Coldcard {
		d, err := Parse(c.Descriptor)
		if err != nil {
			t.Fatalf("Parse: %v", err)
		}
		if got := d.String(); got != c.Descriptor {
			t.Fatalf("String() =\n%s\nwant\n%s", got, c.Descriptor)
		}
		if d.IsMainnet() || d.Policy() != "2 of 4" || !d.Sorted || d.Script != ScriptWsh {
			t.Fatalf("parsed %s %s sorted=%v mainnet=%v", d.Script, d.Policy(), d.Sorted, d.IsMainnet())
		}
	}
}

// keyBody is the key of an expression without origin and path.
func keyBody(expr string) string {
	if i := strings.IndexByte(expr, ']'); i >= 0 {
		expr = expr[i+1:]
	}
	body, _, _ := strings.Cut(expr, "/")
	return body
}
