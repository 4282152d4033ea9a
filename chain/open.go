package chain

// OpenOptions adjust Open.
type OpenOptions struct {
	// Insecure allows a URL that sends RPC credentials or the wallet's
	// addresses unencrypted to another computer (plain HTTP to a host
	// that is neither loopback nor a .onion). It is an option of the
	// caller, not of the URL, so a URL copied elsewhere does not carry
	// the permission with it.
	Insecure bool
}

// Open returns the backend a URL names (see the package documentation for
// the forms), refusing a URL that would send credentials or addresses
// unencrypted to another computer (ErrInsecure). It only parses and
// prepares: nothing is contacted until the first call, so Open succeeds
// for a node that is down.
func Open(rawURL string) (Backend, error) {
	return OpenWith(rawURL, OpenOptions{})
}

// OpenWith is Open with options.
func OpenWith(rawURL string, opt OpenOptions) (Backend, error) {
	e, err := parseURL(rawURL)
	if err != nil {
		return nil, err
	}
	if e.cleartext() && !opt.Insecure {
		return nil, e.insecureError()
	}
	e.insecure = opt.Insecure
	switch e.kind {
	case kindBtcd:
		return newBtcd(e)
	case kindCore:
		return newCore(e)
	default:
		return newEsplora(e)
	}
}

// Cleartext reports whether a backend URL sends credentials or addresses
// unencrypted to another computer, which OpenWith allows only with
// Insecure. Errors are those of parsing (ErrBadURL).
func Cleartext(rawURL string) (bool, error) {
	e, err := parseURL(rawURL)
	if err != nil {
		return false, err
	}
	return e.cleartext(), nil
}
