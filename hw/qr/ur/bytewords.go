package ur

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"strings"
)

// Bytewords (BCR-2020-012, Blockchain Commons Research commit e4a4fbb):
// each byte is one of 256 four-letter words; the first and last letters
// alone identify a word, which is the "minimal" style URs use. A CRC-32 of
// the body, big-endian, is appended as four more words.

// wordList is the BCR-2020-012 word list, byte 0x00 first.
const wordList = "" +
	"able acid also apex aqua arch atom aunt " + // 0x00
	"away axis back bald barn belt beta bias " + // 0x08
	"blue body brag brew bulb buzz calm cash " + // 0x10
	"cats chef city claw code cola cook cost " + // 0x18
	"crux curl cusp cyan dark data days deli " + // 0x20
	"dice diet door down draw drop drum dull " + // 0x28
	"duty each easy echo edge epic even exam " + // 0x30
	"exit eyes fact fair fern figs film fish " + // 0x38
	"fizz flap flew flux foxy free frog fuel " + // 0x40
	"fund gala game gear gems gift girl glow " + // 0x48
	"good gray grim guru gush gyro half hang " + // 0x50
	"hard hawk heat help high hill holy hope " + // 0x58
	"horn huts iced idea idle inch inky into " + // 0x60
	"iris iron item jade jazz join jolt jowl " + // 0x68
	"judo jugs jump junk jury keep keno kept " + // 0x70
	"keys kick kiln king kite kiwi knob lamb " + // 0x78
	"lava lazy leaf legs liar limp lion list " + // 0x80
	"logo loud love luau luck lung main many " + // 0x88
	"math maze memo menu meow mild mint miss " + // 0x90
	"monk nail navy need news next noon note " + // 0x98
	"numb obey oboe omit onyx open oval owls " + // 0xa0
	"paid part peck play plus poem pool pose " + // 0xa8
	"puff puma purr quad quiz race ramp real " + // 0xb0
	"redo rich road rock roof ruby ruin runs " + // 0xb8
	"rust safe saga scar sets silk skew slot " + // 0xc0
	"soap solo song stub surf swan taco task " + // 0xc8
	"taxi tent tied time tiny toil tomb toys " + // 0xd0
	"trip tuna twin ugly undo unit urge user " + // 0xd8
	"vast very veto vial vibe view visa void " + // 0xe0
	"vows wall wand warm wasp wave waxy webs " + // 0xe8
	"what when whiz wolf work yank yawn yell " + // 0xf0
	"yoga yurt zaps zero zest zinc zone zoom " + // 0xf8
	""

// Style selects how words are written.
type Style int

const (
	Standard Style = iota // "able acid also"
	URI                   // "able-acid-also"
	Minimal               // "aeadao": first and last letter of each word
)

// word returns the four-letter word for b.
func word(b byte) string {
	i := int(b) * 5
	return wordList[i : i+4]
}

// minimalIndex maps (first letter, last letter) to byte value + 1 (0 = no
// word). It is computed from the word list on each call of decode; a
// package-level table would be mutable state.
func minimalIndex() (t [26 * 26]uint16) {
	for b := 0; b < 256; b++ {
		w := word(byte(b))
		t[int(w[0]-'a')*26+int(w[3]-'a')] = uint16(b) + 1
	}
	return t
}

// EncodeBytewords appends the CRC-32 checksum to data and writes it in the
// given style.
func EncodeBytewords(style Style, data []byte) string {
	buf := binary.BigEndian.AppendUint32(append([]byte{}, data...), crc32.ChecksumIEEE(data))
	var b strings.Builder
	for i, c := range buf {
		w := word(c)
		switch style {
		case Minimal:
			b.WriteByte(w[0])
			b.WriteByte(w[3])
		case URI:
			if i > 0 {
				b.WriteByte('-')
			}
			b.WriteString(w)
		default:
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(w)
		}
	}
	return b.String()
}

// DecodeBytewords decodes text in the given style (case-insensitive),
// checks and strips the checksum, and returns the body.
func DecodeBytewords(style Style, s string) ([]byte, error) {
	s = strings.ToLower(s)
	var words []string
	switch style {
	case Minimal:
		if len(s)%2 != 0 {
			return nil, fmt.Errorf("%w: minimal bytewords of odd length %d", ErrInvalid, len(s))
		}
		for i := 0; i < len(s); i += 2 {
			words = append(words, s[i:i+2])
		}
	case URI:
		words = strings.Split(s, "-")
	default:
		words = strings.Split(s, " ")
	}
	idx := minimalIndex()
	out := make([]byte, 0, len(words))
	for n, w := range words {
		if (style == Minimal && len(w) != 2) || (style != Minimal && len(w) != 4) {
			return nil, fmt.Errorf("%w: byteword %d %q has the wrong length", ErrInvalid, n+1, w)
		}
		first, last := w[0], w[len(w)-1]
		if first < 'a' || first > 'z' || last < 'a' || last > 'z' {
			return nil, fmt.Errorf("%w: byteword %d %q is not letters", ErrInvalid, n+1, w)
		}
		v := idx[int(first-'a')*26+int(last-'a')]
		if v == 0 || (len(w) == 4 && word(byte(v-1)) != w) {
			return nil, fmt.Errorf("%w: %q is not a byteword", ErrInvalid, w)
		}
		out = append(out, byte(v-1))
	}
	if len(out) < 5 {
		return nil, fmt.Errorf("%w: bytewords too short (%d bytes with checksum)", ErrInvalid, len(out))
	}
	body, sum := out[:len(out)-4], binary.BigEndian.Uint32(out[len(out)-4:])
	if crc32.ChecksumIEEE(body) != sum {
		return nil, fmt.Errorf("%w: bytewords checksum mismatch", ErrInvalid)
	}
	return body, nil
}
