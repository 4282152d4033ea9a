package soft

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"sync"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/descriptor/formats"
	"github.com/countersign/countersign/hw"
	"github.com/countersign/countersign/internal/bip137"
	"github.com/countersign/countersign/psbt"
)

// An agent keeps one opened key in a process of its own for a while
// (`countersign key unlock`), so that signing with it does not run the key
// file's scrypt each time: Bitcoin Core's walletpassphrase with a timeout,
// for a software key. It listens on a Unix socket next to the key file
// (NAME.agent, in the 0700 key directory, mode 0600; on Linux a client of
// another user is refused by its peer credentials) and answers one request
// per connection. The agent is a signer like any device: the adapter
// (hw.Signer) checks the wallet before it sees a PSBT and verifies every
// signature it gives back, and countersign's gate and policy run in the
// process that asks. What the agent adds is a window in which any process
// of the same user can have it sign without the passphrase (SECURITY.md);
// it ends at the deadline, on `countersign key lock`, or when the agent is
// stopped, and the master key is wiped as it ends.

// agentExt is the agent socket's suffix in the key directory.
const agentExt = ".agent"

// MaxAgentFor is the longest a key may stay unlocked.
const MaxAgentFor = 24 * time.Hour

// maxAgentMessage bounds a request or answer: a PSBT of a few thousand
// inputs is a few megabytes.
const maxAgentMessage = 64 << 20

// maxSocketPath is the longest Unix socket path every platform accepts.
const maxSocketPath = 103

// AgentPath is where key name's agent listens.
func (s *Store) AgentPath(name string) string { return s.path(name, agentExt) }

// agentRequest is one question to the agent.
type agentRequest struct {
	Op   string   `json:"op"` // "info", "xpub", "register", "address", "sign", "message", "bsms-record", "lock"
	Path []uint32 `json:"path,omitempty"`
	// A message to sign with the master key (journal sign), or a BSMS key
	// record's token and description (bsms record).
	Message     string `json:"message,omitempty"`
	Token       string `json:"token,omitempty"`
	Description string `json:"description,omitempty"`
	PSBT        []byte `json:"psbt,omitempty"` // binary BIP-174
	WalletName  string `json:"wallet_name,omitempty"`
	Descriptor  string `json:"descriptor,omitempty"`
	Network     string `json:"network,omitempty"`
	Branch      uint32 `json:"branch,omitempty"`
	Index       uint32 `json:"index,omitempty"`
}

// agentAnswer is the agent's answer.
type agentAnswer struct {
	Error       string    `json:"error,omitempty"`
	Kind        string    `json:"kind,omitempty"` // agentKinds: what the error wraps
	Name        string    `json:"name,omitempty"`
	Fingerprint string    `json:"fingerprint,omitempty"`
	Network     string    `json:"network,omitempty"`
	Until       time.Time `json:"until,omitzero"`
	PID         int       `json:"pid,omitempty"`
	Xpub        string    `json:"xpub,omitempty"`
	Address     string    `json:"address,omitempty"`
	PSBT        []byte    `json:"psbt,omitempty"`
	Signature   string    `json:"signature,omitempty"` // a message's, base64
	Record      []byte    `json:"record,omitempty"`    // a BSMS key record, plain
}

// agentKinds carry an error's class across the socket, so that the CLI's
// exit codes do not depend on reading messages.
var agentKinds = []struct {
	name string
	err  error
}{
	{"refused", psbt.ErrRefused},
	{"malformed", psbt.ErrMalformed},
	{"unsupported", hw.ErrUnsupported},
	{"closed", ErrClosed},
}

func kindOf(err error) string {
	for _, k := range agentKinds {
		if errors.Is(err, k.err) {
			return k.name
		}
	}
	return "device"
}

func errOfKind(kind, msg string) error {
	for _, k := range agentKinds {
		if k.name == kind {
			return fmt.Errorf("%w: %s", k.err, msg)
		}
	}
	return fmt.Errorf("%w: %s", hw.ErrDevice, msg)
}

// Agent serves an opened key on a Unix socket until its deadline, a lock
// request, or ctx's end.
type Agent struct {
	signer *Signer
	ln     *net.UnixListener
	until  time.Time

	stop     chan struct{}
	stopOnce sync.Once
}

