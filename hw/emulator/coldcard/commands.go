package coldcard

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
)

// approval is the pending user interaction (the firmware's
// UserAuthorizedAction.active_request).
type approval struct {
	kind    string // "enroll" or "sign"
	done    bool   // finished: result ready, or (enroll) saved
	refused bool   // the user pressed X
	failed  string // the request failed; the text goes to the host
	result  []byte // signed PSBT, for "sign"
	sha     [32]byte
}

// pending reports whether the user is still looking at the request. The
// caller holds the emulator's lock.
func (a *approval) pending() bool { return !a.done && !a.refused && a.failed == "" }

// pendingKind is the kind of the request the user is still looking at, ""
// when none.
func (s *session) pendingKind() string {
	s.e.mu.Lock()
	defer s.e.mu.Unlock()
	if s.active != nil && s.active.pending() {
		return s.active.kind
	}
	return ""
}

// usbError is an AssertionError/ValueError in the firmware: it becomes an
// "err_" reply with the message.
type usbError string

func (e usbError) Error() string { return string(e) }

func check(ok bool, msg string) error {
	if ok {
		return nil
	}
	return usbError(msg)
}

func le32(b []byte, v uint32) []byte { return binary.LittleEndian.AppendUint32(b, v) }

// handle dispatches one decrypted request and returns the reply. Like the
// firmware, it answers a bug with "err_Confused" rather than dying.
func (s *session) handle(cmd string, args []byte) (out []byte) {
	defer func() {
		if r := recover(); r != nil {
			out = []byte(fmt.Sprintf("err_Confused %v", r))
		}
	}()
	resp, err := s.dispatch(cmd, args)
	switch e := err.(type) {
	case nil:
		if resp == nil {
			return []byte("okay")
		}
		return resp
	case usbError:
		msg := string(e)
		if len(msg) > 80 {
			msg = msg[:80]
		}
		return append([]byte("err_"), msg...)
	case busyError:
		return []byte("busy")
	case framingError:
		return append([]byte("fram"), e...)
	default:
		return []byte("err_Confused " + err.Error())
	}
}

type busyError struct{}

func (busyError) Error() string { return "busy" }

type framingError string

func (e framingError) Error() string { return string(e) }

func (s *session) dispatch(cmd string, args []byte) ([]byte, error) {
	switch cmd {
	case "ping":
		return append([]byte("biny"), args...), nil
	case "vers":
		return []byte("asci" + strings.Join([]string{"2025-01-01", s.e.cfg.Firmware, "3.1.0", "250101000000", s.e.cfg.Label}, "\n")), nil
	case "blkc":
		return []byte("asci" + s.e.chain), nil
	case "ncry":
		if len(args) < 4 {
			return nil, usbError("badlen")
		}
		version := binary.LittleEndian.Uint32(args)
		if version != 1 && version != 2 {
			return nil, framingError("bad ncry version")
		}
		if len(args) != 68 {
			return nil, usbError("badlen")
		}
		if s.bound {
			return nil, framingError("crypto already set up")
		}
		resp, err := s.startSession(version, args[4:])
		if err != nil {
			return nil, usbError(err.Error())
		}
		return []byte(resp), nil
	case "mitm":
		if !s.encReq {
			return nil, usbError("must encrypt")
		}
		priv, err := s.e.master.ECPrivKey()
		if err != nil {
			return nil, err
		}
		// 65 bytes: recovery header, r, s; the digest is the session key.
		return append([]byte("biny"), ecdsa.SignCompact(priv, s.key[:], false)...), nil
	case "xpub":
		if !s.encReq {
			return nil, usbError("must encrypt")
		}
		return s.xpub(args)
	case "upld":
		resp, err := s.upload(args)
		if err != nil {
			s.resetUpload()
		}
		return resp, err
	case "sha2":
		return append([]byte("biny"), s.checksum.Sum(nil)...), nil
	case "dwld":
		return s.download(args)
	case "enrl":
		if !s.e.fw.legacyMultisig() {
			return s.enrollMiniscript(args, 32*200)
		}
		return s.enroll(args)
	case "mins":
		if s.e.fw.usbMiniscript() {
			return s.enrollMiniscript(args, 100*200)
		}
	case "msls", "msas", "msdl", "msgt":
		if s.e.fw.miniscriptCmds() {
			return s.miniscriptCmd(cmd, args)
		}
	case "msck":
		if !s.e.fw.legacyMultisig() {
			break
		}
		if len(args) != 12 {
			return nil, usbError("badlen")
		}
		m := binary.LittleEndian.Uint32(args)
		n := binary.LittleEndian.Uint32(args[4:])
		xor := binary.LittleEndian.Uint32(args[8:])
		v := uint32(0)
		if s.e.quickCheck(int(m), int(n), xor) {
			v = 1
		}
		return le32([]byte("int1"), v), nil
	case "p2sh":
		if s.e.fw.legacyMultisig() {
			return s.showP2SH(args)
		}
	case "stxn":
		return s.signTxn(args)
	case "stok":
		return s.signedTxn()
	}
	return nil, usbError("Unknown cmd")
}

