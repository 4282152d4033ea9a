package paper

import (
	"encoding/hex"
	"fmt"
	"math"
	"strings"
	"time"

	"codeberg.org/go-pdf/fpdf"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/descriptor/formats"
)

// The content box, in mm, is the same on A4 (210 x 297) and US Letter
// (215.9 x 279.4): 180 mm wide and 249 mm tall from a 15 mm top-left
// margin, which leaves at least 15 mm on every side of either paper, more
// than any office printer's unprintable border.
const (
	left, top     = 15.0, 15.0
	contentWidth  = 180.0
	contentBottom = top + 249.0
	right         = left + contentWidth
	footerTop     = contentBottom - 5 // the footer line sits below

	// Courier's glyphs are 0.6 em wide; 1 pt is 25.4/72 mm.
	courierEm = 0.6
	ptMM      = 25.4 / 72

	monoPt    = 7.0 // xpubs, descriptor, addresses
	bodyPt    = 8.5
	headingPt = 10.0

	// qrMaxSide is the largest a single code is drawn, in mm: bigger only
	// costs room, and a phone frames 70 mm easily.
	qrMaxSide = 70.0
)

// page is one backup being drawn.
type page struct {
	w       *formats.Wallet
	d       *descriptor.Descriptor
	desc    string
	addrs   []string
	parts   []string
	created time.Time

	f     *fpdf.Fpdf
	pages int
}

func monoChars(width, pt float64) int {
	return int(width / (courierEm * pt * ptMM))
}

// draw lays out the page and returns the PDF and its page count.
func (p *page) draw(size string) ([]byte, int, error) {
	f := fpdf.New("P", "mm", size, "")
	p.f = f
	f.SetCreationDate(p.created)
	f.SetModificationDate(p.created)
	f.SetCatalogSort(true)
	f.SetCompression(true)
	f.SetAutoPageBreak(false, 0)
	f.SetMargins(left, top, 210-right)
	f.SetTitle(pdfText("Wallet backup: "+p.w.Name), false)
	f.SetCreator("countersign", false)
	f.SetProducer("countersign", false)
	f.AddPage()
	p.pages = 1

	y := p.header(top)
	y = p.cosigners(y + 3)
	y = p.descriptorText(y + 3)
	y = p.room(y+4, p.restoreHeight())
	if err := p.restore(y); err != nil {
		return nil, 0, err
	}
	p.footer()
	out, err := pdfBytes(f)
	return out, p.pages, err
}

// room returns y when h more millimetres fit above the footer, and
// otherwise starts a new page and returns its first free y. Sections call
// it before each row, so nothing is ever drawn past the content box.
func (p *page) room(y, h float64) float64 {
	if y+h <= footerTop {
		return y
	}
	f := p.f
	f.AddPage()
	p.pages++
	f.SetFont("Helvetica", "B", headingPt)
	f.SetXY(left, top)
	f.CellFormat(contentWidth, 6, fit(f, pdfText("Wallet backup: "+p.w.Name)+" (continued)", contentWidth), "", 1, "L", false, 0, "")
	return top + 9
}

// header draws the title, the policy, and the facts line; it returns the
// y below it.
func (p *page) header(y float64) float64 {
	f := p.f
	f.SetTextColor(90, 90, 90)
	f.SetFont("Helvetica", "", bodyPt)
	f.SetXY(left, y)
	f.CellFormat(contentWidth/2, 4, "Multisig wallet backup", "", 0, "L", false, 0, "")
	f.CellFormat(contentWidth/2, 4, "Printed "+p.created.Format("2006-01-02"), "", 1, "R", false, 0, "")
	f.SetTextColor(0, 0, 0)

	name := strings.TrimSpace(p.w.Name)
	if name == "" {
		name = "(unnamed wallet)"
	}
	f.SetFont("Helvetica", "B", 18)
	f.SetXY(left, y+5)
	f.CellFormat(contentWidth, 9, fit(f, pdfText(name), contentWidth), "", 1, "L", false, 0, "")

	f.SetFont("Helvetica", "B", 13)
	f.SetXY(left, y+15)
	f.CellFormat(contentWidth, 7, Policy(p.d), "", 1, "L", false, 0, "")

	birth := "unknown (a restore must scan from the start of the chain)"
	if p.w.BirthHeight > 0 {
		birth = fmt.Sprintf("%d (no payment before this block)", p.w.BirthHeight)
	}
	f.SetFont("Helvetica", "", bodyPt)
	f.SetXY(left, y+23)
	f.CellFormat(contentWidth, 4.2, "Script: "+scriptWords(p.d)+"    Network: "+descriptor.NetworkName(p.w.Network), "", 1, "L", false, 0, "")
	f.SetX(left)
	f.CellFormat(contentWidth, 4.2, "Birth height: "+birth, "", 1, "L", false, 0, "")
	y += 32
	if descriptor.NetworkName(p.w.Network) != "mainnet" {
		f.SetFont("Helvetica", "B", bodyPt)
		f.SetTextColor(160, 0, 0)
		f.SetXY(left, y)
		f.CellFormat(contentWidth, 4.2, "TEST NETWORK ("+descriptor.NetworkName(p.w.Network)+"): these coins have no value.", "", 1, "L", false, 0, "")
		f.SetTextColor(0, 0, 0)
		y += 4.5
	}
	f.SetDrawColor(0, 0, 0)
	f.SetLineWidth(0.4)
	f.Line(left, y+1, right, y+1)
	return y + 1
}

