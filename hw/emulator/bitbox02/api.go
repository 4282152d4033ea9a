package bitbox02

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
)

// apiError is an API Error response (api/error.rs make_error).
type apiError struct {
	code int32
	msg  string
}

func (e *apiError) Error() string { return fmt.Sprintf("error %d: %s", e.code, e.msg) }

var (
	errInvalidInput = &apiError{101, "invalid input"}
	errGeneric      = &apiError{103, "generic error"}
	errUserAbort    = &apiError{104, "aborted by the user"}
	errInvalidState = &apiError{105, "can't call this endpoint: wrong state"}
	errDisabled     = &apiError{106, "function disabled"}
	errDuplicate    = &apiError{107, "duplicate entry"}
)

func apiErr(e *apiError) error { return e }

// toAPIError maps any failure to the firmware's error responses.
func toAPIError(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	if errors.Is(err, errDecode) {
		return errInvalidInput
	}
	if errors.Is(err, context.Canceled) {
		return errUserAbort
	}
	return errGeneric
}

// Response field numbers (hww.proto Response).
const (
	rspSuccess     = 1
	rspError       = 2
	rspDeviceInfo  = 4
	rspPub         = 5
	rspBTCSignNext = 6
	rspFingerprint = 12
	rspBTC         = 13
)

func errorResponse(err error) []byte {
	ae := toAPIError(err)
	body := pbuf(nil).varint(1, uint64(ae.code)).opt(2, []byte(ae.msg))
	return pbuf(nil).field(rspError, body)
}

// ValidateRequest decodes an API request the way the emulator does and
// reports whether it is a well-formed Request with one known member. It
// exists for the fuzz target; the emulator itself answers malformed
// requests with error 101.
func ValidateRequest(b []byte) error {
	m, err := decodeMsg(b)
	if err != nil {
		return err
	}
	switch m.oneof() {
	case 4, 24:
		return nil
	case 8:
		r, _, err := m.sub(8)
		if err != nil {
			return err
		}
		if _, err := r.u32s(2); err != nil {
			return err
		}
		if sc, ok, err := r.sub(4); err != nil {
			return err
		} else if ok {
			_, err := parseScriptConfig(sc)
			return err
		}
		return nil
	case 9:
		r, _, err := m.sub(9)
		if err != nil {
			return err
		}
		cfgs, err := r.subs(2)
		if err != nil {
			return err
		}
		for _, c := range cfgs {
			sc, ok, err := c.sub(2)
			if err != nil {
				return err
			}
			if !ok {
				return errDecode
			}
			if _, err := parseScriptConfig(sc); err != nil {
				return err
			}
		}
		return nil
	case 10:
		r, _, err := m.sub(10)
		if err != nil {
			return err
		}
		_, err = parseSignInput(r)
		return err
	case 11:
		r, _, err := m.sub(11)
		if err != nil {
			return err
		}
		_, err = parseSignOutput(r)
		return err
	case 25:
		r, _, err := m.sub(25)
		if err != nil {
			return err
		}
		if _, _, err := r.sub(r.oneof()); err != nil {
			return err
		}
		return nil
	}
	return errDecode
}

// api is hww/api.rs process: decode, check the state, dispatch.
func (e *Emulator) api(ctx context.Context, req []byte) []byte {
	m, err := decodeMsg(req)
	if err != nil || len(m) == 0 {
		return errorResponse(errInvalidInput)
	}
	e.mu.Lock()
	s := e.session
	unlocked := e.unlocked
	e.mu.Unlock()
	if s != nil {
		return e.sessionRequest(ctx, s, m)
	}
	which := m.oneof()
	if !unlocked {
		// can_call: nothing countersign uses works on a locked device.
		return errorResponse(errInvalidState)
	}
	var rsp []byte
	switch which {
	case 4:
		rsp = e.deviceInfo()
	case 24:
		rsp = pbuf(nil).field(rspFingerprint, pbuf(nil).field(1, e.fp[:]))
	case 8:
		r, _, err2 := m.sub(8)
		if err2 != nil {
			return errorResponse(err2)
		}
		rsp, err = e.btcPub(ctx, r)
	case 25:
		r, _, err2 := m.sub(25)
		if err2 != nil {
			return errorResponse(err2)
		}
		rsp, err = e.btcRequest(ctx, r)
	case 9:
		r, _, err2 := m.sub(9)
		if err2 != nil {
			return errorResponse(err2)
		}
		return e.startSession(ctx, r)
	case 10, 11:
		err = errInvalidState
	default:
		err = errInvalidInput
	}
	if err != nil {
		return errorResponse(err)
	}
	return rsp
}

