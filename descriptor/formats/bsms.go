package formats

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/btcsuite/btcd/chaincfg"

	"github.com/countersign/countersign/descriptor"
)

// BIP-129 descriptor record constants.
const (
	bsmsVersion        = "BSMS 1.0"
	bsmsNoRestrictions = "No path restrictions"
	bsmsTemplate       = "/**"
	bsmsReceiveChange  = "/0/*,/1/*"
)

// exportBSMS writes a BIP-129 descriptor record. A wallet whose keys all end
// in /<0;1>/* becomes the BIP's template with /0/*,/1/* restrictions, the
// form its test vectors and Coldcard's coordinator use; any other wallet is
// written as its descriptor with no restrictions. Key origins mark hardened
// steps with an apostrophe, as every record in the BIP does, so that a
// record made from the BIP's keys is byte for byte the BIP's (and so is
// its encryption, whose IV comes from the MAC of the text). The record ends
// without a newline, as in the BIP, because encrypted records MAC the exact
// text.
func exportBSMS(w *Wallet, d *descriptor.Descriptor) ([]byte, error) {
	first, err := d.Derive(0, 0, w.Network)
	if err != nil {
		return nil, fmt.Errorf("derive the first address for the record: %w", err)
	}
	body := bsmsOrigins().ReplaceAllStringFunc(d.StringNoChecksum(), func(origin string) string {
		return strings.ReplaceAll(origin, "h", "'")
	})
	sum, err := descriptor.Checksum(body)
	if err != nil {
		return nil, fmt.Errorf("checksum the record's descriptor: %w", err)
	}
	line, restrictions := body+"#"+sum, bsmsNoRestrictions
	if bsmsTemplatable(d) {
		line = strings.ReplaceAll(body, "/<0;1>/*", bsmsTemplate)
		restrictions = bsmsReceiveChange
	}
	return []byte(strings.Join([]string{bsmsVersion, line, restrictions, first.Address}, "\n")), nil
}