// Listen opens key name's agent socket. A socket left by an agent that is
// gone is replaced; one whose agent answers is refused (ErrExists).
func (s *Store) Listen(name string) (*net.UnixListener, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	if err := ensureDir(s.dir); err != nil {
		return nil, err
	}
	path := s.AgentPath(name)
	if len(path) > maxSocketPath {
		return nil, fmt.Errorf("%w: the agent's socket %s is longer than the %d bytes a Unix socket path may have; use a shorter data directory or key name", ErrInvalid, path, maxSocketPath)
	}
	// Two unlocks at once take turns here: otherwise the second could find
	// no agent answering yet, remove the first one's socket and leave it
	// serving no one.
	unlock, err := lockFile(s.path("."+name, agentExt+".lock"))
	if err != nil {
		return nil, fmt.Errorf("key %q: %w", name, err)
	}
	defer unlock()
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("key %q: %w: it is already unlocked (`countersign key lock %s` first)", name, ErrExists, name)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("key %q: remove the old agent socket %s: %w", name, path, err)
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("key %q: listen on %s: %w", name, path, err)
	}
	ln.SetUnlinkOnClose(true)
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("key %q: restrict %s to its owner: %w", name, path, err)
	}
	return ln, nil
}

// NewAgent serves signer on ln until until. The agent owns both: Serve
// closes the listener and wipes the key when it returns.
func NewAgent(signer *Signer, ln *net.UnixListener, until time.Time) *Agent {
	return &Agent{signer: signer, ln: ln, until: until, stop: make(chan struct{})}
}

// Serve answers requests until the deadline, a lock request or ctx's end,
// then closes the socket and wipes the key.
func (a *Agent) Serve(ctx context.Context) error {
	defer a.signer.Close()
	defer a.ln.Close()
	timer := time.NewTimer(time.Until(a.until))
	defer timer.Stop()
	go func() {
		select {
		case <-ctx.Done():
		case <-timer.C:
		case <-a.stop:
		}
		a.shutdown()
		a.ln.Close()
	}()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := a.ln.AcceptUnix()
		if err != nil {
			select {
			case <-a.stop:
				return nil
			default:
			}
			if ctx.Err() != nil || !time.Now().Before(a.until) {
				return nil
			}
			return fmt.Errorf("key %q agent: accept: %w", a.signer.name, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.answer(ctx, c)
		}()
	}
}

func (a *Agent) shutdown() { a.stopOnce.Do(func() { close(a.stop) }) }

// answer reads one request from c and writes its answer.
func (a *Agent) answer(ctx context.Context, c *net.UnixConn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Minute))
	if err := checkPeer(c); err != nil {
		_ = json.NewEncoder(c).Encode(agentAnswer{Error: err.Error(), Kind: "refused"})
		return
	}
	var req agentRequest
	if err := json.NewDecoder(io.LimitReader(c, maxAgentMessage)).Decode(&req); err != nil {
		_ = json.NewEncoder(c).Encode(agentAnswer{Error: "unreadable request: " + err.Error(), Kind: "malformed"})
		return
	}
	ans, err := a.handle(ctx, &req)
	if err != nil {
		ans = agentAnswer{Error: err.Error(), Kind: kindOf(err)}
	}
	_ = json.NewEncoder(c).Encode(ans)
	if req.Op == "lock" && err == nil {
		a.shutdown()
	}
}

func (a *Agent) handle(ctx context.Context, req *agentRequest) (agentAnswer, error) {
	s := a.signer
	switch req.Op {
	case "info", "lock":
		return agentAnswer{Name: s.name, Fingerprint: s.fpHex(), Network: s.net.Name, Until: a.until, PID: os.Getpid()}, nil
	case "xpub":
		x, err := s.Xpub(ctx, descriptor.Path(req.Path))
		if err != nil {
			return agentAnswer{}, err
		}
		return agentAnswer{Xpub: x.String()}, nil
	case "message":
		addr, sig, err := s.SignMessage(ctx, req.Message)
		return agentAnswer{Address: addr, Signature: sig}, err
	case "bsms-record":
		rec, err := s.BSMSKeyRecord(ctx, req.Token, req.Description, descriptor.Path(req.Path))
		if err != nil {
			return agentAnswer{}, err
		}
		return agentAnswer{Record: rec.Plaintext()}, nil
	}
	w, err := agentWallet(req)
	if err != nil {
		return agentAnswer{}, err
	}
	switch req.Op {
	case "register":
		_, err := s.Register(ctx, w)
		return agentAnswer{}, err
	case "address":
		addr, err := s.DisplayAddress(ctx, w, req.Branch, req.Index)
		return agentAnswer{Address: addr}, err
	case "sign":
		p, err := psbt.Decode(req.PSBT)
		if err != nil {
			return agentAnswer{}, err
		}
		out, err := s.SignPSBT(ctx, p, w)
		if err != nil {
			return agentAnswer{}, err
		}
		raw, err := psbt.Serialize(out)
		return agentAnswer{PSBT: raw}, err
	}
	return agentAnswer{}, fmt.Errorf("%w: the agent does not know %q", hw.ErrUnsupported, req.Op)
}

