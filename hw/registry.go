package hw

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/countersign/countersign/hw/transport"
)

var (
	// ErrAmbiguous means a selector matched more than one device; the
	// message lists selectors that pick each one. It is bad usage: the
	// caller must say which.
	ErrAmbiguous = errors.New("more than one signer matches")
	// ErrBadSelector means a signer selector is malformed or of a kind this
	// package does not resolve.
	ErrBadSelector = errors.New("invalid signer selector")
)

// EnvEmulators enables emulator endpoints when set to "1".
const EnvEmulators = "COUNTERSIGN_EMULATORS"

// DefaultProbeTimeout bounds how long one device may take to describe itself
// during a scan.
const DefaultProbeTimeout = 5 * time.Second

// Prompter tells the user what to do on the device: drivers call it right
// before they wait for a button press ("Confirm the 2-of-3 wallet 'treasury'
// on your Coldcard"). It must not block.
type Prompter func(msg string)

// Prompt calls p when it is set; drivers use it so a nil Prompter is silent.
func (p Prompter) Prompt(msg string) {
	if p != nil {
		p(msg)
	}
}

// DeviceInfo describes one signer found by a scan. Field names are stable:
// `countersign device list --json` prints them.
type DeviceInfo struct {
	Type        string `json:"type"`                  // driver name, the selector keyword: "coldcard"
	Model       string `json:"model"`                 // "Coldcard mk4", "Coldcard emulator"
	Path        string `json:"path"`                  // USB path or emulator endpoint; what path: selects
	Transport   string `json:"transport"`             // "hid", "unixgram", "udp", "tcp"
	Fingerprint string `json:"fingerprint,omitempty"` // master key fingerprint (lower-case hex) when known without a prompt
	Emulator    bool   `json:"emulator"`
	Error       string `json:"error,omitempty"` // why the device could not be opened or described
	// Name, when set, is how messages refer to a signer that is not a USB
	// device ("software key office"); see Signer.Name.
	Name string `json:"-"`
}

// Selector returns the most specific selector that picks this device.
func (d DeviceInfo) Selector() string {
	if d.Fingerprint != "" {
		return d.Type + ":" + d.Fingerprint
	}
	return "path:" + d.Path
}

func (d DeviceInfo) String() string {
	s := d.Selector()
	if d.Fingerprint != "" {
		s += " (" + d.Path + ")"
	}
	if d.Error != "" {
		s += ": " + d.Error
	}
	return s
}

// USBID is a vendor/product pair a driver claims.
type USBID struct {
	VendorID, ProductID uint16
}

// EmulatorEndpoint says where a driver's emulator (the vendor's simulator or
// countersign-emulator) listens when emulators are enabled.
type EmulatorEndpoint struct {
	Transport string // "unixgram", "udp" or "tcp"
	Env       string // environment variable overriding the address, e.g. COUNTERSIGN_COLDCARD_SOCKET
	Default   string // address when Env is unset, e.g. /tmp/ckcc-simulator.sock
}

// Endpoint is one place a device can be opened.
type Endpoint struct {
	Transport string             // "hid", "unixgram", "udp" or "tcp"
	Path      string             // HID path, socket file or host:port
	Emulator  bool               // an emulator endpoint rather than USB
	Explicit  bool               // an emulator endpoint named in the environment, not a default
	HID       *transport.HIDInfo // USB details when Transport is "hid"
}

// Driver is one device family. Each vendor package returns one (for example
// coldcard.Driver()); the caller passes them to NewRegistry.
type Driver struct {
	Type     string // selector keyword, lower case: "coldcard"
	USB      []USBID
	Emulator *EmulatorEndpoint // nil when the family has no emulator endpoint
	// MatchHID, when set, keeps only the HID interfaces the driver talks
	// to: a device may also expose FIDO/U2F or debug interfaces, which
	// would otherwise show up as unusable entries.
	MatchHID func(transport.HIDInfo) bool
	// Extra, when set, lists endpoints the driver finds itself, such as
	// WebUSB (raw USB) interfaces, which HID enumeration does not see.
	Extra func() ([]Endpoint, error)
	// Open connects to the device at ep. Drivers wrap their failures in
	// ErrDevice and name the device in the message.
	Open func(ctx context.Context, ep Endpoint, prompt Prompter) (Device, error)
}

// Registry finds attached signers. Build one with NewRegistry and adjust its
// fields before use; it holds no global state and is safe for sequential use.
type Registry struct {
	Drivers []Driver
	// Emulators adds the drivers' emulator endpoints to scans. The
	// COUNTERSIGN_EMULATORS=1 environment variable does the same.
	Emulators bool
	// Getenv reads the environment (os.Getenv by default; tests replace it).
	Getenv func(string) string
	// Prompt is handed to the drivers for button-press instructions.
	Prompt Prompter
	// ListHID lists USB HID interfaces (transport.EnumerateHID by default).
	ListHID func(vendorID, productID uint16) ([]transport.HIDInfo, error)
	// ProbeTimeout bounds opening and describing one device in a scan.
	ProbeTimeout time.Duration
}

