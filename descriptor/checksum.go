package descriptor

import (
	"errors"
	"fmt"
	"strings"
)

// BIP-380 checksum constants. The order of inputCharset matters: it is three
// groups of 32 so that case errors and substitutions within the common
// "unprotected" group cost a single symbol error.
const (
	inputCharset    = "0123456789()[],'/*abcdefgh@:$%{}IJKLMNOPQRSTUVWXYZ&+-.;<=>?!^_|~ijklmnopqrstuvwxyzABCDEFGH`#\"\\ "
	checksumCharset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
	checksumLen     = 8
)

// polymod feeds one symbol into the BIP-380 BCH checksum state.
func polymod(c uint64, val uint64) uint64 {
	generator := [5]uint64{0xf5dee51989, 0xa9fdca3312, 0x1bab10e32d, 0x3706b1677a, 0x644d626ffd}
	top := c >> 35
	c = (c&0x7ffffffff)<<5 ^ val
	for i, g := range generator {
		if (top>>i)&1 != 0 {
			c ^= g
		}
	}
	return c
}

// Checksum returns the BIP-380 checksum of desc, a descriptor without the
// '#' and checksum. It fails, wrapping ErrInvalid, when desc holds a character
// outside the descriptor character set.
func Checksum(desc string) (string, error) {
	sum, err := checksum(desc)
	if err != nil {
		return "", invalid(err)
	}
	return sum, nil
}

func checksum(desc string) (string, error) {
	c := uint64(1)
	cls, clsCount := uint64(0), 0
	for i := 0; i < len(desc); i++ {
		p := strings.IndexByte(inputCharset, desc[i])
		if p < 0 {
			return "", badCharError(desc, i)
		}
		pos := uint64(p)
		// Each character contributes its position within its group, and
		// every three characters their group numbers are folded into one
		// extra symbol, exactly as descsum_expand in BIP-380.
		c = polymod(c, pos&31)
		cls = cls*3 + pos>>5
		clsCount++
		if clsCount == 3 {
			c = polymod(c, cls)
			cls, clsCount = 0, 0
		}
	}
	if clsCount > 0 {
		c = polymod(c, cls)
	}
	for range checksumLen {
		c = polymod(c, 0)
	}
	c ^= 1
	var out [checksumLen]byte
	for j := range checksumLen {
		out[j] = checksumCharset[(c>>(5*(7-j)))&31]
	}
	return string(out[:]), nil
}

// badCharError names the first character that no descriptor may contain.
// It reports the rune, not the byte, so a UTF-8 character reads naturally.
func badCharError(desc string, byteIndex int) error {
	r := []rune(desc[byteIndex:])[0]
	return fmt.Errorf("character %q at position %d is not allowed in a descriptor (BIP-380 character set); retype it or copy the descriptor again",
		r, len([]rune(desc[:byteIndex]))+1)
}

// splitChecksum separates "SCRIPT#CHECKSUM" and verifies the checksum when
// one is present. It returns the script part.
func splitChecksum(s string) (string, error) {
	body, sum, found := strings.Cut(s, "#")
	want, err := checksum(body)
	if err != nil {
		return "", err
	}
	if !found {
		return body, nil
	}
	switch {
	case strings.Contains(sum, "#"):
		return "", errors.New("more than one '#': a descriptor ends with a single '#' and its 8-character checksum")
	case sum == "":
		return "", fmt.Errorf("missing checksum after '#': remove the '#' or add the checksum %q", want)
	case len(sum) != checksumLen:
		return "", fmt.Errorf("checksum %q has %d characters but a BIP-380 checksum has %d; expected %q",
			sum, len(sum), checksumLen, want)
	case sum != want:
		return "", fmt.Errorf("checksum mismatch: got %q, expected %q; the descriptor was changed or mistyped, so check it against its source before using the expected checksum",
			sum, want)
	}
	return body, nil
}
