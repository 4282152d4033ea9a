// Package jade emulates the device side of Blockstream Jade's CBOR-RPC
// protocol (Blockstream/Jade@cfce08ce, docs/index.rst; the firmware's
// main/wire.c and main/process/*.c), so that countersign's jade driver and
// anything else that speaks the protocol can be exercised without the
// hardware or the vendor's QEMU image. It serves the byte stream the QEMU
// image serves on TCP port 30121 (Serve) and any other byte stream, such as
// an in-memory pipe (ServeConn).
//
// The emulator holds a BIP-32 seed made from a BIP-39 mnemonic (or given
// raw, as the firmware's debug set_seed does) and answers:
//
//   - get_version_info (JADE_STATE, JADE_NETWORKS, version and board), ping,
//     add_entropy, set_epoch, logout and cancel;
//   - auth_user: at once when unlocked; when locked (Config.PINServer) the
//     "user" enters the PIN and the emulator answers with an http_request
//     that the host must relay to the PIN server and pass back with the
//     method it names ("pin"), as the firmware does with its blind PIN
//     server;
//   - get_xpub at any path, as xpub or tpub by network;
//   - register_multisig (the firmware's checks and messages, at most 16
//     records of at most 15 signers, its own key found by fingerprint and
//     checked against its derivation, a record identical to a stored one
//     accepted without asking), get_registered_multisigs and
//     get_registered_multisig;
//   - get_receive_address for a registered multisig, shown for
//     confirmation;
//   - sign_psbt: it parses the PSBT itself, signs every input holding one
//     of its keys (found by fingerprint, checked by derivation) with RFC
//     6979 nonces ground for a low R as libwally's EC_FLAG_GRIND_R does,
//     over BIP-143 (segwit v0) or legacy signature hashes it computes
//     itself; multisig inputs are matched to a registration by script, and
//     outputs that derive from that registration on the change branch are
//     recognised as change, the rest shown for confirmation with the fee;
//     the signed PSBT goes back in 3008-byte chunks fetched with
//     get_extended_data, as the firmware sends it.
//
// Errors carry the firmware's codes (main/utils/cbor_rpc.h) and messages.
// Config.Approve stands in for the user at each screen; refusing is
// CBOR_RPC_USER_CANCELLED.
//
// The emulator never borrows the code it tests: it imports neither
// countersign's psbt, descriptor nor hw packages. btcd supplies BIP-32
// (hdkeychain), the curve (btcec), transaction parsing (wire) and address
// encoding (btcutil).
//
// Known differences from the firmware: no Liquid, no descriptor
// registrations (register_descriptor), no multisig files
// (register_multisig's multisig_file), no Green, single-key or taproot
// addresses; the PIN server is a stand-in (NewPINServer) that answers with
// an HMAC under a secret it shares with the emulator, not Blockstream's
// blind oracle (ECDH, encrypted and signed payloads); wrong PINs are
// counted but never wipe the seed; inputs whose witness_utxo and
// non_witness_utxo disagree, and witness or redeem scripts that do not hash
// to the spent script, are refused rather than signed.
package jade

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/tyler-smith/go-bip39"
)

// DefaultAddr is where the vendor's QEMU image listens (main/qemu/qemu_tcp.c).
const DefaultAddr = "127.0.0.1:30121"

// DefaultVersion is the firmware version the emulator reports.
const DefaultVersion = "1.0.40"

// staleAfter is the firmware's stale-message timeout (main/wire.c, 2 s on
// Jade 2): bytes of an incomplete message that see no more data for this
// long are rejected.
const staleAfter = 2 * time.Second

// Screen is what the device shows the user for a decision.
type Screen struct {
	Kind string // "register", "address", "sign", or "pin" (shown only: Config.PINEntry answers it)

	Wallet    string // register, address: the multisig name; sign: the registration matched, if any
	Variant   string // register
	Sorted    bool
	Threshold int
	Signers   int
	Overwrite bool // register: a record of that name exists and differs

	Address string // address
	Warning string // address: a path the firmware calls unusual

	Outputs []ScreenOutput // sign: every output
	Fee     int64          // sign
}

