package cli

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestBackendSetInsecure: a plain-HTTP URL to another computer is refused
// with exit 4 and a message saying why and what to do; with --insecure it
// is saved with its permission (JSON says so, stderr warns); a URL that
// needs none saves none. The password never shows.
func TestBackendSetInsecure(t *testing.T) {
	dir := t.TempDir()
	remote := "btcd://alice:hunter2@192.168.1.20:8334"

	r := runCLI(t, dir, "", "backend", "set", remote)
	if r.Code != ExitRefused {
		t.Fatalf("backend set %s: exit %d, want %d\nstderr: %s", remote, r.Code, ExitRefused, r.Err)
	}
	for _, want := range []string{"unencrypted", "?cert=", "SSH tunnel", "--insecure", "192.168.1.20"} {
		if !strings.Contains(r.Err, want) {
			t.Errorf("refusal does not say %q:\n%s", want, r.Err)
		}
	}
	if strings.Contains(r.Err, "hunter2") {
		t.Errorf("refusal shows the password:\n%s", r.Err)
	}

	r = runCLI(t, dir, "", "backend", "set", "--insecure", "--json", remote)
	if r.Code != 0 {
		t.Fatalf("backend set --insecure: exit %d\nstderr: %s", r.Code, r.Err)
	}
	var got backendSetJSON
	if err := json.Unmarshal([]byte(r.Out), &got); err != nil || !got.Insecure || strings.Contains(r.Out, "hunter2") {
		t.Errorf("backend set --insecure --json = %s (%v), want insecure true and no password", r.Out, err)
	}
	r = runCLI(t, dir, "", "--insecure", "backend", "set", remote)
	if r.Code != 0 || !strings.Contains(r.Err, "warning: it is reached unencrypted") {
		t.Errorf("backend set with --insecure before the command: exit %d, stderr %q; want a warning", r.Code, r.Err)
	}

	r = runCLI(t, dir, "", "backend", "set", "--insecure", "--json", "esplora+https://blockstream.info/api")
	if r.Code != 0 || !strings.Contains(r.Out, `"insecure": false`) {
		t.Errorf("backend set --insecure of an https URL: exit %d, out %s; want insecure false", r.Code, r.Out)
	}
}
