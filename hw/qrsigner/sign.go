package qrsigner

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"

	"github.com/countersign/countersign/hw"
	"github.com/countersign/countersign/hw/qr/bbqr"
	"github.com/countersign/countersign/hw/qr/render"
	"github.com/countersign/countersign/hw/qr/ur"
	"github.com/countersign/countersign/psbt"
)

// maxOwn bounds how many of the parts shown are remembered to recognise
// a scan of countersign's own screen: the first pass and the fountain
// parts of the first minutes. A later one is still caught when the
// answer completes as the unsigned PSBT.
const maxOwn = 2048

// maxImage bounds an answer image file: photos from a phone are a few
// megabytes; anything far larger is not a picture of a QR code.
const maxImage = 64 << 20

// SignPSBT hands p to the device as QR codes and returns the signed PSBT
// it shows back; see the package comment for the ways in and out. The
// adapter keeps only new partial signatures, each verified.
//
// With Images the answer is read from them alone. Otherwise the parts are
// written to OutDir when set, then (unless OutDir is set without Wait)
// shown on Screen while lines are read from In until an answer for this
// transaction with a new signature is whole. Cancelling ctx (Ctrl-C) stops
// the wait with an error wrapping ctx's error: nothing was signed, so it
// is not a pending success (exit 130); the message says how to go on.
func (s *Signer) SignPSBT(ctx context.Context, p *bpsbt.Packet, w *hw.Wallet) (*bpsbt.Packet, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if p == nil || p.UnsignedTx == nil {
		return nil, fmt.Errorf("%w: no PSBT to show the QR signer", psbt.ErrMalformed)
	}
	if len(s.o.Images) > 0 {
		return s.fromImages(p)
	}
	if s.o.OutDir == "" && s.o.Screen == nil && s.o.In == nil {
		return nil, fmt.Errorf("%w: nowhere to show the PSBT: there is no terminal; write the QR frames with --qr-out DIR", hw.ErrUnsupported)
	}
	raw, err := psbt.Serialize(p)
	if err != nil {
		return nil, err
	}
	var ser *Series
	if s.o.OutDir != "" || s.o.Screen != nil {
		if ser, err = s.psbtSeries(raw); err != nil {
			return nil, err
		}
	}
	later := s.laterHint()
	if s.o.OutDir != "" {
		written, err := ser.WriteDir(s.o.OutDir, "psbt", s.fps())
		if err != nil {
			return nil, err
		}
		s.prompt(fmt.Sprintf("Wrote the PSBT as %s. Show the GIF (or the frames in order) to the signer's camera, check the outputs and fee on the device, and approve.", written.describe()))
		if !s.o.Wait {
			return nil, fmt.Errorf("%w: the PSBT is in %s as QR codes; after signing on the device, add its signatures with %s", hw.ErrPending, s.o.OutDir, later)
		}
	}
	if s.o.Screen == nil && s.o.In == nil {
		return nil, fmt.Errorf("%w: the PSBT is in %s; there is no terminal to read the answer from: add it with %s", hw.ErrPending, s.o.OutDir, later)
	}
	switch {
	case s.o.Screen != nil:
		s.prompt(fmt.Sprintf("Scan this QR code with the signer (%s), check the outputs and fee on the device and approve; then scan the signed PSBT it shows with a USB QR scanner into this terminal (Ctrl-C to stop).", s.o.Format))
	default:
		s.prompt("Reading the signer's answer (one QR part a line) from stdin…")
	}
	return s.wait(ctx, p, raw, ser, later)
}

// psbtSeries cuts the PSBT into the parts the options ask for.
func (s *Signer) psbtSeries(raw []byte) (*Series, error) {
	urType := ur.TypeCryptoPSBT
	if s.o.URv2 {
		urType = ur.TypePSBT
	}
	var msg []byte
	if s.o.Format == UR {
		var err error
		if msg, err = ur.EncodePSBT(raw); err != nil {
			return nil, err
		}
	}
	return s.o.newSeries(bbqr.FileTypePSBT, raw, urType, msg)
}