// xpub serialises the key at a text path.
func (s *session) xpub(args []byte) ([]byte, error) {
	path, err := parsePath(string(args))
	if err != nil {
		return nil, err
	}
	k := s.e.master
	for _, i := range path {
		if k, err = k.Derive(i); err != nil {
			return nil, usbError(err.Error())
		}
	}
	pub, err := k.Neuter()
	if err != nil {
		return nil, err
	}
	return []byte("asci" + pub.String()), nil
}

// parsePath reads a path the way the firmware's cleanup_deriv_path does:
// optional "m/", hardened marked by h, ' or p, at most 12 levels.
func parsePath(s string) ([]uint32, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	s = strings.NewReplacer("p", "h", "'", "h").Replace(s)
	if s == "" || s == "m" {
		return nil, nil
	}
	parts := strings.Split(s, "/")
	if parts[0] == "m" {
		parts = parts[1:]
	}
	if len(parts) > 12 {
		return nil, usbError("too deep")
	}
	var out []uint32
	for _, p := range parts {
		hard := strings.HasSuffix(p, "h")
		p = strings.TrimSuffix(p, "h")
		if p == "" {
			return nil, usbError("empty path component")
		}
		var v uint32
		for _, c := range p {
			if c < '0' || c > '9' || v >= hdkeychain.HardenedKeyStart/10 {
				return nil, usbError("invalid characters in path")
			}
			v = v*10 + uint32(c-'0')
		}
		if v >= hdkeychain.HardenedKeyStart {
			return nil, usbError("bad component")
		}
		if hard {
			v += hdkeychain.HardenedKeyStart
		}
		out = append(out, v)
	}
	return out, nil
}

// upload stages one block ("upld").
func (s *session) upload(args []byte) ([]byte, error) {
	if len(args) < 8 {
		return nil, usbError("badlen")
	}
	// The staging area is read-only while the user looks at an enrolment.
	if s.pendingKind() == "enroll" {
		return nil, busyError{}
	}
	offset := binary.LittleEndian.Uint32(args)
	total := binary.LittleEndian.Uint32(args[4:])
	data := args[8:]
	if err := check(offset%256 == 0, "alignment"); err != nil {
		return nil, err
	}
	if err := check(total >= 1 && total <= maxUploadLen && uint64(offset)+uint64(len(data)) <= uint64(total), "long"); err != nil {
		return nil, err
	}
	if offset == 0 {
		s.resetUpload()
		s.psram = make([]byte, total)
	}
	if err := check(int(offset) == s.next, "offset"); err != nil {
		return nil, err
	}
	if err := check(int(total) == len(s.psram), "long"); err != nil {
		return nil, err
	}
	s.lease = nil // any accepted block repurposes the staging area
	copy(s.psram[offset:], data)
	s.checksum.Write(data)
	s.total = int(total)
	s.next = int(offset) + len(data)
	return le32([]byte("int1"), offset), nil
}

// download serves part of the leased result file ("dwld").
func (s *session) download(args []byte) ([]byte, error) {
	if len(args) != 12 {
		return nil, usbError("badlen")
	}
	offset := int(binary.LittleEndian.Uint32(args))
	length := min(int(binary.LittleEndian.Uint32(args[4:])), maxBlockLen)
	file := int(binary.LittleEndian.Uint32(args[8:]))
	for _, c := range []struct {
		ok  bool
		msg string
	}{
		{file >= 0 && file < 2, "bad fnum"},
		{offset >= 0 && offset < maxTxnLen && offset+length <= maxTxnLen, "bad offset"},
		{length >= 1, "len"},
		{s.encReq, "must encrypt"},
		{s.lease != nil, "not allowed"},
	} {
		if err := check(c.ok, c.msg); err != nil {
			return nil, err
		}
	}
	if err := check(s.lease.file == file, "not allowed: file no"); err != nil {
		return nil, err
	}
	if err := check(offset+length <= len(s.lease.data), "not allowed: out of bounds"); err != nil {
		return nil, err
	}
	return append([]byte("biny"), s.lease.data[offset:offset+length]...), nil
}

