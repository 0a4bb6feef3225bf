package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// decoder walks a yaml.v3 node tree by hand, so every value is checked
// against the schema and every mistake carries its line.
type decoder struct {
	file string
	errs []*Error
	// lines maps a field path (jobs[0].bandwidth.upload) to the line of
	// its value, so semantic problems found later can be located.
	lines map[string]int
	// written marks fields given a value in the mapping itself, not brought
	// in by a merge key (<<: *base), so a check can tell what the user
	// wrote for this mapping from what it shares with others.
	written map[string]bool
	// failed marks fields that already have an error, so the semantic
	// checks do not report them twice.
	failed map[string]bool
	// visits counts values walked. Aliases let a small file stand for a
	// huge tree, so the walk is bounded.
	visits  int
	dropped int
	// bad are characters YAML refuses (NUL, other control characters,
	// bytes that are not UTF-8). They are reported with their line and
	// the field on that line once the rest of the file has been walked.
	bad []badChar
}

// Bounds on one decode: a real jobs file is far below both.
const (
	maxVisits = 50_000
	maxErrors = 50
)

func newDecoder(file string) *decoder {
	return &decoder{file: file, lines: map[string]int{}, written: map[string]bool{}, failed: map[string]bool{}}
}

func (d *decoder) fail(line int, field, format string, args ...any) {
	d.failed[field] = true
	if len(d.errs) >= maxErrors {
		d.dropped++
		return
	}
	d.errs = append(d.errs, &Error{File: d.file, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)})
}

// complete reports whether the whole tree was walked; when it was cut
// short, checking what was decoded says nothing useful.
func (d *decoder) complete() bool { return d.visits <= maxVisits }

// report adds semantic problems, located by the nearest recorded field.
func (d *decoder) report(ps []problem, fallback int) {
	for _, p := range ps {
		if d.failed[p.field] {
			continue
		}
		at := p.field
		if p.at != "" {
			at = p.at
		}
		if _, written := d.lines[at]; !written && p.near != "" {
			at = p.near
		}
		d.fail(d.lineOf(at, fallback), p.field, "%s", p.msg)
	}
}

func (d *decoder) lineOf(field string, fallback int) int {
	for f := field; f != ""; f = parentField(f) {
		if l, ok := d.lines[f]; ok {
			return l
		}
	}
	return fallback
}

func parentField(f string) string {
	i := strings.LastIndexAny(f, ".[")
	if i < 0 {
		return ""
	}
	return f[:i]
}

// reportBad turns the characters YAML refuses into errors, each naming its
// line, its column and the field written on that line, if any. The file is
// not valid YAML, so they replace whatever the decode of the repaired copy
// found: those findings would be about the '?' put in their place.
func (d *decoder) reportBad() {
	if len(d.bad) == 0 {
		return
	}
	d.errs, d.dropped = nil, 0
	for _, b := range d.bad {
		d.fail(b.line, d.fieldOnLine(b.line), "%s at column %d: a configuration file must be UTF-8 text without control characters; remove it", b.what, b.col)
	}
	d.bad = nil
}

// fieldOnLine is the most specific field whose value starts on line, or ""
// when none does (a comment, a blank line).
func (d *decoder) fieldOnLine(line int) string {
	best := ""
	for f, l := range d.lines {
		if l == line && (len(f) > len(best) || len(f) == len(best) && f < best) {
			best = f
		}
	}
	return best
}

// err returns the collected errors sorted by line, joined, or nil.
func (d *decoder) err() error {
	d.reportBad()
	if len(d.errs) == 0 {
		return nil
	}
	slices.SortStableFunc(d.errs, func(a, b *Error) int { return a.Line - b.Line })
	errs := make([]error, len(d.errs), len(d.errs)+1)
	for i, e := range d.errs {
		errs[i] = e
	}
	if d.dropped > 0 {
		errs = append(errs, &Error{File: d.file, Msg: fmt.Sprintf("%d more problems not shown", d.dropped)})
	}
	return errors.Join(errs...)
}