// ScreenOutput is one output of a transaction on the device's screen.
type ScreenOutput struct {
	Address string
	Amount  int64
	Change  bool   // recognised as the wallet's change: not asked about
	Warning string // e.g. an unusual change path
}

// Config sets up an emulator.
type Config struct {
	// Mnemonic is the BIP-39 seed phrase (no passphrase); Seed, when set
	// instead, is the BIP-32 seed itself.
	Mnemonic string
	Seed     []byte
	// Networks restricts the wallet to main or test networks as
	// get_version_info reports it: NetworksAll (the default, a wallet not
	// yet tied to a network type), NetworksMain or NetworksTest.
	Networks string
	// Version is the firmware version reported (DefaultVersion when empty).
	Version string
	// Approve answers each screen; nil approves everything.
	Approve func(ctx context.Context, s Screen) bool

	// PINServer, when set, is the base URL of the PIN server (NewPINServer)
	// and the device starts locked: auth_user needs the PIN and the host's
	// relay to the server. Without it the device is unlocked ("no PIN").
	PINServer string
	// PINSecret is the secret the PIN server holds.
	PINSecret []byte
	// PIN is the device's PIN; PINEntry, when set, is what the user types
	// (ok false: the user backs out of PIN entry); otherwise PIN is typed.
	PIN      string
	PINEntry func(ctx context.Context) (pin string, ok bool)

	// OutputChunk is the largest piece of a signed PSBT per reply
	// (DefaultOutputChunk when zero).
	OutputChunk int
}

// Emulator is one emulated Jade. It is safe for concurrent use; requests
// from all connections are handled one at a time, as the firmware's main
// task does.
type Emulator struct {
	cfg    Config
	master *hdkeychain.ExtendedKey
	fp     [4]byte

	busy sync.Mutex // held while a request is handled

	mu       sync.Mutex // guards the fields below
	unlocked bool
	networks string
	records  []*record
	screens  []Screen
	badPINs  int
	requests map[string]int

	stale time.Duration // staleAfter; shorter in tests
}

// New makes an emulator from cfg.
func New(cfg Config) (*Emulator, error) {
	seed := cfg.Seed
	if len(seed) == 0 {
		if !bip39.IsMnemonicValid(cfg.Mnemonic) {
			return nil, errors.New("jade emulator: the mnemonic is not a valid BIP-39 phrase")
		}
		seed = bip39.NewSeed(cfg.Mnemonic, "")
	}
	master, err := hdkeychain.NewMaster(seed, &chaincfg.MainNetParams)
	if err != nil {
		return nil, fmt.Errorf("jade emulator: %w", err)
	}
	fp, err := fingerprintOf(master)
	if err != nil {
		return nil, err
	}
	switch cfg.Networks {
	case "":
		cfg.Networks = NetworksAll
	case NetworksAll, NetworksMain, NetworksTest:
	default:
		return nil, fmt.Errorf("jade emulator: networks %q: want ALL, MAIN or TEST", cfg.Networks)
	}
	if cfg.Version == "" {
		cfg.Version = DefaultVersion
	}
	if cfg.OutputChunk <= 0 {
		cfg.OutputChunk = DefaultOutputChunk
	}
	if cfg.PINServer != "" && (cfg.PIN == "" || len(cfg.PINSecret) == 0) {
		return nil, errors.New("jade emulator: a PIN server needs the PIN and the server's secret")
	}
	return &Emulator{
		cfg: cfg, master: master, fp: fp,
		unlocked: cfg.PINServer == "",
		networks: cfg.Networks,
		requests: map[string]int{},
		stale:    staleAfter,
	}, nil
}

// Fingerprint is the master key fingerprint.
func (e *Emulator) Fingerprint() [4]byte { return e.fp }

