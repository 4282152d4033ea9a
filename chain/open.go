package chain

// Open returns the backend a URL names (see the package documentation for
// the forms). It only parses and prepares: nothing is contacted until the
// first call, so Open succeeds for a node that is down.
func Open(rawURL string) (Backend, error) {
	e, err := parseURL(rawURL)
	if err != nil {
		return nil, err
	}
	switch e.kind {
	case kindBtcd:
		return newBtcd(e)
	case kindCore:
		return newCore(e)
	default:
		return newEsplora(e)
	}
}
