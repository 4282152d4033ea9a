// Package bip329 reads and writes BIP-329 wallet label exports: JSON Lines,
// one record a line, each an object with "type" and "ref" and optionally
// "label", "origin" and "spendable" (bitcoin/bips bip-0329.mediawiki at
// commit 0297db50eff50b6e582f0060a6a96c06e80c12f1, "Specification").
//
// A record's other keys (the BIP's "Additional Fields": height, time, fee,
// value, rate, keypath, fmv, heights; or anything newer) are kept as they
// came, byte for byte, so that reading a file and writing it back gives the
// same records. The package checks the format, not what a reference means:
// which types a wallet stores and how it matches them is its caller's.
package bip329

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"unicode/utf8"
)

// The record types BIP-329 defines. Importers ignore other types (the
// BIP's "Backwards Compatibility"); Parse keeps them for the caller to
// decide.
const (
	TypeTx     = "tx"
	TypeAddr   = "addr"
	TypePubkey = "pubkey"
	TypeInput  = "input"
	TypeOutput = "output"
	TypeXpub   = "xpub"
)

// MaxLineBytes is the longest line Parse reads: a record is a label of a
// few hundred characters at most, and a line without an end must not make
// a reader buffer a whole file.
const MaxLineBytes = 64 << 10

// ErrFormat is wrapped by every error about the input's format.
var ErrFormat = errors.New("not a BIP-329 label export")

// Record is one line of an export. Label, Origin and Spendable are nil when
// the line has none (BIP-329: an importer then leaves the stored value
// alone).
type Record struct {
	Type      string
	Ref       string
	Label     *string
	Origin    *string
	Spendable *bool
	// Extra are the record's other keys with their JSON values as written.
	Extra map[string]json.RawMessage
}

// Parse reads an export. Blank lines are skipped; a line that is not one
// JSON object with string "type" and "ref" (and a string "label" and
// "origin", a boolean "spendable" where present) fails with the line's
// number.
func Parse(r io.Reader) ([]Record, error) {
	var out []Record
	br := bufio.NewReaderSize(r, 4096)
	for n := 1; ; n++ {
		line, err := readLine(br)
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		if len(bytes.TrimSpace(line)) > 0 {
			rec, perr := parseLine(line)
			if perr != nil {
				return nil, fmt.Errorf("line %d: %w", n, perr)
			}
			out = append(out, rec)
		}
		if errors.Is(err, io.EOF) {
			return out, nil
		}
	}
}

// readLine reads one line without its "\n" (and a "\r" before it), up to
// MaxLineBytes; io.EOF comes with the last line.
func readLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > MaxLineBytes+2 {
			return nil, fmt.Errorf("%w: longer than %d bytes", ErrFormat, MaxLineBytes)
		}
		switch {
		case err == nil:
			return bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r")), nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			return line, io.EOF
		default:
			return nil, err
		}
	}
}

func parseLine(line []byte) (Record, error) {
	var rec Record
	if !utf8.Valid(line) {
		return rec, fmt.Errorf("%w: not UTF-8", ErrFormat)
	}
	var obj map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(line))
	if err := dec.Decode(&obj); err != nil || obj == nil {
		return rec, fmt.Errorf("%w: not a JSON object", ErrFormat)
	}
	if dec.More() {
		return rec, fmt.Errorf("%w: more than one JSON value on the line", ErrFormat)
	}
	str := func(key string, required bool) (*string, error) {
		raw, ok := obj[key]
		delete(obj, key)
		if !ok {
			if required {
				return nil, fmt.Errorf("%w: no %q", ErrFormat, key)
			}
			return nil, nil
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("%w: %q is not a string", ErrFormat, key)
		}
		return &s, nil
	}
	t, err := str("type", true)
	if err != nil {
		return rec, err
	}
	ref, err := str("ref", true)
	if err != nil {
		return rec, err
	}
	if *t == "" || *ref == "" {
		return rec, fmt.Errorf("%w: empty \"type\" or \"ref\"", ErrFormat)
	}
	rec.Type, rec.Ref = *t, *ref
	if rec.Label, err = str("label", false); err != nil {
		return rec, err
	}
	if rec.Origin, err = str("origin", false); err != nil {
		return rec, err
	}
	if raw, ok := obj["spendable"]; ok {
		delete(obj, "spendable")
		var b bool
		if err := json.Unmarshal(raw, &b); err != nil {
			// The BIP warns of "false" written with quotes: a string, not
			// a boolean.
			return rec, fmt.Errorf("%w: \"spendable\" is not true or false", ErrFormat)
		}
		rec.Spendable = &b
	}
	if len(obj) > 0 {
		rec.Extra = make(map[string]json.RawMessage, len(obj))
		for k, v := range obj {
			var compact bytes.Buffer
			if err := json.Compact(&compact, v); err != nil {
				return rec, fmt.Errorf("%w: %q: %v", ErrFormat, k, err)
			}
			rec.Extra[k] = compact.Bytes()
		}
	}
	return rec, nil
}

// MarshalJSON writes the record as one line's object: type, ref, label,
// origin, spendable (those present), then the other keys in key order.
func (r Record) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	first := true
	put := func(key string, v any) error {
		val, ok := v.(json.RawMessage)
		if !ok {
			var err error
			if val, err = marshalNoEscape(v); err != nil {
				return err
			}
		}
		k, _ := marshalNoEscape(key)
		if !first {
			b.WriteByte(',')
		}
		first = false
		b.Write(k)
		b.WriteByte(':')
		b.Write(val)
		return nil
	}
	if err := put("type", r.Type); err != nil {
		return nil, err
	}
	if err := put("ref", r.Ref); err != nil {
		return nil, err
	}
	if r.Label != nil {
		if err := put("label", *r.Label); err != nil {
			return nil, err
		}
	}
	if r.Origin != nil {
		if err := put("origin", *r.Origin); err != nil {
			return nil, err
		}
	}
	if r.Spendable != nil {
		if err := put("spendable", *r.Spendable); err != nil {
			return nil, err
		}
	}
	keys := make([]string, 0, len(r.Extra))
	for k := range r.Extra {
		switch k {
		case "type", "ref", "label", "origin", "spendable":
			return nil, fmt.Errorf("%w: extra key %q is a standard key", ErrFormat, k)
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !json.Valid(r.Extra[k]) {
			return nil, fmt.Errorf("%w: extra key %q holds no JSON value", ErrFormat, k)
		}
		var compact bytes.Buffer
		_ = json.Compact(&compact, r.Extra[k])
		if err := put(k, json.RawMessage(compact.Bytes())); err != nil {
			return nil, err
		}
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// marshalNoEscape is json.Marshal without HTML escaping: a label "<b>&"
// is written as typed.
func marshalNoEscape(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// Write writes records as an export: one object a line, each ending in
// "\n".
func Write(w io.Writer, rs []Record) error {
	bw := bufio.NewWriter(w)
	for i, r := range rs {
		line, err := r.MarshalJSON()
		if err != nil {
			return fmt.Errorf("record %d: %w", i+1, err)
		}
		bw.Write(line)
		bw.WriteByte('\n')
	}
	return bw.Flush()
}