// Screens returns what the device showed the user so far.
func (e *Emulator) Screens() []Screen {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Screen(nil), e.screens...)
}

// Requests counts the requests received by method.
func (e *Emulator) Requests() map[string]int {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := map[string]int{}
	for k, v := range e.requests {
		out[k] = v
	}
	return out
}

// Registrations lists the names of the registered multisig wallets.
func (e *Emulator) Registrations() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, r := range e.records {
		out = append(out, r.name)
	}
	return out
}

// Locked reports whether the device waits for its PIN.
func (e *Emulator) Locked() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return !e.unlocked
}

func (e *Emulator) approve(ctx context.Context, s Screen) bool {
	e.mu.Lock()
	e.screens = append(e.screens, s)
	e.mu.Unlock()
	if e.cfg.Approve == nil {
		return true
	}
	return e.cfg.Approve(ctx, s)
}

// Serve accepts connections on ln and serves each until ctx ends, then
// closes ln and returns nil.
func (e *Emulator) Serve(ctx context.Context, ln net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = e.ServeConn(ctx, conn)
		}()
	}
}

// ServeConn answers requests on one byte stream until the peer closes it
// or ctx ends (both nil), and closes conn.
func (e *Emulator) ServeConn(ctx context.Context, conn io.ReadWriteCloser) error {
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	s := &session{e: e, conn: conn}
	if d, ok := conn.(interface{ SetReadDeadline(time.Time) error }); ok {
		s.setDeadline = d.SetReadDeadline
	}
	closed := func(err error) bool {
		return ctx.Err() != nil || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, io.ErrClosedPipe)
	}
	for {
		req, err := s.next(ctx)
		if err == nil {
			e.busy.Lock()
			err = s.dispatch(ctx, req)
			e.busy.Unlock()
		}
		if err != nil {
			if closed(err) {
				return nil
			}
			return err
		}
	}
}

// session is one connection: its receive buffer and reply writer.
type session struct {
	e           *Emulator
	conn        io.ReadWriteCloser
	buf         []byte
	setDeadline func(time.Time) error
}

// next returns the next valid request, rejecting what cannot be one as
// main/wire.c does, and answering the messages the firmware handles
// immediately (ping, get_version_info with nonblocking).
func (s *session) next(ctx context.Context) (*request, error) {
	chunk := make([]byte, 4096)
	for {
		if len(s.buf) > 0 {
			n, err := itemLen(s.buf)
			switch {
			case err == nil:
				item := s.buf[:n:n]
				s.buf = append([]byte(nil), s.buf[n:]...)
				req, derr := decodeRequest(item)
				if derr != nil {
					id := "00"
					if req != nil {
						id = req.ID
					}
					if err := s.rejectData(id, n); err != nil {
						return nil, err
					}
					continue
				}
				s.e.count(req.Method)
				if done, err := s.immediate(req); err != nil || done {
					if err != nil {
						return nil, err
					}
					continue
				}
				return req, nil
			case errors.Is(err, errIncomplete) && len(s.buf) < MaxInputMessage:
				// wait for more
			default:
				n := len(s.buf)
				s.buf = nil
				if err := s.rejectData("00", n); err != nil {
					return nil, err
				}
				continue
			}
		}
		if s.setDeadline != nil {
			if len(s.buf) > 0 {
				_ = s.setDeadline(time.Now().Add(s.e.stale))
			} else {
				_ = s.setDeadline(time.Time{})
			}
		}
		n, err := s.conn.Read(chunk)
		s.buf = append(s.buf, chunk[:n]...)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) && ctx.Err() == nil && n == 0 {
				// Stale bytes of a message that never completed.
				stale := len(s.buf)
				s.buf = nil
				if err := s.rejectData("00", stale); err != nil {
					return nil, err
				}
				continue
			}
			if n > 0 {
				continue
			}
			return nil, err
		}
	}
}