// cosigners draws the key table: one row per key with its label,
// fingerprint and path, and its xpub on a monospace line below.
func (p *page) cosigners(y float64) float64 {
	f := p.f
	cols := []float64{8, 72, 30, 70} // #, cosigner, fingerprint, path
	y = p.room(y, 10+9)
	f.SetFont("Helvetica", "B", headingPt)
	f.SetXY(left, y)
	f.CellFormat(contentWidth, 5, "Cosigners (keys)", "", 1, "L", false, 0, "")
	f.SetFont("Helvetica", "B", bodyPt)
	f.SetFillColor(230, 230, 230)
	f.SetX(left)
	for i, h := range []string{"#", "Label", "Fingerprint", "Derivation path"} {
		f.CellFormat(cols[i], 5, h, "", 0, "L", true, 0, "")
	}
	y = f.GetY() + 5
	xpubChars := monoChars(contentWidth-cols[0], monoPt)
	f.SetLineWidth(0.1)
	f.SetDrawColor(170, 170, 170)
	for i, k := range p.d.Keys {
		xpubLines := wrapFixed(p.keyText(&k), xpubChars)
		y = p.room(y, 4.5+3.2*float64(len(xpubLines))+1.6)
		label := ""
		if i < len(p.w.Labels) {
			label = strings.TrimSpace(p.w.Labels[i])
		}
		fp, path := "unknown", "unknown (no key origin)"
		if k.Origin != nil {
			fp = hex.EncodeToString(k.Origin.Fingerprint[:])
			path = formatPath(k.Origin.Path)
		}
		if steps := p.keySteps(&k); steps != "" {
			path += ", then " + steps
		}
		f.SetFont("Helvetica", "B", bodyPt)
		f.SetXY(left, y)
		f.CellFormat(cols[0], 4.5, fmt.Sprint(i+1), "", 0, "L", false, 0, "")
		if label == "" {
			f.SetFont("Helvetica", "I", bodyPt)
			f.SetTextColor(110, 110, 110)
			f.CellFormat(cols[1], 4.5, "(no label)", "", 0, "L", false, 0, "")
			f.SetTextColor(0, 0, 0)
		} else {
			f.CellFormat(cols[1], 4.5, fit(f, pdfText(label), cols[1]-1), "", 0, "L", false, 0, "")
		}
		f.SetFont("Courier", "B", bodyPt)
		f.CellFormat(cols[2], 4.5, fp, "", 0, "L", false, 0, "")
		f.SetFont("Courier", "", bodyPt)
		f.CellFormat(cols[3], 4.5, fit(f, path, cols[3]), "", 0, "L", false, 0, "")
		y += 4.5
		f.SetFont("Courier", "", monoPt)
		for _, ln := range xpubLines {
			f.SetXY(left+cols[0], y)
			f.CellFormat(contentWidth-cols[0], 3.2, ln, "", 0, "L", false, 0, "")
			y += 3.2
		}
		y += 0.8
		f.Line(left, y, right, y)
		y += 0.8
	}
	return y
}

// keyText is the key itself: the xpub or the hex public key, without the
// origin and steps shown in the columns above it.
func (p *page) keyText(k *descriptor.Key) string {
	s := k.String()
	if i := strings.IndexByte(s, ']'); i >= 0 {
		s = s[i+1:]
	}
	if i := strings.IndexByte(s, '/'); i >= 0 {
		s = s[:i]
	}
	return s
}

// keySteps is what the descriptor derives below the key, e.g. /<0;1>/*.
func (p *page) keySteps(k *descriptor.Key) string {
	s := k.String()
	if i := strings.IndexByte(s, ']'); i >= 0 {
		s = s[i+1:]
	}
	if i := strings.IndexByte(s, '/'); i >= 0 {
		return s[i:]
	}
	return ""
}

// descriptorText prints the descriptor, wrapped, in monospace.
func (p *page) descriptorText(y float64) float64 {
	f := p.f
	y = p.room(y, 5.5+3*3.2)
	f.SetFont("Helvetica", "B", headingPt)
	f.SetXY(left, y)
	f.CellFormat(contentWidth, 5, "Wallet descriptor (with checksum; the QR code holds the same text)", "", 1, "L", false, 0, "")
	y += 5.5
	for _, ln := range wrapFixed(p.desc, monoChars(contentWidth, monoPt)) {
		y = p.room(y, 3.2)
		f.SetFont("Courier", "", monoPt)
		f.SetXY(left, y)
		f.CellFormat(contentWidth, 3.2, ln, "", 0, "L", false, 0, "")
		y += 3.2
	}
	return y
}

