package coldcard

import (
	"fmt"
	"regexp"
	"strconv"
)

// Firmware lines and the releases that brought what a miniscript or
// taproot wallet needs, from the firmware's releases/History-Edge.md
// (github.com/Coldcard/firmware, branch new_edge, commit 8919b84a):
//
//	6.0.0X  taproot key path and tapscript sortedmulti_a (depth 0), file import
//	6.1.0X  miniscript and minitapscript, file import only
//	6.2.1X  miniscript enrolment over USB ("mins")
//	6.2.2X  msls/msgt/msdl/msas; named imports ({"name":..., "desc":...})
//	6.3.5X  "Static internal keys disallowed - all keys need to be ranged
//	        extended keys"
//	6.4.0X  stxn takes a wallet name; the legacy multisig text format, "p2sh"
//	        and "msck" are gone (multisig wallets are miniscript wallets)
//	6.5.0X  MuSig2
//
// The mainline releases (5.x Mk4, 1.x Q, e.g. "5.4.1", "1.3.1Q") have none
// of it: no "mins" command, no tapscript multisig.
type firmware struct {
	major, minor, patch int
	edge                bool // an "X" suffix: the EDGE line
}

var versionRE = regexp.MustCompile(`^(\d+)\.(\d+)\.(\d+)(Q?)(X?)$`)

// parseFirmware reads a version as "vers" reports it: "6.3.5X",
// "6.3.5QX", "5.4.1", "1.3.1Q".
func parseFirmware(s string) (firmware, error) {
	m := versionRE.FindStringSubmatch(s)
	if m == nil {
		return firmware{}, fmt.Errorf("firmware version %q is not of the form 6.3.5X, 6.3.5QX, 5.4.1 or 1.3.1Q", s)
	}
	var f firmware
	f.major, _ = strconv.Atoi(m[1])
	f.minor, _ = strconv.Atoi(m[2])
	f.patch, _ = strconv.Atoi(m[3])
	f.edge = m[5] == "X"
	return f, nil
}

// atLeast reports an EDGE release at or after major.minor.patch.
func (f firmware) atLeast(major, minor, patch int) bool {
	if !f.edge {
		return false
	}
	a := [3]int{f.major, f.minor, f.patch}
	b := [3]int{major, minor, patch}
	for i := range a {
		if a[i] != b[i] {
			return a[i] > b[i]
		}
	}
	return true
}

// The capabilities the emulator models.
func (f firmware) usbMiniscript() bool  { return f.atLeast(6, 2, 1) } // "mins"
func (f firmware) miniscriptCmds() bool { return f.atLeast(6, 2, 2) } // msls, msgt, msdl, msas
func (f firmware) staticKeys() bool     { return !f.atLeast(6, 3, 5) }
func (f firmware) legacyMultisig() bool { return !f.atLeast(6, 4, 0) } // text setup file, p2sh, msck
func (f firmware) namedSign() bool      { return f.atLeast(6, 4, 0) }  // stxn + wallet name
func (f firmware) musig() bool          { return f.atLeast(6, 5, 0) }  // musig() internal key
