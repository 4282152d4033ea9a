package bitbox02

import (
	"encoding/binary"
	"testing"
)

// FuzzAssembler feeds arbitrary bytes, cut into reports, to the host's
// reassembler: a message or an error, never a panic, never more bytes
// than announced.
func FuzzAssembler(f *testing.F) {
	frames, _ := encodeFrames(0x01020304, cmdHWW, make([]byte, 130))
	var all []byte
	for _, fr := range frames {
		all = append(all, fr...)
	}
	f.Add(all)
	f.Add(frames[1])
	f.Add(append([]byte{1, 2, 3, 4, cmdError, 0, 1, 6}, make([]byte, 56)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < 4 {
			return
		}
		a := assembler{cid: binary.BigEndian.Uint32(b)}
		for len(b) > 0 {
			n := min(len(b), reportSize)
			done, err := a.add(b[:n])
			if err != nil {
				return
			}
			if done {
				if len(a.message()) != a.want || a.want > maxMessage {
					t.Fatalf("message of %d bytes, announced %d", len(a.message()), a.want)
				}
				return
			}
			b = b[n:]
		}
	})
}

// FuzzParseStatus: the 'i' reply parser.
func FuzzParseStatus(f *testing.F) {
	f.Add(append([]byte{7}, append([]byte("v9.21.0"), 0, 0, 1, 1)...))
	f.Add([]byte{0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := parseStatus(b)
		if err == nil && len(st.Version) > len(b) {
			t.Fatal("version longer than the reply")
		}
		_ = st.Model()
	})
}

// FuzzParseVersion feeds arbitrary version strings (the device's info
// reply) to the version parser: a version or not, never a panic.
func FuzzParseVersion(f *testing.F) {
	for _, s := range []string{"v9.21.0", "v9.15.0", "v9.14.1", "9.15.0", "v9.15", "v-1.2.3", "v99999999999999999999.0.0", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, ok := parseVersion(s)
		if ok && (v[0] < 0 || v[1] < 0 || v[2] < 0) {
			t.Fatalf("%q: %v", s, v)
		}
	})
}