func (e *Emulator) count(method string) {
	e.mu.Lock()
	e.requests[method]++
	e.mu.Unlock()
}

// rejectData is reject_data: CBOR_RPC_INVALID_REQUEST with the rejected
// length as data.
func (s *session) rejectData(id string, n int) error {
	return s.write(errorReply{ID: id, Error: &rpcError{Code: codeInvalidRequest, Message: "Invalid RPC Request message", Data: []byte(fmt.Sprint(n))}})
}

func (s *session) write(v any) error {
	b, err := encMode.Marshal(v)
	if err != nil {
		return err
	}
	if s.setDeadline != nil {
		// Writes are not bounded by the read deadline of stale data.
		if w, ok := s.conn.(interface{ SetWriteDeadline(time.Time) error }); ok {
			_ = w.SetWriteDeadline(time.Time{})
		}
	}
	_, err = s.conn.Write(b)
	return err
}

func (s *session) reply(id string, result any) error {
	return s.write(resultReply{ID: id, Result: result})
}

func (s *session) fail(id string, e *rpcError) error {
	return s.write(errorReply{ID: id, Error: e})
}

// immediate handles the messages the firmware answers from its wire task,
// even while the main task is busy (main/wire.c, handle_immediate_message).
func (s *session) immediate(req *request) (bool, error) {
	switch req.Method {
	case "ping":
		return true, s.reply(req.ID, 0)
	case "get_version_info":
		var p struct {
			Nonblocking bool `cbor:"nonblocking"`
		}
		if len(req.Params) > 0 && decMode.Unmarshal(req.Params, &p) == nil && p.Nonblocking {
			return true, s.reply(req.ID, s.e.versionInfo())
		}
	}
	return false, nil
}

func (e *Emulator) versionInfo() map[string]any {
	e.mu.Lock()
	defer e.mu.Unlock()
	state := "READY"
	if !e.unlocked {
		state = "LOCKED"
	}
	return map[string]any{
		"JADE_VERSION":            e.cfg.Version,
		"JADE_OTA_MAX_CHUNK":      4096,
		"JADE_CONFIG":             "NORADIO",
		"BOARD_TYPE":              "QEMU",
		"JADE_FEATURES":           "DEV",
		"IDF_VERSION":             "v5.4.1",
		"CHIP_FEATURES":           "32000000",
		"EFUSEMAC":                "000000000000",
		"ATTESTATION_INITIALISED": false,
		"BATTERY_STATUS":          5,
		"BATTERY_MILLIVOLTS":      4200,
		"BATTERY_CHARGING":        false,
		"JADE_STATE":              state,
		"JADE_NETWORKS":           e.networks,
		"JADE_HAS_PIN":            e.cfg.PINServer != "",
	}
}

// dispatch handles one request (dashboard.c, dispatch_message). Only a
// broken connection is returned; failures go back as error replies.
func (s *session) dispatch(ctx context.Context, req *request) error {
	e := s.e
	switch req.Method {
	case "get_version_info":
		return s.reply(req.ID, e.versionInfo())
	case "add_entropy", "set_epoch":
		return s.reply(req.ID, true)
	case "logout":
		// A PIN-protected device locks; one without a PIN (a temporary
		// wallet, in the firmware's terms) has nothing to lock with and
		// stays as it is.
		if e.cfg.PINServer != "" {
			e.mu.Lock()
			e.unlocked = false
			e.mu.Unlock()
		}
		return s.reply(req.ID, true)
	case "cancel":
		return nil // nothing in progress: ignored, no reply
	case "auth_user":
		return s.authUser(ctx, req)
	}
	e.mu.Lock()
	unlocked := e.unlocked
	e.mu.Unlock()
	if !unlocked {
		return s.fail(req.ID, rpcErr(codeHWLocked, "Cannot process message - hardware locked or uninitialized"))
	}
	var result any
	var rerr *rpcError
	switch req.Method {
	case "get_xpub":
		result, rerr = e.getXpub(req)
	case "register_multisig":
		result, rerr = e.registerMultisig(ctx, req)
	case "get_registered_multisigs":
		result, rerr = e.registeredMultisigs()
	case "get_registered_multisig":
		result, rerr = e.registeredMultisig(req)
	case "get_receive_address":
		result, rerr = e.receiveAddress(ctx, req)
	case "sign_psbt":
		return s.signPSBT(ctx, req)
	case "ota_data", "ota_complete", "tx_input", "get_extended_data", "get_signature", "pin":
		rerr = rpcErr(codeProtocol, "Unexpected method")
	default:
		rerr = rpcErr(codeUnknownMethod, "Unknown method")
	}
	if rerr != nil {
		return s.fail(req.ID, rerr)
	}
	return s.reply(req.ID, result)
}