// restoreLayout sizes the restore section: the QR codes in a column on the
// right, addresses and instructions on the left.
func (p *page) qrSide() float64 {
	mods := 0
	for _, part := range p.parts {
		m, _ := qrModules(part) // parts were encoded by qrParts already
		mods = max(mods, m)
	}
	return math.Min(qrMaxSide, math.Max(float64(mods)*minModule, 40))
}

const textColumn = 100.0

// restoreHeight measures the restore section: the taller of the QR column
// and the text column.
func (p *page) restoreHeight() float64 {
	f := p.f
	qr := float64(len(p.parts)) * (p.qrSide() + 6)
	text := 5 + 3.8 + 0.5 + float64(len(p.addrs))*3.8 + 2 + 5
	f.SetFont("Helvetica", "", bodyPt)
	for _, para := range p.instructions() {
		text += float64(len(f.SplitText(para, textColumn)))*3.8 + 1
	}
	return math.Max(qr, text)
}

// restore draws the QR code(s), the first addresses and the instructions.
func (p *page) restore(y float64) error {
	f := p.f
	side := p.qrSide()
	qx := right - side
	qy := y
	for i, part := range p.parts {
		f.SetFont("Helvetica", "B", bodyPt)
		f.SetXY(qx, qy)
		caption := "Descriptor QR code"
		if len(p.parts) > 1 {
			caption = fmt.Sprintf("Descriptor QR code, part %d of %d (join in order)", i+1, len(p.parts))
		}
		f.CellFormat(side, 4, fit(f, caption, side), "", 0, "C", false, 0, "")
		if err := drawQR(f, part, qx, qy+4.5, side); err != nil {
			return err
		}
		qy += side + 6
	}

	f.SetFont("Helvetica", "B", headingPt)
	f.SetXY(left, y)
	f.CellFormat(textColumn, 5, "First receive addresses", "", 1, "L", false, 0, "")
	f.SetFont("Helvetica", "", bodyPt)
	f.SetX(left)
	f.MultiCell(textColumn, 3.8, "A correct restore shows exactly these, in this order:", "", "L", false)
	ay := f.GetY() + 0.5
	for i, a := range p.addrs {
		f.SetFont("Helvetica", "", bodyPt)
		f.SetXY(left, ay)
		f.CellFormat(5, 3.6, fmt.Sprint(i), "", 0, "L", false, 0, "")
		pt := monoPt
		for courierEm*pt*ptMM*float64(len(a)) > textColumn-5 {
			pt -= 0.25
		}
		f.SetFont("Courier", "", pt)
		f.CellFormat(textColumn-5, 3.6, a, "", 0, "L", false, 0, "")
		ay += 3.8
	}

	f.SetFont("Helvetica", "B", headingPt)
	f.SetXY(left, ay+2)
	f.CellFormat(textColumn, 5, "How to restore", "", 1, "L", false, 0, "")
	f.SetFont("Helvetica", "", bodyPt)
	for _, para := range p.instructions() {
		f.SetX(left)
		f.MultiCell(textColumn, 3.8, para, "", "L", false)
		f.SetY(f.GetY() + 1)
	}
	return nil
}

// instructions are the restore steps, naming tools that read the
// descriptor as printed.
func (p *page) instructions() []string {
	name := "NAME"
	if n := strings.TrimSpace(p.w.Name); n != "" && strings.Trim(n, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ._-") == "" {
		name = n
		if strings.Contains(n, " ") {
			name = `"` + n + `"`
		}
	}
	need := fmt.Sprintf("To spend you need %d of the signing devices or seed backups listed above, plus this descriptor (or the xpubs of all cosigners): keys alone do not rebuild a multisig wallet.", p.d.Threshold)
	if p.d.IsMiniscript() {
		need = "To spend you need the signing devices or seed backups of one spending path above (a time-locked path only once its lock has opened), plus this descriptor: keys alone do not rebuild this wallet."
	}
	return []string{
		"This page holds no private keys: it cannot spend. It shows every address of the wallet, so keep it as private as a bank statement.",
		need,
		"Restore the watch-only wallet from the descriptor, typed or scanned, with any of:",
		"-  countersign: save the descriptor in a file and run  countersign wallet import " + name + " --file FILE",
		"-  Sparrow Wallet: File > New Wallet, then Import and paste or scan the descriptor.",
		"-  Bitcoin Core: importdescriptors with the descriptor. A version that refuses the <0;1> form takes two descriptors, with /0/* (receive) and /1/* (change, internal) in place of /<0;1>/*.",
		"Then check that the first receive addresses match the list above before you use the wallet.",
	}
}

// footer prints the date and the page count at the bottom of each page.
func (p *page) footer() {
	f := p.f
	for i := 1; i <= p.pages; i++ {
		f.SetPage(i)
		f.SetFont("Helvetica", "", 7)
		f.SetTextColor(110, 110, 110)
		f.SetXY(left, contentBottom-3)
		f.CellFormat(contentWidth, 3, fmt.Sprintf("countersign wallet backup, printed %s, page %d of %d", p.created.Format("2006-01-02"), i, p.pages), "", 0, "C", false, 0, "")
		f.SetTextColor(0, 0, 0)
	}
}