func (e *Emulator) deviceInfo() []byte {
	body := pbuf(nil).opt(1, []byte(e.cfg.Name)).flag(2, true).opt(3, []byte(e.cfg.Version)).opt(6, []byte("ATECC608B"))
	return pbuf(nil).field(rspDeviceInfo, body)
}

// derivePrivate derives the seed's key at path.
func (e *Emulator) derivePrivate(path []uint32) (*hdkeychain.ExtendedKey, error) {
	if e.master == nil {
		return nil, errInvalidState
	}
	if len(path) > 20 {
		return nil, errInvalidInput
	}
	k := e.master
	for _, c := range path {
		var err error
		if k, err = k.Derive(c); err != nil {
			return nil, errInvalidInput
		}
	}
	return k, nil
}

// ourXpub is the seed's xpub at path, in parts.
func (e *Emulator) ourXpub(path []uint32) (*xpubParts, error) {
	k, err := e.derivePrivate(path)
	if err != nil {
		return nil, err
	}
	return partsOf(k)
}

// usualXpubPath is keypath.rs validate_xpub: account paths of the
// standard script types, and m/45'.
func usualXpubPath(p []uint32, coin uint32) bool {
	const h = hdkeychain.HardenedKeyStart
	account := func(q []uint32, purpose uint32) bool {
		return len(q) == 3 && q[0] == purpose && q[1] == coin && q[2] >= h && q[2] <= h+99
	}
	switch {
	case len(p) == 4 && account(p[:3], h+48) && (p[3] == h+2 || p[3] == h+1):
		return true
	case account(p, h+48), account(p, h+49), account(p, h+84), account(p, h+86):
		return true
	case len(p) == 1 && p[0] == h+45:
		return true
	}
	return false
}

// btcPub is bitcoin.rs process_pub.
func (e *Emulator) btcPub(ctx context.Context, r pmsg) ([]byte, error) {
	coin, err := r.uint(1)
	if err != nil {
		return nil, err
	}
	cp, err := paramsOf(coin)
	if err != nil {
		return nil, err
	}
	keypath, err := r.u32s(2)
	if err != nil {
		return nil, err
	}
	display, err := r.flag(5)
	if err != nil {
		return nil, err
	}
	if sc, ok, err := r.sub(4); err != nil {
		return nil, err
	} else if ok {
		cfg, err := parseScriptConfig(sc)
		if err != nil {
			return nil, err
		}
		addr, err := e.address(ctx, cfg, coin, cp, keypath, display)
		if err != nil {
			return nil, err
		}
		return pbuf(nil).field(rspPub, pbuf(nil).opt(1, []byte(addr))), nil
	}
	if !r.has(3) {
		return nil, errInvalidInput
	}
	typ, err := r.uint(3)
	if err != nil {
		return nil, err
	}
	var version []byte
	switch typ {
	case 0: // TPUB
		version = chaincfg.TestNet3Params.HDPublicKeyID[:]
	case 1: // XPUB
		version = chaincfg.MainNetParams.HDPublicKeyID[:]
	default:
		return nil, errInvalidInput
	}
	if !usualXpubPath(keypath, cp.bip44) {
		if !e.confirm(ctx, Screen{Kind: "xpub", Title: "Export xpub", Body: "Warning: unusual keypath " + fmtKeypath(keypath) + ". Proceed only if you know what you are doing."}) {
			return nil, errUserAbort
		}
	}
	x, err := e.ourXpub(keypath)
	if err != nil {
		return nil, err
	}
	s := hdkeychain.NewExtendedKey(version, x.pubKey, x.chainCode, x.parentFP[:], x.depth, x.childNum, false).String()
	if display && !e.confirm(ctx, Screen{Kind: "xpub", Title: cp.name, Body: s}) {
		return nil, errUserAbort
	}
	return pbuf(nil).field(rspPub, pbuf(nil).opt(1, []byte(s))), nil
}

// scriptConfig is a decoded BTCScriptConfig: a multisig or a policy.
type scriptConfig struct {
	ms  *multisigConfig
	pol *policyConfig
}

type multisigConfig struct {
	threshold  int
	xpubs      []*xpubParts
	our        int
	scriptType uint64 // 0 p2wsh, 1 p2wsh-p2sh
}

type policyKeyInfo struct {
	fp      []byte
	keypath []uint32
	xpub    *xpubParts
}

