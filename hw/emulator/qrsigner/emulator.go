// Package qrsigner emulates an air-gapped signer that talks through QR
// codes, the way SeedSigner and Keystone do: it reads what its camera
// would scan as text parts, one a line (BC-UR, or BBQr as a Coldcard Q
// reads), and answers with the parts its screen would show, one a line.
//
// It holds a BIP-39 seed and one registered multisig wallet, given as a
// descriptor (Config.Wallet, as SeedSigner's "scan a descriptor" step) or
// scanned as a crypto-output UR. For a PSBT (ur:crypto-psbt, ur:psbt, or a
// BBQr of type P) it:
//
//   - parses the PSBT itself (BIP-174 maps, passed through untouched);
//   - checks that every input it signs spends the wallet's script at the
//     position its own BIP-32 derivation names (witness and redeem scripts
//     and the spent scriptPubKey, derived from the wallet's xpubs), that
//     the two UTXO records agree and only SIGHASH_ALL is asked;
//   - refuses any output that carries a wallet key's derivation (claims to
//     be change) but is not the wallet's address at that position;
//   - shows the amounts, fee and change on its "screen" (the log) and,
//     unless Config.Reject, signs every input it holds a key of with its
//     own BIP-143 or legacy digest and answers the PSBT with the partial
//     signatures added, in the transport it was asked in.
//
// The wallet, PSBT, sighash and signing code is the emulator's own and
// shares nothing with countersign's descriptor, psbt or hw packages. The
// QR transports are hw/qr/ur and hw/qr/bbqr, which are cross-checked
// against Blockchain Commons' and Coinkite's own implementations in their
// tests; the registry CBOR (crypto-output, crypto-account) is its own.
//
// Known differences from the devices: one wallet at a time, multisig
// inputs only (no single-key spends), no address verification, no
// taproot, and the answer is the whole PSBT (SeedSigner trims it; both are
// valid answers).
package qrsigner

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/tyler-smith/go-bip39"

	"github.com/countersign/countersign/hw/qr/bbqr"
	"github.com/countersign/countersign/hw/qr/ur"
)

// Config sets up an emulator.
type Config struct {
	Mnemonic   string // BIP-39 words of the seed
	Passphrase string // BIP-39 passphrase
	// Network picks the coin type of the account export and the address
	// format on the screen (testnet when nil).
	Network *chaincfg.Params
	// Wallet is the registered multisig wallet's descriptor; empty waits
	// for a crypto-output scan.
	Wallet string
	// Reject refuses every PSBT, as if the user pressed "no".
	Reject bool
	// MaxFragment is the UR fragment length of answers (200 when 0).
	MaxFragment int
	// Log receives the screen: what the device shows and why it refuses.
	Log io.Writer
}

// Emulator is one emulated QR signer.
type Emulator struct {
	cfg    Config
	net    *chaincfg.Params
	master *hdkeychain.ExtendedKey
	fp     [4]byte
	wallet *wallet
}

// New makes an emulator from its seed and, when given, wallet.
func New(cfg Config) (*Emulator, error) {
	words := strings.Join(strings.Fields(cfg.Mnemonic), " ")
	if !bip39.IsMnemonicValid(words) {
		return nil, errors.New("qrsigner emulator: the mnemonic is not a valid BIP-39 phrase")
	}
	e := &Emulator{cfg: cfg, net: cfg.Network}
	if e.net == nil {
		e.net = &chaincfg.TestNet3Params
	}
	m, err := hdkeychain.NewMaster(bip39.NewSeed(words, cfg.Passphrase), e.net)
	if err != nil {
		return nil, err
	}
	pub, err := m.ECPubKey()
	if err != nil {
		return nil, err
	}
	e.master = m
	copy(e.fp[:], btcutil.Hash160(pub.SerializeCompressed())[:4])
	if cfg.Wallet != "" {
		if e.wallet, err = parseWallet(cfg.Wallet); err != nil {
			return nil, fmt.Errorf("qrsigner emulator: wallet: %w", err)
		}
		if err := e.checkOwnKey(e.wallet); err != nil {
			return nil, fmt.Errorf("qrsigner emulator: %w", err)
		}
	}
	return e, nil
}