// NewRegistry returns a Registry over drivers with default settings.
func NewRegistry(drivers ...Driver) *Registry {
	return &Registry{
		Drivers:      drivers,
		Getenv:       os.Getenv,
		ListHID:      transport.EnumerateHID,
		ProbeTimeout: DefaultProbeTimeout,
	}
}

func (r *Registry) getenv(k string) string {
	if r.Getenv == nil {
		return os.Getenv(k)
	}
	return r.Getenv(k)
}

func (r *Registry) emulatorsEnabled() bool {
	return r.Emulators || r.getenv(EnvEmulators) == "1"
}

// found is one probed endpoint; dev is open when the probe succeeded.
type found struct {
	info DeviceInfo
	dev  Device
}

// endpoints lists where each driver's devices can be opened. A USB listing
// failure (a build without cgo, no permission) becomes an entry carrying the
// error, so `device list` explains why nothing shows up.
func (r *Registry) endpoints(drv *Driver) ([]Endpoint, []DeviceInfo) {
	var eps []Endpoint
	var failed []DeviceInfo
	list := r.ListHID
	if list == nil {
		list = transport.EnumerateHID
	}
	seen := map[string]bool{}
	for _, id := range drv.USB {
		hids, err := list(id.VendorID, id.ProductID)
		if err != nil {
			failed = append(failed, DeviceInfo{Type: drv.Type, Transport: "hid", Error: err.Error()})
			break
		}
		for i := range hids {
			if seen[hids[i].Path] || (drv.MatchHID != nil && !drv.MatchHID(hids[i])) {
				continue
			}
			seen[hids[i].Path] = true
			eps = append(eps, Endpoint{Transport: "hid", Path: hids[i].Path, HID: &hids[i]})
		}
	}
	if drv.Extra != nil {
		extra, err := drv.Extra()
		if err != nil {
			failed = append(failed, DeviceInfo{Type: drv.Type, Transport: "usb", Error: err.Error()})
		}
		eps = append(eps, extra...)
	}
	if e := drv.Emulator; e != nil && r.emulatorsEnabled() {
		addrs := []string{e.Default}
		explicit := false
		if e.Env != "" {
			// Several emulators of one family (a demo with two Coldcards)
			// are listed comma-separated.
			if v := r.getenv(e.Env); v != "" {
				addrs = strings.Split(v, ",")
				explicit = true
			}
		}
		for _, addr := range addrs {
			addr = strings.TrimSpace(addr)
			if addr == "" {
				continue
			}
			// A socket file that does not exist is an emulator that is not
			// running: nothing attached, not an error.
			if _, err := os.Stat(addr); e.Transport != "unixgram" || err == nil {
				eps = append(eps, Endpoint{Transport: e.Transport, Path: addr, Emulator: true, Explicit: explicit})
			}
		}
	}
	return eps, failed
}

// scan opens every endpoint accepted by want and describes it, in a stable
// order (type, then path). The devices that opened are returned open; the
// caller closes them.
func (r *Registry) scan(ctx context.Context, want func(*Driver, Endpoint) bool) []found {
	var out []found
	for i := range r.Drivers {
		drv := &r.Drivers[i]
		eps, failed := r.endpoints(drv)
		for _, f := range failed {
			out = append(out, found{info: f})
		}
		for _, ep := range eps {
			if want != nil && !want(drv, ep) {
				continue
			}
			f := r.probe(ctx, drv, ep)
			// An emulator at its default endpoint that does not answer is
			// simply not running: nothing attached, not an error. One the
			// user named in the environment is listed with its error.
			if f.dev == nil && ep.Emulator && !ep.Explicit {
				continue
			}
			out = append(out, f)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i].info, out[j].info
		if a.Type != b.Type {
			return a.Type < b.Type
		}
		return a.Path < b.Path
	})
	return out
}

func (r *Registry) probe(ctx context.Context, drv *Driver, ep Endpoint) found {
	base := DeviceInfo{Type: drv.Type, Path: ep.Path, Transport: ep.Transport, Emulator: ep.Emulator}
	if drv.Open == nil {
		base.Error = "driver cannot open devices"
		return found{info: base}
	}
	timeout := r.ProbeTimeout
	if timeout <= 0 {
		timeout = DefaultProbeTimeout
	}
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	dev, err := drv.Open(pctx, ep, r.Prompt)
	if err != nil {
		base.Error = err.Error()
		return found{info: base}
	}
	info := dev.Info()
	// The registry knows where it opened the device; the driver knows what
	// it is. Fill in whatever the driver left out.
	if info.Type == "" {
		info.Type = base.Type
	}
	if info.Path == "" {
		info.Path = base.Path
	}
	if info.Transport == "" {
		info.Transport = base.Transport
	}
	info.Emulator = info.Emulator || base.Emulator
	info.Fingerprint = strings.ToLower(info.Fingerprint)
	return found{info: info, dev: dev}
}