// checkNetwork is jade_process_check_network: a known network, consistent
// with the wallet's restriction.
func (e *Emulator) checkNetwork(name string) (network, *rpcError) {
	n, ok := networks[name]
	if !ok {
		if name == "liquid" || name == "testnet-liquid" || name == "localtest-liquid" {
			return network{}, rpcErr(codeBadParams, "Liquid networks are not emulated")
		}
		return network{}, rpcErr(codeBadParams, "Failed to extract valid network from parameters")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.networks == NetworksMain && n.test || e.networks == NetworksTest && !n.test {
		return network{}, rpcErr(codeNetworkMismatch, "Network type inconsistent with prior usage")
	}
	return n, nil
}

func (e *Emulator) getXpub(req *request) (any, *rpcError) {
	var p struct {
		Network string   `cbor:"network"`
		Path    []uint64 `cbor:"path"`
	}
	if err := req.params(&p); err != nil {
		return nil, err
	}
	n, rerr := e.checkNetwork(p.Network)
	if rerr != nil {
		return nil, rerr
	}
	path, ok := toPath(p.Path, maxPathLen)
	if !ok || p.Path == nil {
		return nil, rpcErr(codeBadParams, "Failed to extract valid path from parameters")
	}
	x, err := xpubString(e.master, path, n)
	if err != nil {
		return nil, rpcErr(codeInternal, "Cannot get xpub for path")
	}
	return x, nil
}

func (e *Emulator) registerMultisig(ctx context.Context, req *request) (any, *rpcError) {
	var p struct {
		Network      string          `cbor:"network"`
		Name         string          `cbor:"multisig_name"`
		MultisigFile *string         `cbor:"multisig_file"`
		Descriptor   *wireDescriptor `cbor:"descriptor"`
	}
	if err := req.params(&p); err != nil {
		// A well-formed map with fields of the wrong types lands here.
		return nil, rpcErr(codeBadParams, "Cannot extract multisig descriptor data")
	}
	if p.MultisigFile != nil {
		return nil, rpcErr(codeBadParams, "Multisig files are not emulated")
	}
	if _, rerr := e.checkNetwork(p.Network); rerr != nil {
		return nil, rerr
	}
	if !validName(p.Name) {
		return nil, rpcErr(codeBadParams, "Missing or invalid multisig name parameter")
	}
	if p.Descriptor == nil {
		return nil, rpcErr(codeBadParams, "Cannot extract multisig descriptor data")
	}
	r, rerr := newRecord(p.Name, p.Descriptor, e.master, e.fp)
	if rerr != nil {
		return nil, rerr
	}
	e.mu.Lock()
	idx := -1
	for i, old := range e.records {
		if old.name == r.name {
			idx = i
		}
	}
	if idx >= 0 && e.records[idx].equal(r) {
		e.mu.Unlock()
		return true, nil // identical: nothing to confirm
	}
	if idx < 0 && len(e.records) >= maxRegistrations {
		e.mu.Unlock()
		return nil, rpcErr(codeBadParams, "Already have maximum number of multisig wallets")
	}
	e.mu.Unlock()
	if !e.approve(ctx, Screen{Kind: "register", Wallet: r.name, Variant: r.variant, Sorted: r.sorted,
		Threshold: r.threshold, Signers: len(r.signers), Overwrite: idx >= 0}) {
		return nil, rpcErr(codeUserCancelled, "User declined to register multisig")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if idx >= 0 {
		e.records[idx] = r
	} else {
		e.records = append(e.records, r)
	}
	return true, nil
}

func (e *Emulator) record(name string) *record {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, r := range e.records {
		if r.name == name {
			return r
		}
	}
	return nil
}

func (e *Emulator) registeredMultisigs() (any, *rpcError) {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := map[string]any{}
	for _, r := range e.records {
		mbk := r.blinding
		if mbk == nil {
			mbk = []byte{}
		}
		out[r.name] = map[string]any{
			"variant": r.variant, "sorted": r.sorted, "threshold": r.threshold,
			"num_signers": len(r.signers), "master_blinding_key": mbk,
		}
	}
	return out, nil
}

func (e *Emulator) registeredMultisig(req *request) (any, *rpcError) {
	var p struct {
		Name   string `cbor:"multisig_name"`
		AsFile bool   `cbor:"as_file"`
	}
	if err := req.params(&p); err != nil {
		return nil, err
	}
	if !validName(p.Name) {
		return nil, rpcErr(codeBadParams, "Missing or invalid multisig name parameter")
	}
	if p.AsFile {
		return nil, rpcErr(codeBadParams, "Multisig files are not emulated")
	}
	r := e.record(p.Name)
	if r == nil {
		return nil, rpcErr(codeBadParams, "Named multisig wallet does not exist for this signer")
	}
	return map[string]any{"multisig_name": r.name, "descriptor": r.wire()}, nil
}

func (e *Emulator) receiveAddress(ctx context.Context, req *request) (any, *rpcError) {
	var p struct {
		Network string     `cbor:"network"`
		Name    *string    `cbor:"multisig_name"`
		Paths   [][]uint64 `cbor:"paths"`
	}
	if err := req.params(&p); err != nil {
		return nil, rpcErr(codeBadParams, "Failed to extract signer paths from parameters")
	}
	n, rerr := e.checkNetwork(p.Network)
	if rerr != nil {
		return nil, rerr
	}
	if p.Name == nil {
		return nil, rpcErr(codeBadParams, "Only multisig addresses are emulated")
	}
	if *p.Name == "" || len(*p.Name) > maxNameLen {
		return nil, rpcErr(codeBadParams, "Invalid multisig name parameter")
	}
	r := e.record(*p.Name)
	if r == nil {
		return nil, rpcErr(codeBadParams, "Cannot find named multisig wallet")
	}
	if len(p.Paths) == 0 {
		return nil, rpcErr(codeBadParams, "Failed to extract signer paths from parameters")
	}
	var suffixes [][]uint32
	for _, q := range p.Paths {
		path, ok := toPath(q, maxPathLen)
		if !ok || len(path) == 0 {
			return nil, rpcErr(codeBadParams, "Failed to extract signer paths from parameters")
		}
		suffixes = append(suffixes, path)
	}
	spk, _, err := r.scriptFor(suffixes)
	if err != nil {
		return nil, rpcErr(codeBadParams, "Unexpected number of signer paths or invalid path for multisig")
	}
	addr := address(spk, n.params)
	warning := ""
	for i, s := range suffixes {
		if !expectedPath(i, false, s) {
			warning = "Unusual multisig path"
			if expectedPath(i, true, s) {
				warning = "Multisig change path"
			}
		}
		if s[len(s)-1] != suffixes[0][len(suffixes[0])-1] {
			warning = "Differing signer paths"
		}
	}
	if !e.approve(ctx, Screen{Kind: "address", Wallet: r.name, Address: addr, Warning: warning}) {
		return nil, rpcErr(codeUserCancelled, "User declined to confirm address")
	}
	return addr, nil
}
