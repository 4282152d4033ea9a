package cli

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/countersign/countersign/coordinator"
	"github.com/countersign/countersign/descriptor/formats/paper"
)

// walletExportPDF writes the printable backup.
func walletExportPDF(ctx context.Context, co *coordinator.Coordinator, o *WalletExportOptions) error {
	if (o.Output == "" || o.Output == "-") && o.IO.StdoutTTY {
		return usagef("a PDF is not for the terminal: write it with -o FILE.pdf")
	}
	res, err := co.ExportPaper(ctx, o.Name, paper.Options{Paper: paper.Paper(o.Paper)})
	if err != nil {
		return err
	}
	if o.JSON {
		if o.Output != "" && o.Output != "-" {
			if err := writeOutput(o.IO, o.Output, res.PDF); err != nil {
				return err
			}
		}
		return writeJSON(o.IO.Out, exportJSON{Wallet: o.Name, Format: formatPDF, File: o.Output, Content: res.Descriptor, Pages: res.Pages})
	}
	if err := writeOutput(o.IO, o.Output, res.PDF); err != nil {
		return err
	}
	if o.Output != "" && o.Output != "-" {
		fmt.Fprintf(o.IO.ErrOut, "Wrote %s (%s): print it and keep it with the wallet's other papers. It holds no private key, but it shows every address of the wallet.\n",
			o.Output, plural(res.Pages, "page", "pages"))
	}
	return nil
}

// walletExportBSMS writes the encrypted BIP-129 descriptor record, one
// file per token.
func walletExportBSMS(ctx context.Context, co *coordinator.Coordinator, o *WalletExportOptions) error {
	tokens, err := bsmsTokens(o.Encrypt, o.EncryptFiles)
	if err != nil {
		return err
	}
	if len(tokens) == 0 {
		return usagef("--encrypt-file: no token in the file")
	}
	if len(tokens) > 1 && (o.Output == "" || o.Output == "-") {
		return usagef("one record per token: name the first file with -o FILE (the others are FILE-2, FILE-3, ...)")
	}
	recs, err := co.ExportBSMS(ctx, o.Name, tokens)
	if err != nil {
		return err
	}
	var files []string
	for i, r := range recs {
		f := o.Output
		if f != "" && f != "-" {
			f = numberedFile(o.Output, i)
			if err := writeOutput(o.IO, f, r); err != nil {
				return err
			}
			files = append(files, f)
		}
	}
	if o.JSON {
		j := exportJSON{Wallet: o.Name, Format: o.Format, File: o.Output, Content: string(recs[0])}
		if len(files) > 1 {
			j.Files = files
		}
		return writeJSON(o.IO.Out, j)
	}
	if len(files) == 0 {
		return writeOutput(o.IO, "", recs[0])
	}
	for i, f := range files {
		fmt.Fprintf(o.IO.ErrOut, "Wrote %s: the encrypted descriptor record for the signers holding token %d.\n", f, i+1)
	}
	return nil
}

// bsmsTokens gathers BSMS tokens from flags and token files (one token a
// line: hex, decimal or six words; blank lines and # comments skipped).
func bsmsTokens(flags, files []string) ([]string, error) {
	out := append([]string(nil), flags...)
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, usagef("token file: %v", err)
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			out = append(out, line)
		}
		if err := sc.Err(); err != nil {
			return nil, usagef("token file %s: %v", path, err)
		}
	}
	return out, nil
}

// numberedFile names the i-th of several files written from one -o name
// (from 0): FILE, then FILE-2, FILE-3, ... with the extension kept.
func numberedFile(first string, i int) string {
	if i == 0 {
		return first
	}
	ext := filepath.Ext(first)
	return fmt.Sprintf("%s-%d%s", strings.TrimSuffix(first, ext), i+1, ext)
}