// agentWallet reads the wallet a request names.
func agentWallet(req *agentRequest) (*hw.Wallet, error) {
	d, err := descriptor.Parse(req.Descriptor)
	if err != nil {
		return nil, fmt.Errorf("%w: the wallet's descriptor: %v", psbt.ErrMalformed, err)
	}
	net, err := descriptor.NetworkParams(req.Network)
	if err != nil {
		return nil, fmt.Errorf("%w: the wallet's network: %v", psbt.ErrMalformed, err)
	}
	return &hw.Wallet{Name: req.WalletName, Descriptor: d, Network: net}, nil
}

// AgentSigner reaches an unlocked key's agent. It implements hw.Device:
// wrap it with hw.NewSigner, as any signer.
type AgentSigner struct {
	path string
	info agentAnswer
	fp   [4]byte
	net  *chaincfg.Params
}

var _ hw.Device = (*AgentSigner)(nil)

// DialAgent finds key name's agent. ok is false when the key is not
// unlocked (no socket, or no agent answering on it).
func (s *Store) DialAgent(ctx context.Context, name string) (a *AgentSigner, ok bool, err error) {
	if err := checkName(name); err != nil {
		return nil, false, err
	}
	a = &AgentSigner{path: s.AgentPath(name)}
	if _, err := os.Lstat(a.path); errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	info, err := a.ask(ctx, &agentRequest{Op: "info"})
	if err != nil {
		var ne *net.OpError
		if errors.As(err, &ne) && ne.Op == "dial" {
			return nil, false, nil // an agent that is gone
		}
		return nil, false, err
	}
	if info.Name != name {
		return nil, false, fmt.Errorf("%w: the agent at %s serves key %q, not %q", hw.ErrDevice, a.path, info.Name, name)
	}
	fp, err := hex.DecodeString(info.Fingerprint)
	if err != nil || len(fp) != 4 {
		return nil, false, fmt.Errorf("%w: the agent at %s gave fingerprint %q", hw.ErrDevice, a.path, info.Fingerprint)
	}
	copy(a.fp[:], fp)
	if a.net, err = descriptor.NetworkParams(info.Network); err != nil {
		return nil, false, fmt.Errorf("%w: the agent at %s gave network %q", hw.ErrDevice, a.path, info.Network)
	}
	a.info = *info
	return a, true, nil
}

// Until is when the agent locks the key by itself; PID is its process.
func (a *AgentSigner) Until() time.Time { return a.info.Until }

// PID is the agent's process id.
func (a *AgentSigner) PID() int { return a.info.PID }

// Lock asks the agent to wipe the key and stop.
func (a *AgentSigner) Lock(ctx context.Context) error {
	_, err := a.ask(ctx, &agentRequest{Op: "lock"})
	return err
}

// ask sends one request and reads the answer.
func (a *AgentSigner) ask(ctx context.Context, req *agentRequest) (*agentAnswer, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", a.path)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	// An agent that stopped answering (suspended, wedged) fails the
	// request instead of hanging the command: a few seconds for a
	// question, two minutes (the agent's own limit) for a signature.
	dl := time.Now().Add(5 * time.Second)
	if req.Op == "sign" {
		dl = time.Now().Add(2 * time.Minute)
	}
	if d, ok := ctx.Deadline(); ok && d.Before(dl) {
		dl = d
	}
	_ = c.SetDeadline(dl)
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	if err := json.NewEncoder(c).Encode(req); err != nil {
		return nil, fmt.Errorf("%w: key agent %s: %v", hw.ErrDisconnected, a.path, err)
	}
	var ans agentAnswer
	if err := json.NewDecoder(io.LimitReader(c, maxAgentMessage)).Decode(&ans); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%w: key agent %s: %v", hw.ErrDisconnected, a.path, err)
	}
	if ans.Error != "" {
		return nil, errOfKind(ans.Kind, ans.Error)
	}
	return &ans, nil
}

// Info names the unlocked key.
func (a *AgentSigner) Info() hw.DeviceInfo {
	return hw.DeviceInfo{Type: "key", Model: "software key (unlocked)", Path: a.info.Name, Fingerprint: a.info.Fingerprint, Name: "software key " + a.info.Name}
}

// Fingerprint is the key's master fingerprint.
func (a *AgentSigner) Fingerprint(ctx context.Context) ([4]byte, error) {
	return a.fp, ctx.Err()
}

// Xpub asks the agent for the extended public key at path.
func (a *AgentSigner) Xpub(ctx context.Context, path descriptor.Path) (*hdkeychain.ExtendedKey, error) {
	ans, err := a.ask(ctx, &agentRequest{Op: "xpub", Path: path})
	if err != nil {
		return nil, err
	}
	k, err := hdkeychain.NewKeyFromString(ans.Xpub)
	if err != nil || k.IsPrivate() {
		return nil, fmt.Errorf("%w: the agent's xpub does not parse as a public key", hw.ErrDevice)
	}
	return k, nil
}