func closeAll(fs []found) {
	for _, f := range fs {
		if f.dev != nil {
			f.dev.Close()
		}
	}
}

// Enumerate lists the attached signers, and the emulators when enabled. A
// device that cannot be opened or described is listed with its Error set;
// Enumerate itself fails only when ctx ends.
func (r *Registry) Enumerate(ctx context.Context) ([]DeviceInfo, error) {
	fs := r.scan(ctx, nil)
	closeAll(fs)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	infos := make([]DeviceInfo, 0, len(fs))
	for _, f := range fs {
		infos = append(infos, f.info)
	}
	return infos, nil
}

// selector is a parsed device selector.
type selector struct {
	kind        string // driver type; "" for path:
	fingerprint string // lower-case hex; "" for any
	path        string
}

func (r *Registry) types() []string {
	var ts []string
	for _, d := range r.Drivers {
		ts = append(ts, d.Type)
	}
	return ts
}

// acceptedForms lists the selector forms Select resolves, for error messages.
func (r *Registry) acceptedForms() string {
	var forms []string
	for _, t := range r.types() {
		forms = append(forms, t, t+":FINGERPRINT")
	}
	forms = append(forms, "path:PATH")
	return strings.Join(forms, ", ")
}

func (r *Registry) parseSelector(spec string) (selector, error) {
	kind, rest, hasArg := strings.Cut(strings.TrimSpace(spec), ":")
	if kind == "path" {
		if rest == "" {
			return selector{}, fmt.Errorf("%w: %q needs a path after path: (accepted: %s)", ErrBadSelector, spec, r.acceptedForms())
		}
		return selector{path: rest}, nil
	}
	kind = strings.ToLower(kind)
	for _, t := range r.types() {
		if kind != t {
			continue
		}
		if !hasArg {
			return selector{kind: kind}, nil
		}
		fp := strings.ToLower(rest)
		if b, err := hex.DecodeString(fp); err != nil || len(b) != 4 {
			return selector{}, fmt.Errorf("%w: %q: the fingerprint must be 8 hex digits, like %s:0f056943", ErrBadSelector, spec, kind)
		}
		return selector{kind: kind, fingerprint: fp}, nil
	}
	return selector{}, fmt.Errorf("%w: unknown signer kind %q in %q (accepted here: %s)", ErrBadSelector, kind, spec, r.acceptedForms())
}

// Select opens the one device spec picks, wrapped in the Signer adapter:
//
//	coldcard            the only Coldcard attached
//	coldcard:0F056943   the Coldcard with that master fingerprint (hex, any case)
//	path:/tmp/x.sock    the device at that USB path or emulator endpoint
//
// No match is ErrNoDevice; several matches is ErrAmbiguous, listing a
// selector for each. Other kinds (key:NAME, file:DIR, hwi:...) are the CLI's
// to resolve and are ErrBadSelector here. The returned Signer is open; the
// caller closes it.
func (r *Registry) Select(ctx context.Context, spec string) (*Signer, error) {
	sel, err := r.parseSelector(spec)
	if err != nil {
		return nil, err
	}
	fs := r.scan(ctx, func(d *Driver, ep Endpoint) bool {
		if sel.path != "" {
			return ep.Path == sel.path
		}
		return d.Type == sel.kind
	})
	if err := ctx.Err(); err != nil {
		closeAll(fs)
		return nil, err
	}
	var match, unusable []found
	var others []string // same type, other fingerprint
	for _, f := range fs {
		if f.dev == nil {
			if f.info.Path != "" {
				unusable = append(unusable, f)
			}
			continue
		}
		if sel.fingerprint != "" && !fingerprintIs(ctx, &f, sel.fingerprint) {
			others = append(others, f.info.String())
			f.dev.Close()
			continue
		}
		match = append(match, f)
	}
	switch len(match) {
	case 1:
		s := NewSigner(match[0].dev)
		s.info = match[0].info
		return s, nil
	case 0:
		detail := ""
		if len(others) > 0 {
			detail += "; attached: " + strings.Join(others, ", ")
		}
		if len(unusable) > 0 {
			var why []string
			for _, f := range unusable {
				why = append(why, f.info.String())
			}
			detail += "; found but unusable: " + strings.Join(why, "; ")
		}
		return nil, fmt.Errorf("%w: nothing matches %q%s", ErrNoDevice, spec, detail)
	default:
		closeAll(match)
		var choices []string
		for _, f := range match {
			choices = append(choices, f.info.String())
		}
		return nil, fmt.Errorf("%w: %d devices match %q; pick one with: %s", ErrAmbiguous, len(match), spec, strings.Join(choices, ", "))
	}
}

// fingerprintIs reports whether f's master fingerprint is fp, asking the
// device when the scan could not learn it without a prompt.
func fingerprintIs(ctx context.Context, f *found, fp string) bool {
	if f.info.Fingerprint == "" {
		got, err := f.dev.Fingerprint(ctx)
		if err != nil {
			return false
		}
		f.info.Fingerprint = hex.EncodeToString(got[:])
	}
	return f.info.Fingerprint == fp
}