// document parses data and returns its root mapping (nil for an empty
// document). A YAML syntax error becomes an *Error with its line.
func (d *decoder) document(data []byte) *yaml.Node {
	if d.bad = findBadChars(data); len(d.bad) > 0 {
		data = sanitize(data, d.bad)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		d.syntax(err)
		return nil
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil
	}
	return resolve(doc.Content[0])
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func (d *decoder) syntax(err error) {
	msg := err.Error()
	// yaml.v3 leaves the line out of its message when the problem is on
	// the first line (its mark counts from 0 and 0 means "not set").
	line := 1
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	d.fail(line, "", "invalid YAML: %s", msg)
}

// resolve follows aliases (*name) to the node they stand for.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// handler decodes one key's value; field is its full path.
type handler func(v *yaml.Node, field string)

// object decodes a mapping with one handler per known key. Unknown and
// duplicate keys are errors; a null value leaves the default in place.
// Merge keys (<<: *defaults) are honoured, explicit keys winning.
func (d *decoder) object(n *yaml.Node, field string, handlers map[string]handler) {
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		d.fail(n.Line, field, "must be a mapping of keys to values, not %s", describe(n))
		return
	}
	d.lines[field] = n.Line
	seen := map[string]bool{}
	d.pairs(n, field, handlers, seen, false, 0)
}

func (d *decoder) pairs(n *yaml.Node, field string, handlers map[string]handler, seen map[string]bool, merged bool, depth int) {
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), resolve(n.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			d.fail(k.Line, field, "a key must be a plain string, not %s", describe(k))
			continue
		}
		if k.Tag == "!!merge" {
			merges = append(merges, v)
			continue
		}
		f := join(field, k.Value)
		if seen[k.Value] {
			if !merged {
				d.fail(k.Line, f, "is set twice in the same mapping")
			}
			continue
		}
		seen[k.Value] = true
		h, ok := handlers[k.Value]
		if !ok {
			d.fail(k.Line, f, "unknown key; known keys here are %s", knownKeys(handlers))
			continue
		}
		d.lines[f] = v.Line
		if !merged && !isNull(v) {
			d.written[f] = true
		}
		if isNull(v) || !d.visit(v) {
			continue
		}
		h(v, f)
	}
	// Merged mappings come after the explicit keys so those win.
	for _, m := range merges {
		if depth > 8 {
			d.fail(m.Line, field, "merge keys nest too deeply")
			return
		}
		sources := []*yaml.Node{m}
		if m.Kind == yaml.SequenceNode {
			sources = m.Content
		}
		for _, s := range sources {
			s = resolve(s)
			if s.Kind != yaml.MappingNode {
				d.fail(s.Line, field, "<< must merge a mapping, not %s", describe(s))
				continue
			}
			d.pairs(s, field, handlers, seen, true, depth+1)
		}
	}
}

// visit counts one value against maxVisits, reporting once when the
// budget runs out.
func (d *decoder) visit(n *yaml.Node) bool {
	d.visits++
	if d.visits == maxVisits+1 {
		// Past the error cap too: this one explains the rest.
		d.errs = append(d.errs, &Error{File: d.file, Line: n.Line,
			Msg: fmt.Sprintf("the file expands to more than %d values (through aliases?); simplify it", maxVisits)})
	}
	return d.visits <= maxVisits
}

func knownKeys(handlers map[string]handler) string {
	keys := make([]string, 0, len(handlers))
	for k := range handlers {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return strings.Join(keys, ", ")
}

// list calls item for each element of a sequence.
func (d *decoder) list(n *yaml.Node, field string, item func(v *yaml.Node, field string, i int)) {
	n = resolve(n)
	if n.Kind != yaml.SequenceNode {
		d.fail(n.Line, field, "must be a list, not %s", describe(n))
		return
	}
	for i, v := range n.Content {
		f := fmt.Sprintf("%s[%d]", field, i)
		v = resolve(v)
		d.lines[f] = v.Line
		if !d.visit(v) {
			return
		}
		item(v, f, i)
	}
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if isNull(n) {
			return "nothing"
		}
		return strconv.Quote(n.Value)
	}
	return "an empty document"
}

