package jade

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"sync"

	"github.com/fxamacker/cbor/v2"
)

// PIN unlock (Blockstream/Jade@cfce08ce: docs/index.rst "auth_user",
// main/process/auth_user.c, main/process/pinclient.c,
// main/process/process_utils.c client_data_request_reply).
//
// A Jade never checks its PIN alone: it asks the user for it, then needs
// a blind PIN server to derive the key that decrypts its seed. It cannot
// reach the network itself, so it answers auth_user with an http_request
// naming the server's URLs and an opaque JSON payload; the host POSTs the
// payload and sends the server's JSON reply back with the method the
// request names ("pin"). The emulator keeps that exchange exactly and
// replaces only the cryptography: the payload is a nonce and a hash of the
// PIN typed, and the server (NewPINServer) answers with an HMAC of them
// under a secret it shares with the emulator, which unlocks when the HMAC
// is the one the right PIN gives.

// pinOnion is the firmware's second, onion, PIN server URL
// (PINSERVER_ONION); a host that cannot reach it uses the first.
const pinOnion = "http://mrrxtq6tjpbnbm7vh5jt6mpjctn7ggyfy5wegvbeff3x7jrznqawlmid.onion"

// pinDocument is the path of the unlock call on the PIN server.
const pinDocument = "get_pin"

func pinHash(pin string) []byte {
	h := sha256.Sum256([]byte("countersign jade emulator pin\x00" + pin))
	return h[:]
}

func pinMAC(secret, payload []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write(payload)
	return m.Sum(nil)
}

// httpRequest is the result of auth_user when the PIN server is needed.
type httpRequest struct {
	HTTPRequest struct {
		Params struct {
			URLs   []string          `cbor:"urls"`
			Method string            `cbor:"method"`
			Accept string            `cbor:"accept"`
			Data   map[string]string `cbor:"data"`
		} `cbor:"params"`
		OnReply string `cbor:"on-reply"`
	} `cbor:"http_request"`
}

// authUser is auth_user_process for a PIN-protected wallet.
func (s *session) authUser(ctx context.Context, req *request) error {
	e := s.e
	var p struct {
		Network string `cbor:"network"`
		Epoch   uint64 `cbor:"epoch"`
	}
	if err := req.params(&p); err != nil {
		return s.fail(req.ID, err)
	}
	n, rerr := e.checkNetwork(p.Network)
	if rerr != nil {
		return s.fail(req.ID, rerr)
	}
	e.mu.Lock()
	unlocked := e.unlocked
	e.mu.Unlock()
	if unlocked {
		e.restrict(n)
		return s.reply(req.ID, true)
	}

	// The user types the PIN on the device.
	entered, ok := e.cfg.PIN, true
	if e.cfg.PINEntry != nil {
		entered, ok = e.cfg.PINEntry(ctx)
	}
	e.approve(ctx, Screen{Kind: "pin"})
	if !ok {
		return s.fail(req.ID, rpcErr(codeUserCancelled, "User abandonded pin entry"))
	}
	nonce := make([]byte, 16)
	if _, err := rand.Read(nonce); err != nil {
		return s.fail(req.ID, rpcErr(codeInternal, "Failed to create Oracle message content"))
	}
	payload := append(nonce, pinHash(entered)...)
	var hr httpRequest
	base := strings.TrimRight(e.cfg.PINServer, "/")
	hr.HTTPRequest.Params.URLs = []string{base + "/" + pinDocument, pinOnion + "/" + pinDocument}
	hr.HTTPRequest.Params.Method = "POST"
	hr.HTTPRequest.Params.Accept = "json"
	hr.HTTPRequest.Params.Data = map[string]string{"data": base64.StdEncoding.EncodeToString(payload)}
	hr.HTTPRequest.OnReply = "pin"
	if err := s.reply(req.ID, hr); err != nil {
		return err
	}

	// Await the server's answer (handle_pin).
	next, err := s.next(ctx)
	if err != nil {
		return err
	}
	switch next.Method {
	case "cancel":
		return nil // the firmware abandons silently
	case "pin":
	default:
		return s.fail(next.ID, rpcErr(codeProtocol, "Unexpected message, expecting 'pin'"))
	}
	if len(next.Params) == 0 || next.Params[0]>>5 != 5 {
		// No answer from the server: the firmware offers a retry on its
		// screen; its unattended build, like this one, gives up.
		return s.fail(next.ID, rpcErr(codeBadParams, "Failed to read parameters from Oracle"))
	}
	var answer map[string]cbor.RawMessage
	var data string
	if decMode.Unmarshal(next.Params, &answer) != nil || decMode.Unmarshal(answer["data"], &data) != nil || data == "" {
		return s.fail(next.ID, rpcErr(codeBadParams, "data field missing"))
	}
	mac, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		return s.fail(next.ID, rpcErr(codeBadParams, "data field invalid"))
	}
	want := pinMAC(e.cfg.PINSecret, append(append([]byte(nil), nonce...), pinHash(e.cfg.PIN)...))
	if !hmac.Equal(mac, want) {
		// "Incorrect PIN!": the reply is false and the device stays locked.
		e.mu.Lock()
		e.badPINs++
		e.mu.Unlock()
		return s.reply(next.ID, false)
	}
	e.mu.Lock()
	e.unlocked = true
	e.badPINs = 0
	e.mu.Unlock()
	e.restrict(n)
	return s.reply(next.ID, true)
}

// restrict ties a wallet not yet tied to a network type to n's, as release
// firmware does after a successful auth_user.
func (e *Emulator) restrict(n network) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.networks == NetworksAll {
		e.networks = map[bool]string{false: NetworksMain, true: NetworksTest}[n.test]
	}
}

// BadPINs counts the wrong PINs since the last unlock.
func (e *Emulator) BadPINs() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.badPINs
}

// PINServer is the stand-in PIN server: POST /get_pin with {"data":
// base64} answers {"data": base64(HMAC-SHA256(secret, payload))}.
type PINServer struct {
	secret []byte
	mu     sync.Mutex
	calls  int
}

// NewPINServer returns a PIN server holding secret, to serve with
// net/http (httptest.NewServer in tests).
func NewPINServer(secret []byte) *PINServer {
	return &PINServer{secret: append([]byte(nil), secret...)}
}

// Calls counts the unlock requests answered.
func (p *PINServer) Calls() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls
}

func (p *PINServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/"+pinDocument {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	var body struct {
		Data string `json:"data"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&body); err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	payload, err := base64.StdEncoding.DecodeString(body.Data)
	if err != nil || len(payload) != 16+sha256.Size {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	p.mu.Lock()
	p.calls++
	p.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{"data": base64.StdEncoding.EncodeToString(pinMAC(p.secret, payload))})
}