func walletRequest(op string, w *hw.Wallet) *agentRequest {
	return &agentRequest{Op: op, WalletName: w.Name, Descriptor: w.Descriptor.String(), Network: w.Network.Name}
}

// Register does what a software key does: nothing to enrol.
func (a *AgentSigner) Register(ctx context.Context, w *hw.Wallet) ([]byte, error) {
	_, err := a.ask(ctx, walletRequest("register", w))
	return nil, err
}

// DisplayAddress has the agent derive the address (a software key has no
// screen: not an independent check).
func (a *AgentSigner) DisplayAddress(ctx context.Context, w *hw.Wallet, branch, index uint32) (string, error) {
	req := walletRequest("address", w)
	req.Branch, req.Index = branch, index
	ans, err := a.ask(ctx, req)
	if err != nil {
		return "", err
	}
	return ans.Address, nil
}

// SignPSBT has the agent sign p (the adapter's private copy); the adapter
// takes back only new signatures, each verified.
func (a *AgentSigner) SignPSBT(ctx context.Context, p *bpsbt.Packet, w *hw.Wallet) (*bpsbt.Packet, error) {
	raw, err := psbt.Serialize(p)
	if err != nil {
		return nil, err
	}
	req := walletRequest("sign", w)
	req.PSBT = raw
	ans, err := a.ask(ctx, req)
	if err != nil {
		return nil, err
	}
	// The adapter (hw.Signer) checks that it is the same transaction and
	// takes back only new, verified signatures, as from any device.
	out, err := psbt.Decode(ans.PSBT)
	if err != nil {
		return nil, fmt.Errorf("%w: the agent's PSBT: %v", hw.ErrDevice, err)
	}
	return out, nil
}

// Network is the key's network.
func (a *AgentSigner) Network() *chaincfg.Params { return a.net }

// SignMessage has the agent sign message with the master key, as
// Signer.SignMessage does (journal sign). The answer is checked as a
// device's signature is: the signature must verify for the address, and
// the address must be the master key's (its HASH160 begins with the
// fingerprint).
func (a *AgentSigner) SignMessage(ctx context.Context, message string) (address, signature string, err error) {
	ans, err := a.ask(ctx, &agentRequest{Op: "message", Message: message})
	if err != nil {
		return "", "", a.olderAgent(err)
	}
	addr, err := btcutil.DecodeAddress(ans.Address, a.net)
	pkh, ok := addr.(*btcutil.AddressPubKeyHash)
	if err != nil || !ok || !bytes.Equal(pkh.Hash160()[:4], a.fp[:]) {
		return "", "", fmt.Errorf("%w: the agent signed with address %q, which is not key [%s]'s", hw.ErrDevice, ans.Address, a.info.Fingerprint)
	}
	if err := bip137.Verify(ans.Address, ans.Signature, message, a.net); err != nil {
		return "", "", fmt.Errorf("%w: the agent's message signature: %v", hw.ErrDevice, err)
	}
	return ans.Address, ans.Signature, nil
}

// BSMSKeyRecord has the agent make and sign the key's BIP-129 key record
// at path, as Signer.BSMSKeyRecord does (bsms record). The record is read
// back as a coordinator would read it (signature, token) and must be for
// this key at path, with the description asked for.
func (a *AgentSigner) BSMSKeyRecord(ctx context.Context, token, description string, path descriptor.Path) (*formats.KeyRecord, error) {
	ans, err := a.ask(ctx, &agentRequest{Op: "bsms-record", Token: token, Description: description, Path: path})
	if err != nil {
		return nil, a.olderAgent(err)
	}
	rec, err := formats.ParseBSMSKeyRecord(ans.Record, token)
	if err != nil {
		return nil, fmt.Errorf("%w: the agent's key record: %v", hw.ErrDevice, err)
	}
	o := rec.Key.Origin
	if o == nil || o.Fingerprint != a.fp || !path.Equal(o.Path) || rec.Key.XPub == nil || rec.Description != description {
		return nil, fmt.Errorf("%w: the agent's key record is not key [%s]'s at %s with the description asked for", hw.ErrDevice, a.info.Fingerprint, path)
	}
	return rec, nil
}

// olderAgent explains an agent that does not know a request: one started
// by an older countersign, before an upgrade, signs PSBTs only.
func (a *AgentSigner) olderAgent(err error) error {
	if errors.Is(err, hw.ErrUnsupported) {
		return fmt.Errorf("%w (the agent was started by an older countersign: countersign key lock %s, then key unlock it again)", err, a.info.Name)
	}
	return err
}

// Close does nothing: the agent keeps the key until it locks.
func (a *AgentSigner) Close() error { return nil }
