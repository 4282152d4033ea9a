package cli

import (
	"reflect"
	"sort"
	"strings"
	"sync"

	"github.com/spf13/cobra"
)

// groupCmd makes a command that only groups others (wallet, psbt, device,
// ...) refuse what it does not know: cobra would otherwise print help and
// exit 0 for `psbt finalise`, which a script takes for success.
func groupCmd(cmd *cobra.Command) *cobra.Command {
	cmd.Args = cobra.ArbitraryArgs
	cmd.RunE = func(c *cobra.Command, args []string) error {
		if len(args) == 0 {
			c.SetOut(c.ErrOrStderr())
			_ = c.Help()
			return usagef("%s needs a subcommand", c.CommandPath())
		}
		msg := "unknown command " + quote(args[0]) + " for " + quote(c.CommandPath())
		if c.SuggestionsMinimumDistance <= 0 {
			c.SuggestionsMinimumDistance = 2
		}
		if s := c.SuggestionsFor(args[0]); len(s) > 0 {
			msg += "; did you mean " + strings.Join(s, " or ") + "?"
		}
		return usagef("%s (see `%s --help`)", msg, c.CommandPath())
	}
	return cmd
}

func quote(s string) string { return `"` + safe(s) + `"` }

// jsonFieldsAnnotation marks a command whose --json fields are declared
// (withJSONFields); jsonFields lists them.
const jsonFieldsAnnotation = "json-fields"

// jsonShapes holds each command's JSON output shapes, by command: the
// field names are worked out (by reflection) only when --fields asks, not
// for the hundred commands every process builds.
var jsonShapes sync.Map // *cobra.Command -> []any

// withJSONFields records the top-level fields of the command's JSON output
// (the json tags of the struct shape, or of the element of a list), so that
// --fields is checked before the command runs: a typo must not cost a
// handed-out address or a signature.
func withJSONFields(cmd *cobra.Command, shapes ...any) *cobra.Command {
	if cmd.Annotations == nil {
		cmd.Annotations = map[string]string{}
	}
	cmd.Annotations[jsonFieldsAnnotation] = "declared"
	jsonShapes.Store(cmd, shapes)
	return cmd
}

// jsonFields lists, sorted and joined with commas, the fields of c's JSON
// output; false when c declares none.
func jsonFields(c *cobra.Command) (string, bool) {
	v, ok := jsonShapes.Load(c)
	if !ok {
		return "", false
	}
	seen := map[string]bool{}
	for _, s := range v.([]any) {
		for _, f := range jsonFieldNames(reflect.TypeOf(s)) {
			seen[f] = true
		}
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ","), true
}

// jsonFieldNames lists the JSON names of a struct's fields, flattening
// embedded structs as encoding/json does.
func jsonFieldNames(t reflect.Type) []string {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	var out []string
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if sf.Anonymous && name == "" {
			out = append(out, jsonFieldNames(sf.Type)...)
			continue
		}
		if !sf.IsExported() {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		out = append(out, name)
	}
	return out
}

// checkFields validates --fields against the command's fields.
func checkFields(c *cobra.Command, fields []string) error {
	have, ok := jsonFields(c)
	if !ok {
		return usagef("--fields: `%s` has no JSON fields to select", c.CommandPath())
	}
	allowed := map[string]bool{}
	for _, f := range strings.Split(have, ",") {
		allowed[f] = true
	}
	for _, f := range fields {
		if !allowed[f] {
			return usagef("--fields: no field %s in `%s --json`; it has: %s", quote(f), c.CommandPath(), strings.ReplaceAll(have, ",", ", "))
		}
	}
	return nil
}