// enroll starts the approval of an uploaded multisig setup file ("enrl").
func (s *session) enroll(args []byte) ([]byte, error) {
	if len(args) != 36 {
		return nil, usbError("badlen")
	}
	size := int(binary.LittleEndian.Uint32(args))
	if !bytes.Equal(args[4:36], s.checksum.Sum(nil)) {
		return nil, usbError("Checksum")
	}
	if err := check(size > 100 && size <= 20*200 && size <= len(s.psram), "badlen"); err != nil {
		return nil, err
	}
	w, err := s.e.parseSetupFile(string(s.psram[:size]))
	if err != nil {
		return nil, err
	}
	s.e.mu.Lock()
	defer s.e.mu.Unlock()
	dup := false
	for _, have := range s.e.wallets {
		if have.sameAs(w) {
			dup = true
		} else if have.name == w.name {
			return nil, usbError("duplicate wallet name")
		}
	}
	a := &approval{kind: "enroll"}
	s.active = a
	s.jobs.Add(1)
	go func() {
		defer s.jobs.Done()
		// A duplicate only offers X on the device.
		ok := !dup && s.approve(Request{Kind: "enroll", Text: w.screen(dup)})
		s.e.mu.Lock()
		defer s.e.mu.Unlock()
		if !ok {
			a.refused = true
			return
		}
		s.e.wallets = append(s.e.wallets, w)
		a.done = true
		if s.active == a {
			s.active = nil // nothing to collect: the firmware cleans up
		}
	}()
	return nil, nil
}

func (s *session) approve(r Request) bool {
	if s.e.cfg.Approve == nil {
		return true
	}
	return s.e.cfg.Approve(s.ctx, r)
}

// showP2SH checks a multisig script against an enrolled wallet and returns
// its address ("p2sh").
func (s *session) showP2SH(args []byte) ([]byte, error) {
	if s.pendingKind() != "" {
		return nil, busyError{}
	}
	if len(args) < 8 {
		return nil, usbError("badlen")
	}
	addrFmt := binary.LittleEndian.Uint32(args)
	m, n := int(args[4]), int(args[5])
	scriptLen := int(binary.LittleEndian.Uint16(args[6:]))
	for _, c := range []struct {
		ok  bool
		msg string
	}{
		{addrFmt&afcScript != 0, "Unknown/unsupported addr format"},
		{1 <= m && m <= n && n <= 20, "M/N range"},
		{30 <= scriptLen && scriptLen <= 520, "script len"},
		{8+scriptLen <= len(args), "badlen"},
	} {
		if err := check(c.ok, c.msg); err != nil {
			return nil, err
		}
	}
	script := args[8 : 8+scriptLen]
	off := 8 + scriptLen
	var xfpPaths [][]uint32
	for range n {
		if err := check(off < len(args), "badlen"); err != nil {
			return nil, err
		}
		ln := int(args[off])
		if err := check(ln >= 1 && ln <= 16 && off+1+4*ln <= len(args), "badlen"); err != nil {
			return nil, err
		}
		p := make([]uint32, ln)
		for i := range p {
			p[i] = binary.LittleEndian.Uint32(args[off+1+4*i:])
		}
		xfpPaths = append(xfpPaths, p)
		off += 1 + 4*ln
	}
	if err := check(off == len(args), "badlen"); err != nil {
		return nil, err
	}
	if err := check(addrFmt == afP2SH || addrFmt == afP2WSH || addrFmt == afP2WSHP2SH, "Unknown/unsupported addr format"); err != nil {
		return nil, err
	}
	sorted := append([][]uint32(nil), xfpPaths...)
	sort.Slice(sorted, func(i, j int) bool { return lessPath(sorted[i], sorted[j]) })
	w := s.e.findMatch(m, n, sorted, 0)
	if w == nil {
		return nil, usbError("Multisig wallet with those fingerprints not found")
	}
	if err := w.validateScript(script, nil, xfpPaths); err != nil {
		return nil, err
	}
	addr, err := scriptAddress(addrFmt, script, s.e.net)
	if err != nil {
		return nil, usbError(err.Error())
	}
	return []byte("asci" + addr), nil
}

