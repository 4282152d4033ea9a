package qrsigner

import (
	"strings"
	"testing"
)

// FuzzCollector feeds newline-separated scanned text to a collector: no
// panic, progress stays within bounds, and a complete answer decodes or
// errors cleanly. Seeds: testdata/fuzz/FuzzCollector.
func FuzzCollector(f *testing.F) {
	f.Add("B$HP0100AB\nur:crypto-psbt/hdcxlkahssqzwfvslofzoxwkrewngotktbmwjkwdcmnefsaaehrlolkskncnktlbaypkrphsmyid")
	f.Fuzz(func(t *testing.T, in string) {
		c := &collector{Own: map[string]bool{"B$HP0100AB": true}}
		for _, l := range strings.Split(in, "\n") {
			c.Add(l)
		}
		have, total := c.Progress()
		if have > total || have < 0 {
			t.Fatalf("have %d of %d", have, total)
		}
		if c.Complete() {
			c.PSBT()
		}
	})
}