// bsmsOrigins matches a key origin, [fingerprint/path]: the only place in a
// descriptor where "h" marks a hardened step (an xpub's base58 may hold
// the letter too).
var bsmsOrigins = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\[[0-9a-fA-F]{8}(/[0-9]+[h']?)*\]`) })

func bsmsTemplatable(d *descriptor.Descriptor) bool {
	if d.Tap != nil {
		// musig(...)/<0;1>/* would become musig(...)/**, which BIP-129's
		// template (XPUB/**) does not define: write the full descriptor.
		return false
	}
	for _, k := range d.Keys {
		if !isReceiveChangeKey(k) {
			return false
		}
	}
	return true
}

// importBSMS reads an unencrypted BIP-129 descriptor record and refuses it
// unless the descriptor derives the record's first address, which is how
// BIP-129 lets every party check that the record was not altered. The
// address also fixes the network (tb1 is testnet or signet, and
// defaultNet picks between them).
func importBSMS(text string, defaultNet *chaincfg.Params) (*Wallet, error) {
	lines := strings.Split(strings.TrimRight(text, " \t\r\n"), "\n")
	for i := range lines {
		lines[i] = strings.TrimSpace(lines[i])
	}
	if len(lines) != 4 {
		return nil, invalidf("a BSMS descriptor record has 4 lines (version, descriptor, path restrictions, first address) and this one has %d; a key record (round 1) is not a wallet", len(lines))
	}
	if lines[0] != bsmsVersion {
		return nil, invalidf("version line %q: only %q records are supported", lines[0], bsmsVersion)
	}
	d, err := bsmsDescriptor(lines[1], lines[2])
	if err != nil {
		return nil, err
	}
	net, err := bsmsNetwork(d, lines[3], defaultNet)
	if err != nil {
		return nil, err
	}
	return newWallet("", d, net, nil, 0), nil
}

// bsmsDescriptor reads the descriptor line: a descriptor, or a template
// whose /** stands for the path restrictions.
func bsmsDescriptor(line, restrictions string) (*descriptor.Descriptor, error) {
	if !strings.Contains(line, bsmsTemplate) {
		if restrictions != bsmsNoRestrictions {
			if _, err := bsmsRestrictions(restrictions); err != nil {
				return nil, err
			}
		}
		return parseDescriptor("descriptor", line)
	}
	body, sum, hasSum := strings.Cut(line, "#")
	if hasSum {
		want, err := descriptor.Checksum(body)
		if err != nil {
			return nil, wrapInvalid("descriptor template", err)
		}
		if sum != want {
			return nil, invalidf("descriptor template checksum is %q but the template's checksum is %q: the record was altered or copied wrongly", sum, want)
		}
	}
	if restrictions == bsmsNoRestrictions {
		return nil, invalidf("the descriptor is a template (/**) but the record says %q: BIP-129 requires restrictions such as %s with a template", bsmsNoRestrictions, bsmsReceiveChange)
	}
	paths, err := bsmsRestrictions(restrictions)
	if err != nil {
		return nil, err
	}
	steps, err := bsmsCombine(paths)
	if err != nil {
		return nil, err
	}
	return parseDescriptor("descriptor template", strings.ReplaceAll(body, bsmsTemplate, steps))
}

// bsmsRestrictions parses "/0/*,/1/*": paths that start with '/', use
// non-hardened steps and may end in the wildcard.
func bsmsRestrictions(s string) ([][]string, error) {
	var paths [][]string
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		if !strings.HasPrefix(p, "/") {
			return nil, invalidf("path restriction %q must start with '/' (e.g. %s)", p, bsmsReceiveChange)
		}
		steps := strings.Split(p[1:], "/")
		for j, st := range steps {
			if st == "*" && j == len(steps)-1 {
				continue
			}
			v, err := strconv.ParseUint(st, 10, 32)
			if err != nil || v >= uint64(descriptor.HardenedKeyStart) || strings.Trim(st, "0123456789") != "" {
				return nil, invalidf("path restriction %q has step %q: BIP-129 restrictions use non-hardened numbers (and a final *)", p, st)
			}
		}
		paths = append(paths, steps)
	}
	return paths, nil
}

// bsmsCombine merges the restriction paths into one key path: identical
// steps stay, and the one position where they differ becomes a BIP-389
// multipath step, so /0/*,/1/* gives /<0;1>/*. The first restriction is
// branch 0, whose first address the record carries.
func bsmsCombine(paths [][]string) (string, error) {
	var b strings.Builder
	multi := false
	for j := range paths[0] {
		alts := make([]string, len(paths))
		same := true
		for i, p := range paths {
			if len(p) != len(paths[0]) {
				return "", invalidf("the path restrictions have different lengths; countersign reads restrictions that differ in one step only, like %s", bsmsReceiveChange)
			}
			alts[i] = p[j]
			same = same && p[j] == paths[0][j]
		}
		b.WriteByte('/')
		if same {
			b.WriteString(alts[0])
			continue
		}
		if multi || alts[0] == "*" {
			return "", invalidf("the path restrictions differ in more than one step; countersign reads restrictions that differ in one step only, like %s", bsmsReceiveChange)
		}
		multi = true
		b.WriteString("<" + strings.Join(alts, ";") + ">")
	}
	return b.String(), nil
}

// bsmsNetwork finds the network on which the descriptor derives the
// record's first address: defaultNet first, then the others, among those
// the keys allow.
func bsmsNetwork(d *descriptor.Descriptor, addr string, defaultNet *chaincfg.Params) (*chaincfg.Params, error) {
	if addr == "" {
		return nil, invalidf("the record's first address line is empty")
	}
	candidates := []*chaincfg.Params{&chaincfg.MainNetParams, &chaincfg.TestNet3Params, &chaincfg.SigNetParams, &chaincfg.RegressionNetParams}
	if defaultNet != nil {
		candidates = append([]*chaincfg.Params{defaultNet}, candidates...)
	}
	for _, net := range candidates {
		if d.CheckNetwork(net) != nil {
			continue
		}
		first, err := d.Derive(0, 0, net)
		if err != nil {
			return nil, wrapInvalid("derive the first address", err)
		}
		if first.Address == addr || (strings.ToUpper(addr) == addr && strings.ToLower(addr) == first.Address) {
			return net, nil
		}
	}
	keysNet, err := networkFromKeys(d, defaultNet)
	if err != nil {
		return nil, err
	}
	first, err := d.Derive(0, 0, keysNet)
	if err != nil {
		return nil, wrapInvalid("derive the first address", err)
	}
	return nil, invalidf("the record's first address %s is not the descriptor's first address (%s on %s, or its equivalent on another network): the record was altered or belongs to another wallet; do not use it",
		addr, first.Address, descriptor.NetworkName(keysNet))
}

// bsmsDecryptRecord decrypts an encrypted descriptor record (round 2) for
// Import and checks it is one: a key record decrypts with the same token
// but is not a wallet.
func bsmsDecryptRecord(text, token string) (string, error) {
	raw, err := bsmsHex([]byte(text))
	if err != nil {
		return "", err
	}
	plain, _, err := bsmsDecrypt(token, raw)
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(string(plain), "BSMS ") {
		return "", invalidf("the file decrypts and authenticates but is not a BSMS record (it does not start with %q)", bsmsVersion)
	}
	return string(plain), nil
}

// ExportBSMS writes w as a BIP-129 descriptor record (round 2, coordinator
// to signers), encrypted with token when one is set: the .dat content,
// hex(MAC || ciphertext). token "" or "00" gives the plain .bsms record,
// as Export(w, FormatBSMS) does. With EXTENDED encryption each signer has
// its own token: call ExportBSMS once per signer. The encrypted file is
// decrypted and imported again before it is returned.
func ExportBSMS(w *Wallet, token string) ([]byte, error) {
	plain, err := Export(w, FormatBSMS)
	if err != nil {
		return nil, err
	}
	token = strings.ToLower(strings.TrimSpace(token))
	if token == "" || token == BSMSNoEncryption {
		return plain, nil
	}
	out, err := EncryptBSMS(token, plain)
	if err != nil {
		return nil, fmt.Errorf("export bsms: %w", err)
	}
	back, _, err := ImportWithOptions(out, ImportOptions{DefaultNet: w.Network, BSMSToken: token})
	if err != nil {
		return nil, fmt.Errorf("export bsms: the encrypted record does not read back (%w); this is a bug in countersign, please report it", err)
	}
	if !descriptor.Equal(back.Descriptor, w.Descriptor) || descriptor.NetworkName(back.Network) != descriptor.NetworkName(w.Network) {
		return nil, fmt.Errorf("export bsms: the encrypted record reads back as another wallet; this is a bug in countersign, please report it")
	}
	return out, nil
}