func lessPath(a, b []uint32) bool {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return len(a) < len(b)
}

// signTxn starts the review of the uploaded PSBT ("stxn").
func (s *session) signTxn(args []byte) ([]byte, error) {
	var named *msWallet
	if len(args) > 40 && s.e.fw.namedSign() {
		// 6.4.0X+: an optional wallet name (length byte, name).
		n := int(args[40])
		if n < 1 || n > 32 || len(args) != 41+n {
			return nil, usbError("name len")
		}
		s.e.mu.Lock()
		named = s.e.findMiniscript(string(args[41:]))
		s.e.mu.Unlock()
		if named == nil {
			return nil, usbError(fmt.Sprintf("Miniscript wallet with name '%s' not found", printableName(args[41:])))
		}
		args = args[:40]
	}
	if len(args) != 40 {
		return nil, usbError("badlen")
	}
	size := int(binary.LittleEndian.Uint32(args))
	sha := args[8:40]
	if !bytes.Equal(sha, s.checksum.Sum(nil)) {
		return nil, usbError("Checksum")
	}
	if err := check(size > 50 && size <= maxTxnLen, "badlen"); err != nil {
		return nil, err
	}
	staged := sha256.Sum256(s.psram[:min(size, len(s.psram))])
	if size != s.total || !bytes.Equal(staged[:], sha) {
		return nil, usbError("Checksum")
	}
	s.e.mu.Lock()
	if s.active != nil && s.active.kind == "enroll" && s.active.pending() {
		s.e.mu.Unlock()
		return nil, busyError{}
	}
	a := &approval{kind: "sign"}
	s.active = a
	s.e.mu.Unlock()
	// The job works on its own copy: a later upload cannot change what
	// the user approves.
	raw := append([]byte(nil), s.psram[:size]...)
	s.lease = nil
	s.jobs.Add(1)
	go func() {
		defer s.jobs.Done()
		s.e.runSign(s, a, raw, named)
	}()
	return nil, nil
}

// signedTxn reports the outcome of the pending request ("stok").
func (s *session) signedTxn() ([]byte, error) {
	s.e.mu.Lock()
	defer s.e.mu.Unlock()
	a := s.active
	switch {
	case a == nil:
		return nil, usbError("No active request")
	case a.refused:
		s.active = nil
		return []byte("refu"), nil
	case a.failed != "":
		s.active = nil
		return nil, usbError(a.failed)
	case !a.done:
		return nil, nil
	}
	s.active = nil
	s.lease = &lease{file: 1, data: a.result}
	out := le32([]byte("strx"), uint32(len(a.result)))
	return append(out, a.sha[:]...), nil
}

// runSign is the device's review-and-sign flow for one PSBT.
func (e *Emulator) runSign(s *session, a *approval, raw []byte, named *msWallet) {
	defer func() {
		if r := recover(); r != nil {
			e.mu.Lock()
			a.failed = fmt.Sprintf("Invalid PSBT\n\n%v", r)
			e.mu.Unlock()
		}
	}()
	start := time.Now()
	plan, err := e.reviewPSBT(raw, named)
	e.addBusy(time.Since(start))
	finish := func(f func()) {
		e.mu.Lock()
		f()
		e.mu.Unlock()
	}
	if err != nil {
		finish(func() { a.failed = err.Error() })
		return
	}
	if !s.approve(Request{Kind: "sign", Text: plan.screen}) {
		finish(func() { a.refused = true })
		return
	}
	start = time.Now()
	out, err := e.signPSBT(plan)
	e.addBusy(time.Since(start))
	if err != nil {
		finish(func() { a.failed = err.Error() })
		return
	}
	finish(func() {
		a.result, a.sha, a.done = out, sha256.Sum256(out), true
	})
}

// Address formats (ckcc/constants.py).
const (
	afcScript   = 0x08
	afP2SH      = 0x08
	afP2WSH     = 0x0e
	afP2WSHP2SH = 0x1a
)

func fmtName(af uint32) string {
	switch af {
	case afP2WSH:
		return "P2WSH"
	case afP2WSHP2SH:
		return "P2SH-P2WSH"
	}
	return "P2SH"
}