// Fingerprint is the master key fingerprint.
func (e *Emulator) Fingerprint() [4]byte { return e.fp }

// derive walks path from the master key.
func (e *Emulator) derive(path []uint32) (*hdkeychain.ExtendedKey, error) {
	k := e.master
	for _, s := range path {
		var err error
		if k, err = k.Derive(s); err != nil {
			return nil, err
		}
	}
	return k, nil
}

// checkOwnKey makes sure the device holds one of the wallet's keys, at the
// xpub the wallet names: a device refuses to register a wallet it is not
// part of.
func (e *Emulator) checkOwnKey(w *wallet) error {
	for _, k := range w.keys {
		if k.fingerprint != e.fp {
			continue
		}
		mine, err := e.derive(k.origin)
		if err != nil {
			return err
		}
		pub, err := mine.Neuter()
		if err != nil {
			return err
		}
		a, _ := pub.ECPubKey()
		b, _ := k.xpub.ECPubKey()
		if a.IsEqual(b) && string(pub.ChainCode()) == string(k.xpub.ChainCode()) {
			return nil
		}
		return fmt.Errorf("the wallet's key with this device's fingerprint %x at %s is not this device's key", e.fp, pathString(k.origin))
	}
	return fmt.Errorf("this device (fingerprint %x) holds none of the wallet's keys", e.fp)
}

// AccountUR is the cosigner export the device shows on "Export Xpub":
// one ur:crypto-account part.
func (e *Emulator) AccountUR() (string, error) {
	msg, err := e.accountCBOR()
	if err != nil {
		return "", err
	}
	return ur.Encode(ur.UR{Type: ur.TypeCryptoAccount, CBOR: msg})
}

func (e *Emulator) logf(format string, args ...any) {
	if e.cfg.Log != nil {
		fmt.Fprintf(e.cfg.Log, format+"\n", args...)
	}
}

// Run scans lines from in until it ends or ctx is done, and answers each
// complete PSBT on out, one part a line. A registration, a refusal or a
// line that is no part is only logged. It returns nil at the end of in.
func (e *Emulator) Run(ctx context.Context, in io.Reader, out io.Writer) error {
	lines := make(chan string)
	errc := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(in)
		sc.Buffer(make([]byte, 0, 4096), 64<<10)
		for sc.Scan() {
			select {
			case lines <- strings.TrimSpace(sc.Text()):
			case <-ctx.Done():
				return
			}
		}
		errc <- sc.Err()
		close(lines)
	}()
	var cam camera
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case l, ok := <-lines:
			if !ok {
				return <-errc
			}
			if l == "" {
				continue
			}
			msg, err := cam.scan(l)
			if err != nil {
				e.logf("scan ignored: %v", err)
				continue
			}
			if msg == nil {
				continue
			}
			if err := e.handle(msg, out); err != nil {
				e.logf("%v", err)
			}
		}
	}
}

// scanned is one complete QR message.
type scanned struct {
	bbqr     bool
	fileType byte   // BBQr
	urType   string // UR
	data     []byte // the file (BBQr) or the CBOR message (UR)
}

// camera assembles parts into messages, one at a time.
type camera struct {
	ud *ur.Decoder
	bj *bbqr.Joiner
}

