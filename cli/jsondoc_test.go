package cli

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// docSections reads docs/json.md: for each "### command" section, every
// top-level field name of its table, optional ones included, with the
// fields of the sections it says it extends ("Plus every field of `x`")
// and of the commands it says print the same ("Also printed by `y`").
func docSections(t *testing.T) map[string]map[string]bool {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "docs", "json.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fields := map[string]map[string]bool{}
	plus := map[string][]string{} // section -> sections whose fields it has too
	also := map[string][]string{} // section -> other commands with its shape
	ticked := regexp.MustCompile("`([^`]+)`")
	var cur string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "### "):
			cur = strings.TrimPrefix(line, "### ")
			fields[cur] = map[string]bool{}
		case cur == "":
		case strings.HasPrefix(line, "Plus every field of"):
			for _, m := range ticked.FindAllStringSubmatch(line, -1) {
				plus[cur] = append(plus[cur], m[1])
			}
		case strings.HasPrefix(line, "Also printed by"):
			for _, m := range ticked.FindAllStringSubmatch(line, -1) {
				also[cur] = append(also[cur], m[1])
			}
		case strings.HasPrefix(line, "| `"):
			name := strings.Trim(strings.TrimSpace(strings.Split(line, "|")[1]), "`")
			name = strings.TrimPrefix(name, "[].")
			name, _, _ = strings.Cut(name, ".")
			fields[cur][strings.TrimSuffix(name, "[]")] = true
		}
	}
	for sec, bases := range plus {
		for _, b := range bases {
			for f := range fields[b] {
				fields[sec][f] = true
			}
		}
	}
	for sec, cmds := range also {
		for _, c := range cmds {
			if fields[c] == nil {
				fields[c] = map[string]bool{}
			}
			for f := range fields[sec] {
				fields[c][f] = true
			}
		}
	}
	return fields
}

// TestEveryJSONFieldDocumented: each command's --json fields (the list
// --fields is checked against) are in docs/json.md, so the documented
// contract and the output cannot drift apart. TestJSONDocumented (regtest)
// checks the other direction on real output.
func TestEveryJSONFieldDocumented(t *testing.T) {
	docs := docSections(t)
	root := NewRootCmd(NewFactory(&Streams{}, func(string) string { return "" }))
	var walk func(c *cobra.Command)
	checked := 0
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			walk(sub)
		}
		have, ok := jsonFields(c)
		if !ok {
			if c.Runnable() && !c.Hidden && c.HasParent() && c.Name() != "help" && c.Name() != "completion" && c.Parent().Name() != "completion" && c.Annotations == nil && len(c.Commands()) == 0 {
				t.Errorf("`%s` prints --json but declares no fields (withJSONFields)", c.CommandPath())
			}
			return
		}
		name := strings.TrimPrefix(c.CommandPath(), "countersign ")
		doc := docs[name]
		if doc == nil {
			t.Errorf("docs/json.md has no section for `%s`", name)
			return
		}
		var missing []string
		for _, f := range strings.Split(have, ",") {
			if !doc[f] {
				missing = append(missing, f)
			}
		}
		sort.Strings(missing)
		if len(missing) > 0 {
			t.Errorf("docs/json.md, `%s`: fields not documented: %s", name, strings.Join(missing, ", "))
		}
		checked++
	}
	walk(root)
	if checked < 25 {
		t.Fatalf("only %d commands declare their JSON fields", checked)
	}
}