type policyConfig struct {
	text    string
	ms      *msNode // the miniscript inside wsh()
	keys    []policyKeyInfo
	pks     []policyKey
	isOurs  []bool // filled by validate
	checked bool
}

func parseScriptConfig(m pmsg) (*scriptConfig, error) {
	switch m.oneof() {
	case 2:
		ms, _, err := m.sub(2)
		if err != nil {
			return nil, err
		}
		th, err := ms.u32(1)
		if err != nil {
			return nil, err
		}
		xs, err := ms.subs(2)
		if err != nil {
			return nil, err
		}
		our, err := ms.u32(3)
		if err != nil {
			return nil, err
		}
		st, err := ms.uint(4)
		if err != nil {
			return nil, err
		}
		if st > 1 {
			return nil, errInvalidInput
		}
		c := &multisigConfig{threshold: int(th), our: int(our), scriptType: st}
		for _, xm := range xs {
			x, err := parseXPub(xm)
			if err != nil {
				return nil, err
			}
			c.xpubs = append(c.xpubs, x)
		}
		return &scriptConfig{ms: c}, nil
	case 3:
		pm, _, err := m.sub(3)
		if err != nil {
			return nil, err
		}
		text, err := pm.bytes(1)
		if err != nil {
			return nil, err
		}
		ks, err := pm.subs(2)
		if err != nil {
			return nil, err
		}
		if len(ks) > 20 {
			return nil, errInvalidInput
		}
		ms, pks, err := parseWshPolicy(string(text))
		if err != nil {
			return nil, err
		}
		pc := &policyConfig{text: string(text), ms: ms, pks: pks}
		for _, km := range ks {
			fp, err := km.bytes(1)
			if err != nil {
				return nil, err
			}
			kp, err := km.u32s(2)
			if err != nil {
				return nil, err
			}
			xm, ok, err := km.sub(3)
			if err != nil {
				return nil, err
			}
			if !ok {
				return nil, errInvalidInput
			}
			x, err := parseXPub(xm)
			if err != nil {
				return nil, err
			}
			pc.keys = append(pc.keys, policyKeyInfo{fp: bytes.Clone(fp), keypath: kp, xpub: x})
		}
		return &scriptConfig{pol: pc}, nil
	}
	// SimpleType (single-key) configs: not emulated.
	return nil, errInvalidInput
}

// validateMultisig is multisig.rs validate.
func (e *Emulator) validateMultisig(ms *multisigConfig, account []uint32) error {
	n := len(ms.xpubs)
	if n < 2 || n > 15 || ms.threshold < 1 || ms.threshold > n || ms.our >= n || ms.our < 0 {
		return errInvalidInput
	}
	ours, err := e.ourXpub(account)
	if err != nil {
		return err
	}
	if !bytes.Equal(ours.serialize(), ms.xpubs[ms.our].serialize()) {
		return errInvalidInput
	}
	for i := range ms.xpubs {
		for j := i + 1; j < n; j++ {
			if bytes.Equal(ms.xpubs[i].serialize(), ms.xpubs[j].serialize()) {
				return errInvalidInput
			}
		}
	}
	return nil
}

// validatePolicy is policies.rs parse/validate for the supported subset.
func (e *Emulator) validatePolicy(pc *policyConfig, coin uint64) error {
	// Wallet policies came with firmware 9.15.0 (CHANGELOG.md); older
	// firmware knows single-sig and Multisig script configs only.
	if !e.hasPolicies() {
		return errInvalidInput
	}
	if coin != coinBTC && coin != coinTBTC {
		return errInvalidInput
	}
	pc.isOurs = make([]bool, len(pc.keys))
	for i, k := range pc.keys {
		if !bytes.Equal(k.fp, e.fp[:]) {
			continue
		}
		x, err := e.ourXpub(k.keypath)
		if err != nil {
			continue
		}
		pc.isOurs[i] = bytes.Equal(x.serialize(), k.xpub.serialize())
	}
	// validate_keys: each derivation once, every key used.
	seen := map[[2]uint64]bool{}
	used := make([]bool, len(pc.keys))
	for _, pk := range pc.pks {
		if pk.index >= len(pc.keys) {
			return errInvalidInput
		}
		a, b := [2]uint64{uint64(pk.index), uint64(pk.receive)}, [2]uint64{uint64(pk.index), uint64(pk.chng)}
		if seen[a] || seen[b] {
			return errInvalidInput
		}
		seen[a], seen[b] = true, true
		used[pk.index] = true
	}
	anyOurs := false
	for i := range used {
		if !used[i] {
			return errInvalidInput
		}
		anyOurs = anyOurs || pc.isOurs[i]
	}
	if !anyOurs {
		return errInvalidInput
	}
	for i := range pc.keys {
		for j := i + 1; j < len(pc.keys); j++ {
			if bytes.Equal(pc.keys[i].xpub.serialize(), pc.keys[j].xpub.serialize()) {
				return errInvalidInput
			}
		}
	}
	pc.checked = true
	return nil
}