func (d *decoder) scalar(n *yaml.Node, field string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.fail(n.Line, field, "must be a single value, not %s", describe(n))
		return "", false
	}
	if i := strings.IndexByte(n.Value, 0); i >= 0 {
		// A quoted "\0" escape: no name, path or setting may hold a NUL.
		d.fail(n.Line, field, "contains a NUL character (at character %d of the value); remove it", utf8.RuneCountInString(n.Value[:i])+1)
		return "", false
	}
	return n.Value, true
}

func (d *decoder) str(dst *string) handler {
	return func(n *yaml.Node, field string) {
		if s, ok := d.scalar(n, field); ok {
			*dst = s
		}
	}
}

// path decodes a file system path, expanding a leading ~.
func (d *decoder) path(dst *string) handler {
	return func(n *yaml.Node, field string) {
		s, ok := d.scalar(n, field)
		if !ok {
			return
		}
		p, err := expandHome(s)
		if err != nil {
			d.fail(n.Line, field, "%v", err)
			return
		}
		*dst = p
	}
}

func (d *decoder) int(dst *int) handler {
	return func(n *yaml.Node, field string) {
		s, ok := d.scalar(n, field)
		if !ok {
			return
		}
		v, err := strconv.Atoi(s)
		if err != nil {
			d.fail(n.Line, field, "%q is not a whole number", s)
			return
		}
		*dst = v
	}
}

func (d *decoder) duration(dst *time.Duration) handler {
	return func(n *yaml.Node, field string) {
		s, ok := d.scalar(n, field)
		if !ok {
			return
		}
		v, err := time.ParseDuration(s)
		if err != nil {
			d.fail(n.Line, field, "%q is not a duration (write it like 30s, 5m or 1h30m)", s)
			return
		}
		*dst = v
	}
}

func (d *decoder) rate(dst *Rate) handler {
	return func(n *yaml.Node, field string) {
		s, ok := d.scalar(n, field)
		if !ok {
			return
		}
		v, err := ParseRate(s)
		if err != nil {
			d.fail(n.Line, field, "%v", err)
			return
		}
		*dst = v
	}
}

func (d *decoder) size(dst *Size) handler {
	return func(n *yaml.Node, field string) {
		s, ok := d.scalar(n, field)
		if !ok {
			return
		}
		v, err := ParseSize(s)
		if err != nil {
			d.fail(n.Line, field, "%v", err)
			return
		}
		*dst = v
	}
}

func (d *decoder) ratePtr(dst **Rate) handler {
	return func(n *yaml.Node, field string) {
		var r Rate
		before := len(d.errs)
		d.rate(&r)(n, field)
		if len(d.errs) == before {
			*dst = &r
		}
	}
}

func (d *decoder) strings(dst *[]string) handler {
	return func(n *yaml.Node, field string) {
		var out []string
		d.list(n, field, func(v *yaml.Node, f string, _ int) {
			if s, ok := d.scalar(v, f); ok {
				out = append(out, s)
			}
		})
		*dst = out
	}
}

// expandHome replaces a leading "~" or "~/" by the home directory. "~user"
// is left alone (and then fails the absolute-path check).
func expandHome(p string) (string, error) {
	if p != "~" && !strings.HasPrefix(p, "~/") {
		return p, nil
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return "", fmt.Errorf("unable to expand ~ in %q: the home directory is unknown ($HOME is not set); write the path in full", p)
	}
	return filepath.Join(home, p[1:]), nil
}