// laterHint says how to bring the answer in by a later command.
func (s *Signer) laterHint() string {
	return fmt.Sprintf("`countersign sign ORIGINAL.psbt --with %s --from-image ANSWER.png... -o SIGNED.psbt`, or by piping the answer's parts (one a line) into `countersign sign ORIGINAL.psbt --with %s -o SIGNED.psbt`",
		s.Selector(), s.Selector())
}

// wait animates ser on Screen (when both are there) and collects In's
// lines until they make an acceptable answer to p.
func (s *Signer) wait(ctx context.Context, p *bpsbt.Packet, raw []byte, ser *Series, later string) (*bpsbt.Packet, error) {
	c := &collector{Own: map[string]bool{}}
	var scr *screen
	var tick <-chan time.Time
	var code *render.Code
	status := "Waiting for the signer's answer: 0 parts scanned."
	frame := func() error {
		part := ser.Next()
		if len(c.Own) < maxOwn {
			c.Own[strings.ToUpper(part)] = true
		}
		var err error
		if code, err = render.New(part, ser.Version); err != nil {
			if code, err = render.New(part, 0); err != nil {
				return err
			}
		}
		return scr.draw(code, status, "Scan the answer with the USB scanner; Ctrl-C stops waiting.")
	}
	if s.o.Screen != nil && ser != nil {
		scr = &screen{w: s.o.Screen, width: s.o.Width}
		defer scr.clear()
		for _, part := range ser.Parts {
			c.Own[strings.ToUpper(part)] = true
		}
		if err := frame(); err != nil {
			return nil, err
		}
		t := time.NewTicker(time.Duration(float64(time.Second) / s.fps()))
		defer t.Stop()
		tick = t.C
	}
	report := func(msg string) {
		status = msg
		if scr != nil {
			scr.draw(code, status, "Scan the answer with the USB scanner; Ctrl-C stops waiting.")
		} else if s.o.Status != nil {
			s.o.Status(msg)
		}
	}
	in := s.input()
	var shown [2]int // the progress last reported
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("stopped waiting for the QR signer's answer (%w): nothing was signed; show the PSBT again with `countersign sign ORIGINAL.psbt --with %s`, or add the answer later with %s",
				ctx.Err(), s.Selector(), later)
		case <-tick:
			if err := frame(); err != nil {
				return nil, err
			}
		case l, ok := <-in:
			if !ok || l.err != nil {
				return nil, s.inputEnded(c, l.err)
			}
			if strings.TrimSpace(l.text) == "" {
				continue
			}
			fresh, err := c.Add(l.text)
			if err != nil {
				report("Ignored a scan: " + err.Error())
				continue
			}
			have, total := c.Progress()
			if !fresh || (have == shown[0] && total == shown[1] && !c.Complete()) {
				continue // a repeat, or a fountain part still waiting for others
			}
			shown = [2]int{have, total}
			report(fmt.Sprintf("Answer: %d/%d parts", have, total))
			if !c.Complete() {
				continue
			}
			out, err := answer(c, p, raw)
			if err == nil {
				return out, nil
			}
			if !isScanError(err) {
				return nil, err
			}
			// A complete answer that is not this transaction's signed
			// PSBT: say why and keep scanning.
			c.Reset()
			shown = [2]int{}
			report("Ignored an answer: " + err.Error())
		}
	}
}

// inputEnded is the error for In ending before the answer was whole.
func (s *Signer) inputEnded(c *collector, err error) error {
	have, total := c.Progress()
	if err != nil {
		return hw.Errorf(hw.ErrDevice, "reading the scanner's input failed after %d of %d parts: %v", have, total, err)
	}
	if total == 0 {
		return hw.Errorf(hw.ErrDevice, "no answer came: the input ended before any QR part of the signed PSBT (did the signer refuse? To hand the PSBT over first without waiting, use --qr-out DIR --no-wait)")
	}
	return hw.Errorf(hw.ErrDevice, "the input ended with %d of %d parts of the signer's answer: scan or pipe all of them", have, total)
}