// multisigHash is multisig.rs get_hash.
func multisigHash(coin uint64, ms *multisigConfig, sorted bool, keypath []uint32) [32]byte {
	h := sha256.New()
	h.Write([]byte{coinByte(coin), byte(ms.scriptType)})
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], uint32(ms.threshold))
	h.Write(b[:])
	binary.LittleEndian.PutUint32(b[:], uint32(len(ms.xpubs)))
	h.Write(b[:])
	ser := make([][]byte, len(ms.xpubs))
	for i, x := range ms.xpubs {
		ser[i] = x.serialize()
	}
	if sorted {
		sortBytes(ser)
	}
	for _, s := range ser {
		h.Write(s)
	}
	binary.LittleEndian.PutUint32(b[:], uint32(len(keypath)))
	h.Write(b[:])
	for _, c := range keypath {
		binary.LittleEndian.PutUint32(b[:], c)
		h.Write(b[:])
	}
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

func sortBytes(s [][]byte) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && bytes.Compare(s[j-1], s[j]) > 0; j-- {
			s[j-1], s[j] = s[j], s[j-1]
		}
	}
}

// policyHash is policies.rs get_hash.
func policyHash(coin uint64, pc *policyConfig) [32]byte {
	h := sha256.New()
	h.Write([]byte{0xff, coinByte(coin)})
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], uint32(len(pc.text)))
	h.Write(b[:])
	h.Write([]byte(pc.text))
	binary.LittleEndian.PutUint32(b[:], uint32(len(pc.keys)))
	h.Write(b[:])
	for _, k := range pc.keys {
		h.Write(k.xpub.serialize())
	}
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

