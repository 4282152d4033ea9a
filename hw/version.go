package hw

import (
	"fmt"
	"strconv"
	"strings"
)

// Version is a device firmware's or app's major.minor.patch, compared to
// the release that added what a wallet needs.
type Version [3]int

// ParseVersion reads "major.minor.patch"; a suffix after - or + ("-rc1")
// is ignored.
func ParseVersion(s string) (Version, error) {
	core, _, _ := strings.Cut(s, "-")
	core, _, _ = strings.Cut(core, "+")
	parts := strings.Split(core, ".")
	if len(parts) != 3 {
		return Version{}, fmt.Errorf("version %q is not major.minor.patch", s)
	}
	var v Version
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return Version{}, fmt.Errorf("version %q is not major.minor.patch", s)
		}
		v[i] = n
	}
	return v, nil
}

// Less reports whether v is an earlier release than w.
func (v Version) Less(w Version) bool {
	for i := range v {
		if v[i] != w[i] {
			return v[i] < w[i]
		}
	}
	return false
}

// String writes the version as major.minor.patch.
func (v Version) String() string { return fmt.Sprintf("%d.%d.%d", v[0], v[1], v[2]) }
