package formats

import (
	"encoding/json"
	"strings"
)

// detect names the format of a file from its content, or returns "" and
// what the content looked like. It only recognises; the format's reader then
// checks everything, so a recognised but broken file gets that format's
// precise error rather than "unknown format".
func detect(text string) (Format, string) {
	t := strings.TrimSpace(text)
	if t == "" {
		return "", "the content is empty"
	}
	if f := detectQR(t); f != "" {
		return f, ""
	}
	switch t[0] {
	case '{', '[':
		return detectJSON(t)
	}
	body := strings.TrimSpace(stripCommentLines(t))
	switch {
	case strings.HasPrefix(t, "BSMS "), looksLikeEncryptedBSMS(t):
		return FormatBSMS, ""
	case strings.HasPrefix(body, "importdescriptors"):
		return FormatCore, ""
	case looksLikeDescriptor(body):
		return FormatDescriptor, ""
	case looksLikeColdcard(t):
		return FormatColdcard, ""
	}
	return "", "the text is not a descriptor, a BSMS record (plain or encrypted), a Coldcard setup file (no Policy, Format, Derivation or \"XFP: xpub\" line) or QR parts (ur:... or B$... lines)"
}

// detectJSON tells the JSON formats apart by their distinctive fields.
func detectJSON(t string) (Format, string) {
	var v any
	if err := json.Unmarshal([]byte(t), &v); err != nil {
		return "", "the content starts like JSON but is not valid JSON (" + err.Error() + ")"
	}
	switch v := v.(type) {
	case []any:
		// importdescriptors takes an array of {"desc": ...} requests.
		if len(v) > 0 {
			if o, ok := v[0].(map[string]any); ok && has(o, "desc") {
				return FormatCore, ""
			}
		}
		return "", "the JSON array is not a Bitcoin Core importdescriptors request (objects with a \"desc\" field)"
	case map[string]any:
		switch {
		case has(v, "extendedPublicKeys") || has(v, "quorum"):
			return FormatCaravan, ""
		case has(v, "descriptor") || has(v, "recv_descriptor"):
			return FormatSpecter, ""
		case has(v, "descriptors") || has(v, "desc"):
			return FormatCore, ""
		}
		return "", "the JSON object has none of the fields that identify a wallet file (extendedPublicKeys, descriptor, descriptors, desc)"
	}
	return "", "the JSON value is not an object or array"
}

func has(o map[string]any, key string) bool {
	_, ok := o[key]
	return ok
}

// stripCommentLines drops whole-line '#' comments, which descriptor files
// written by Sparrow and Coldcard put above the descriptor.
func stripCommentLines(t string) string {
	var b strings.Builder
	for _, ln := range strings.Split(t, "\n") {
		if strings.HasPrefix(strings.TrimSpace(ln), "#") {
			continue
		}
		b.WriteString(ln)
		b.WriteByte('\n')
	}
	return b.String()
}

// looksLikeDescriptor reports whether text starts with a script expression
// such as "wsh(" or "sh(": lower-case letters, digits or '_' then '('.
func looksLikeDescriptor(text string) bool {
	i := strings.IndexByte(text, '(')
	if i <= 0 {
		return false
	}
	for _, c := range text[:i] {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// looksLikeColdcard reports whether any line carries one of the labels that
// only a Coldcard multisig setup file has.
func looksLikeColdcard(t string) bool {
	for _, ln := range strings.Split(t, "\n") {
		label, value, ok := strings.Cut(strings.TrimSpace(ln), ":")
		if !ok {
			continue
		}
		switch strings.ToLower(strings.TrimSpace(label)) {
		case "policy", "format", "derivation":
			return true
		}
		if _, err := parseFingerprint(strings.TrimSpace(label)); err == nil && strings.Contains(value, "pub") {
			return true
		}
	}
	return false
}