// nameOf finds the registered name of a validated config (multisig.rs
// get_name: sorted hash first, unsorted for old registrations).
func (e *Emulator) nameOf(cfg *scriptConfig, coin uint64, account []uint32) (string, bool) {
	var hs [][32]byte
	if cfg.ms != nil {
		hs = [][32]byte{multisigHash(coin, cfg.ms, true, account), multisigHash(coin, cfg.ms, false, account)}
	} else {
		hs = [][32]byte{policyHash(coin, cfg.pol)}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, h := range hs {
		if n, ok := e.registered[h]; ok {
			return n, true
		}
	}
	return "", false
}

// validate checks a config against the device; account is the
// account-level keypath (multisig).
func (e *Emulator) validate(cfg *scriptConfig, coin uint64, account []uint32) error {
	if cfg.ms != nil {
		return e.validateMultisig(cfg.ms, account)
	}
	return e.validatePolicy(cfg.pol, coin)
}

// outputAt derives the config's output at a full keypath of ours, and
// whether it is on the change branch.
func (e *Emulator) outputAt(cfg *scriptConfig, cp *coinParams, keypath []uint32) (*output, bool, error) {
	if len(keypath) < 3 {
		return nil, false, errInvalidInput
	}
	change, index := keypath[len(keypath)-2], keypath[len(keypath)-1]
	if cfg.ms != nil {
		ms := cfg.ms
		keys := make([][]byte, len(ms.xpubs))
		for i, x := range ms.xpubs {
			k, err := x.derive(change, index)
			if err != nil {
				return nil, false, err
			}
			keys[i] = k
		}
		ws, err := multisigScript(ms.threshold, keys, true)
		if err != nil {
			return nil, false, err
		}
		o, err := wshOutput(ws, ms.scriptType == 1, cp.net)
		return o, change == 1, err
	}
	pc := cfg.pol
	// get_change_and_address_index: the first placeholder of ours whose
	// account path prefixes keypath.
	isChange, found := false, false
	for _, pk := range pc.pks {
		ki := pc.keys[pk.index]
		if !pc.isOurs[pk.index] || len(keypath) != len(ki.keypath)+2 || !prefix(keypath, ki.keypath) {
			continue
		}
		if change == pk.receive {
			isChange, found = false, true
		} else if change == pk.chng {
			isChange, found = true, true
		}
		if found {
			break
		}
	}
	if !found {
		return nil, false, errInvalidInput
	}
	keys := make([][]byte, len(pc.pks))
	for i, pk := range pc.pks {
		c := pk.receive
		if isChange {
			c = pk.chng
		}
		k, err := pc.keys[pk.index].xpub.derive(c, index)
		if err != nil {
			return nil, false, err
		}
		keys[i] = k
	}
	ws := pc.ms.witnessScript(keys)
	if len(ws) > 3600 { // the standardness limit on a P2WSH witness script
		return nil, false, errInvalidInput
	}
	o, err := wshOutput(ws, false, cp.net)
	return o, isChange, err
}

func prefix(p, pre []uint32) bool {
	if len(pre) > len(p) {
		return false
	}
	for i := range pre {
		if p[i] != pre[i] {
			return false
		}
	}
	return true
}

// walletScreen is multisig.rs confirm / policies.rs confirm (basic).
func (e *Emulator) walletScreen(ctx context.Context, title string, cfg *scriptConfig, cp *coinParams, name string) bool {
	body := ""
	if cfg.ms != nil {
		body = fmt.Sprintf("%d-of-%d\n%s multisig", cfg.ms.threshold, len(cfg.ms.xpubs), cp.name)
	} else {
		body = fmt.Sprintf("%s\npolicy with\n%d keys", cp.name, len(cfg.pol.keys))
	}
	return e.confirm(ctx, Screen{Kind: "wallet", Title: title, Body: body + "\n" + name})
}

// address is bitcoin.rs address_multisig / address_policy.
func (e *Emulator) address(ctx context.Context, cfg *scriptConfig, coin uint64, cp *coinParams, keypath []uint32, display bool) (string, error) {
	if len(keypath) < 3 || keypath[len(keypath)-1] > 9999 {
		return "", errInvalidInput
	}
	account := keypath[:len(keypath)-2]
	if err := e.validate(cfg, coin, account); err != nil {
		return "", err
	}
	name, ok := e.nameOf(cfg, coin, account)
	if !ok {
		return "", errInvalidInput
	}
	if display && !e.walletScreen(ctx, "Receive to", cfg, cp, name) {
		return "", errUserAbort
	}
	o, _, err := e.outputAt(cfg, cp, keypath)
	if err != nil {
		return "", err
	}
	if display && !e.confirm(ctx, Screen{Kind: "address", Title: "Receive to", Body: o.address, Address: o.address}) {
		return "", errUserAbort
	}
	return o.address, nil
}

// btcRequest is bitcoin.rs process_api.
func (e *Emulator) btcRequest(ctx context.Context, r pmsg) ([]byte, error) {
	switch r.oneof() {
	case 1:
		q, _, err := r.sub(1)
		if err != nil {
			return nil, err
		}
		reg, ok, err := q.sub(1)
		if err != nil || !ok {
			return nil, errInvalidInput
		}
		cfg, coin, account, _, err := e.registration(reg)
		if err != nil {
			return nil, err
		}
		// registration.rs does not validate here; a policy needs its keys
		// matched for nothing but the hash.
		_, known := e.nameOf(cfg, coin, account)
		body := pbuf(nil).flag(1, known)
		return pbuf(nil).field(rspBTC, pbuf(nil).field(2, body)), nil
	case 2:
		q, _, err := r.sub(2)
		if err != nil {
			return nil, err
		}
		return e.register(ctx, q)
	case 3, 4, 5, 7, 8:
		return nil, errInvalidState
	}
	return nil, errInvalidInput
}

// registration decodes BTCScriptConfigRegistration.
func (e *Emulator) registration(m pmsg) (*scriptConfig, uint64, []uint32, *coinParams, error) {
	coin, err := m.uint(1)
	if err != nil {
		return nil, 0, nil, nil, err
	}
	cp, err := paramsOf(coin)
	if err != nil {
		return nil, 0, nil, nil, err
	}
	sc, ok, err := m.sub(2)
	if err != nil || !ok {
		return nil, 0, nil, nil, errInvalidInput
	}
	cfg, err := parseScriptConfig(sc)
	if err != nil {
		return nil, 0, nil, nil, err
	}
	kp, err := m.u32s(3)
	if err != nil {
		return nil, 0, nil, nil, err
	}
	return cfg, coin, kp, cp, nil
}

// validName is util/src/name.rs validate with MULTISIG_NAME_MAX_LEN 30.
func validName(s string) bool {
	if s == "" || len(s) > 30 || s[0] == ' ' || s[len(s)-1] == ' ' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// register is registration.rs process_register_script_config.
func (e *Emulator) register(ctx context.Context, q pmsg) ([]byte, error) {
	reg, ok, err := q.sub(1)
	if err != nil || !ok {
		return nil, errInvalidInput
	}
	cfg, coin, account, cp, err := e.registration(reg)
	if err != nil {
		return nil, err
	}
	nb, err := q.bytes(2)
	if err != nil {
		return nil, err
	}
	name := string(nb)
	if name == "" {
		// The user types a name on the device.
		if !e.confirm(ctx, Screen{Kind: "register", Title: "Register", Body: "Please name this\naccount"}) {
			return nil, errUserAbort
		}
		name = "BitBox account"
	}
	if !validName(name) {
		return nil, errInvalidInput
	}
	if err := e.validate(cfg, coin, account); err != nil {
		return nil, err
	}
	var h [32]byte
	if cfg.ms != nil {
		if !e.walletScreen(ctx, "Register", cfg, cp, name) {
			return nil, errUserAbort
		}
		st := "p2wsh"
		if cfg.ms.scriptType == 1 {
			st = "p2wsh-p2sh"
		}
		if !e.confirm(ctx, Screen{Kind: "register", Title: "Register", Body: st + "\nat\n" + fmtKeypath(account)}) {
			return nil, errUserAbort
		}
		for i, x := range cfg.ms.xpubs {
			body := fmt.Sprintf("Cosigner %d/%d: %s", i+1, len(cfg.ms.xpubs), e.xpubString(x, cp))
			if i == cfg.ms.our {
				body = fmt.Sprintf("Cosigner %d/%d (this device): %s", i+1, len(cfg.ms.xpubs), e.xpubString(x, cp))
			}
			if !e.confirm(ctx, Screen{Kind: "register", Title: "Register", Body: body}) {
				return nil, errUserAbort
			}
		}
		h = multisigHash(coin, cfg.ms, true, account)
	} else {
		if !e.walletScreen(ctx, "Register", cfg, cp, name) ||
			!e.confirm(ctx, Screen{Kind: "register", Title: "Policy", Body: cfg.pol.text}) {
			return nil, errUserAbort
		}
		for i, k := range cfg.pol.keys {
			body := fmt.Sprintf("Key %d/%d: %s", i+1, len(cfg.pol.keys), e.xpubString(k.xpub, cp))
			if cfg.pol.isOurs[i] {
				body = "This device: " + body
			}
			if !e.confirm(ctx, Screen{Kind: "register", Title: "Register", Body: body}) {
				return nil, errUserAbort
			}
		}
		h = policyHash(coin, cfg.pol)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for other, n := range e.registered {
		if n == name && other != h {
			return nil, errDuplicate
		}
	}
	e.registered[h] = name
	return pbuf(nil).field(rspBTC, pbuf(nil).field(1, nil)), nil
}

// xpubString formats a cosigner xpub for a screen: xpub on mainnet, tpub
// elsewhere (AUTO_XPUB_TPUB).
func (e *Emulator) xpubString(x *xpubParts, cp *coinParams) string {
	v := chaincfg.TestNet3Params.HDPublicKeyID[:]
	if cp.net == &chaincfg.MainNetParams {
		v = chaincfg.MainNetParams.HDPublicKeyID[:]
	}
	s := hdkeychain.NewExtendedKey(v, x.pubKey, x.chainCode, x.parentFP[:], x.depth, x.childNum, false).String()
	return strings.TrimSpace(s)
}

// Xpub is the seed's extended public key at path, serialised for net: what
// the device would export, for printing at start and for tests.
func (e *Emulator) Xpub(path []uint32, net *chaincfg.Params) (string, error) {
	x, err := e.ourXpub(path)
	if err != nil {
		return "", err
	}
	return hdkeychain.NewExtendedKey(net.HDPublicKeyID[:], x.pubKey, x.chainCode, x.parentFP[:], x.depth, x.childNum, false).String(), nil
}

// hasPolicies reports whether the emulated firmware (Config.Version,
// "v9.21.0") is 9.15.0 or later, the first with wallet policies.
func (e *Emulator) hasPolicies() bool {
	var v [3]int
	parts := strings.Split(strings.TrimPrefix(e.cfg.Version, "v"), ".")
	if len(parts) != 3 {
		return false
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil {
			return false
		}
		v[i] = n
	}
	for i, want := range [3]int{9, 15, 0} {
		if v[i] != want {
			return v[i] > want
		}
	}
	return true
}
