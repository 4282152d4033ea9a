package descriptor

import (
	"fmt"
	"strings"
)

// String returns the short name used in flags and JSON: "sh", "sh-wsh" or
// "wsh".
func (t ScriptType) String() string {
	switch t {
	case ScriptSh:
		return "sh"
	case ScriptShWsh:
		return "sh-wsh"
	case ScriptWsh:
		return "wsh"
	case ScriptTr:
		return "tr"
	}
	return fmt.Sprintf("ScriptType(%d)", int(t))
}

// ParseScriptType accepts sh, sh-wsh and wsh, and the address-type spellings
// p2sh, p2sh-p2wsh and p2wsh, in any letter case.
func ParseScriptType(s string) (ScriptType, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "sh", "p2sh":
		return ScriptSh, nil
	case "sh-wsh", "p2sh-p2wsh":
		return ScriptShWsh, nil
	case "wsh", "p2wsh":
		return ScriptWsh, nil
	case "tr", "p2tr", "taproot":
		return ScriptTr, nil
	}
	return 0, invalid(fmt.Errorf("unknown script type %q: use wsh (native segwit), sh-wsh (nested segwit), sh (legacy) or tr (taproot)", s))
}

// maxKeys is the number of keys the script type allows: 15 under legacy P2SH
// (OP_CHECKMULTISIG signature operations counted against the P2SH limit) and
// 20 under segwit (the OP_CHECKMULTISIG maximum).
func (t ScriptType) maxKeys() int {
	if t == ScriptSh {
		return 15
	}
	return 20
}

// segwit reports whether the multisig script is a witness script, where
// only compressed keys are standard.
func (t ScriptType) segwit() bool {
	return t == ScriptShWsh || t == ScriptWsh || t == ScriptTr
}

// wrap returns the descriptor text around the multisig expression.
func (t ScriptType) wrap(inner string) string {
	switch t {
	case ScriptSh:
		return "sh(" + inner + ")"
	case ScriptShWsh:
		return "sh(wsh(" + inner + "))"
	case ScriptWsh:
		return "wsh(" + inner + ")"
	}
	return inner
}
