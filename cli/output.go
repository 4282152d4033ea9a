package cli

import (
	"encoding/json"
	"io"
)

// writeJSON prints v as indented JSON followed by a newline. Field names are
// part of the contract documented in docs/json.md.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