// scan feeds one line; it returns the message once complete.
func (c *camera) scan(l string) (*scanned, error) {
	switch {
	case strings.HasPrefix(strings.ToLower(l), "ur:"):
		if c.ud == nil {
			c.ud = &ur.Decoder{MaxMessageLen: maxPSBT}
		}
		if _, err := c.ud.Receive(l); err != nil {
			if errors.Is(err, ur.ErrMixed) {
				// A new UR: the device starts over, as a camera does.
				c.ud = &ur.Decoder{MaxMessageLen: maxPSBT}
				_, err = c.ud.Receive(l)
			}
			if err != nil {
				return nil, err
			}
		}
		if !c.ud.IsComplete() {
			return nil, nil
		}
		u, err := c.ud.Result()
		c.ud = nil
		if err != nil {
			return nil, err
		}
		return &scanned{urType: u.Type, data: u.CBOR}, nil
	case strings.HasPrefix(l, "B$"):
		if c.bj == nil {
			c.bj = &bbqr.Joiner{MaxSize: maxPSBT}
		}
		if _, err := c.bj.Add(l); err != nil {
			if errors.Is(err, bbqr.ErrMixed) {
				c.bj = &bbqr.Joiner{MaxSize: maxPSBT}
				_, err = c.bj.Add(l)
			}
			if err != nil {
				return nil, err
			}
		}
		if !c.bj.Complete() {
			return nil, nil
		}
		ft, data, err := c.bj.Result()
		c.bj = nil
		if err != nil {
			return nil, err
		}
		return &scanned{bbqr: true, fileType: ft, data: data}, nil
	}
	return nil, fmt.Errorf("not a QR part: %.40q", l)
}

// handle acts on one complete message.
func (e *Emulator) handle(m *scanned, out io.Writer) error {
	var raw []byte
	switch {
	case m.bbqr && m.fileType == bbqr.FileTypePSBT:
		raw = m.data
	case m.bbqr:
		return fmt.Errorf("BBQr of type %c: this device reads PSBTs (P)", m.fileType)
	case m.urType == ur.TypeCryptoOutput:
		w, err := walletFromCryptoOutput(m.data)
		if err != nil {
			return fmt.Errorf("descriptor scan refused: %w", err)
		}
		if err := e.checkOwnKey(w); err != nil {
			return fmt.Errorf("descriptor scan refused: %w", err)
		}
		e.wallet = w
		e.logf("registered wallet %s", w)
		return nil
	case m.urType == ur.TypeCryptoPSBT || m.urType == ur.TypePSBT:
		var err error
		if raw, err = ur.DecodePSBT(m.data); err != nil {
			return err
		}
	default:
		return fmt.Errorf("ur:%s: this device reads crypto-psbt, psbt and crypto-output", m.urType)
	}
	r, err := e.reviewPSBT(raw)
	if err != nil {
		return fmt.Errorf("PSBT refused: %w", err)
	}
	e.logf("transaction %s\n%s", txid(r.p.tx), r.screen)
	if e.cfg.Reject {
		return fmt.Errorf("PSBT %w", ErrRejected)
	}
	signed, err := e.sign(r)
	if err != nil {
		return fmt.Errorf("signing failed: %w", err)
	}
	parts, err := e.answer(m, signed)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(out)
	for _, p := range parts {
		bw.WriteString(p)
		bw.WriteByte('\n')
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	e.logf("signed %d input(s); showing the signed PSBT in %d part(s)", len(r.toSign), len(parts))
	return nil
}

// answer encodes the signed PSBT in the transport of the request, as the
// screen shows it (upper case, the QR alphanumeric set).
func (e *Emulator) answer(m *scanned, signed []byte) ([]string, error) {
	if m.bbqr {
		parts, _, err := bbqr.Split(signed, bbqr.FileTypePSBT, bbqr.SplitOptions{MaxVersion: 15})
		return parts, err
	}
	msg, err := ur.EncodePSBT(signed)
	if err != nil {
		return nil, err
	}
	frag := e.cfg.MaxFragment
	if frag <= 0 {
		frag = 200
	}
	enc, err := ur.NewEncoder(m.urType, msg, frag, 10)
	if err != nil {
		return nil, err
	}
	parts := enc.Parts(enc.SeqLen())
	for i := range parts {
		parts[i] = strings.ToUpper(parts[i])
	}
	return parts, nil
}
