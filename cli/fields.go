package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// selectFields keeps only the named top-level fields of a command's JSON
// output (of each element, when the output is an array), so scripts can
// ask for exactly what they read: --json --fields name,policy.
func selectFields(out []byte, fields []string) ([]byte, error) {
	var v any
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.UseNumber() // keep satoshi amounts exact
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("--fields: the output is not JSON: %v", err)
	}
	// The fields were checked against the command's list before it ran;
	// one that this output leaves out (an empty optional field) is null.
	pick := func(o map[string]any) (map[string]any, error) {
		kept := make(map[string]any, len(fields))
		for _, f := range fields {
			kept[f] = o[f]
		}
		return kept, nil
	}
	switch t := v.(type) {
	case map[string]any:
		kept, err := pick(t)
		if err != nil {
			return nil, err
		}
		v = kept
	case []any:
		for i, e := range t {
			o, ok := e.(map[string]any)
			if !ok {
				return nil, usagef("--fields: this command's output is not a list of objects")
			}
			kept, err := pick(o)
			if err != nil {
				return nil, err
			}
			t[i] = kept
		}
	default:
		return nil, usagef("--fields: this command's output has no fields")
	}
	var buf bytes.Buffer
	if err := writeJSON(&buf, v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// parseFields splits --fields a,b,c.
func parseFields(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// flushSelected writes the buffered JSON output with only the selected fields.
func flushSelected(w io.Writer, buf *bytes.Buffer, fields []string) error {
	if buf.Len() == 0 {
		return nil
	}
	out, err := selectFields(buf.Bytes(), fields)
	if err != nil {
		return err
	}
	_, err = w.Write(out)
	return err
}