// answer turns a complete collection into the signed PSBT for p. An
// answer that is unusable for p (not a PSBT, another transaction, no new
// signature) is a scanError.
func answer(c *collector, p *bpsbt.Packet, sent []byte) (*bpsbt.Packet, error) {
	raw, err := c.PSBT()
	if err != nil {
		return nil, err
	}
	if bytes.Equal(raw, sent) {
		return nil, scanErrorf("it is the unsigned PSBT countersign showed, with no signature added")
	}
	out, err := psbt.Decode(raw)
	if err != nil {
		return nil, scanErrorf("the %s answer is not a valid PSBT: %v", c.Format(), err)
	}
	if out.UnsignedTx.TxHash() != p.UnsignedTx.TxHash() {
		return nil, scanErrorf("the answer is a PSBT for another transaction (txid %s; this one is %s)", out.UnsignedTx.TxHash(), p.UnsignedTx.TxHash())
	}
	if !hasNewSignature(p, out) {
		return nil, scanErrorf("the answer carries no partial signature this PSBT lacks; was it signed by a cosigner of this wallet?")
	}
	return out, nil
}

// hasNewSignature reports whether signed carries a partial signature p
// lacks.
func hasNewSignature(p, signed *bpsbt.Packet) bool {
	for i := range signed.Inputs {
		if i >= len(p.Inputs) {
			return false
		}
		have := map[string]bool{}
		for _, ps := range p.Inputs[i].PartialSigs {
			have[string(ps.PubKey)] = true
		}
		for _, ps := range signed.Inputs[i].PartialSigs {
			if ps != nil && !have[string(ps.PubKey)] {
				return true
			}
		}
	}
	return false
}

// fromImages reads the answer from image files: every QR code in them (an
// animated GIF gives one a frame), in any order, repeats ignored.
func (s *Signer) fromImages(p *bpsbt.Packet) (*bpsbt.Packet, error) {
	c := &collector{}
	for _, fn := range s.o.Images {
		texts, err := readImage(fn)
		if err != nil {
			return nil, err
		}
		for _, t := range texts {
			if _, err := c.Add(t); err != nil {
				return nil, hw.Errorf(hw.ErrDevice, "image %s: %w", filepath.Base(fn), err)
			}
		}
	}
	if !c.Complete() {
		have, total := c.Progress()
		return nil, hw.Errorf(hw.ErrDevice, "the %d image(s) hold %d of %d parts of the signer's answer: add pictures of the missing frames", len(s.o.Images), have, total)
	}
	out, err := answer(c, p, nil)
	if err != nil {
		return nil, hw.Errorf(hw.ErrDevice, "the images' answer: %w", err)
	}
	s.prompt(fmt.Sprintf("Read the signer's answer from %d image(s).", len(s.o.Images)))
	return out, nil
}

// readImage decodes the QR codes of one picture: one, or one a frame of
// a GIF.
func readImage(fn string) ([]string, error) {
	f, err := os.Open(fn)
	if err != nil {
		return nil, hw.Errorf(hw.ErrDevice, "read the answer image: %v", err)
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > maxImage {
		return nil, hw.Errorf(hw.ErrDevice, "%s is %d bytes, too large for a picture of a QR code", fn, st.Size())
	}
	var head [6]byte
	n, _ := f.Read(head[:])
	if _, err := f.Seek(0, 0); err != nil {
		return nil, hw.Errorf(hw.ErrDevice, "read %s: %v", fn, err)
	}
	if n == 6 && (string(head[:]) == "GIF87a" || string(head[:]) == "GIF89a") {
		texts, err := render.DecodeGIF(f)
		if err != nil {
			return nil, hw.Errorf(hw.ErrDevice, "%s: %v", fn, err)
		}
		return texts, nil
	}
	t, err := render.Decode(f)
	if err != nil {
		return nil, hw.Errorf(hw.ErrDevice, "%s: %v", fn, err)
	}
	return []string{t}, nil
}
