package scenarios

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Error is one problem in a scenario file, located by file, line and field
// path, such as
//
//	office.yaml:14: clients[0].fallback.policy: unknown policy "tcp"; want none, ice-restart, ...
type Error struct {
	File  string
	Line  int    // 1-based; 0 when unknown
	Field string // dotted path with list indexes; "" for the whole file
	Msg   string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors returns the *Error values joined in err, in order; an err that is
// not a join yields itself if it is an *Error.
func Errors(err error) []*Error {
	var out []*Error
	var walk func(error)
	walk = func(err error) {
		if err == nil {
			return
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		var e *Error
		if errors.As(err, &e) {
			out = append(out, e)
		}
	}
	walk(err)
	return out
}

// maxErrors bounds the problems reported for one file.
const maxErrors = 50

// decoder walks a yaml.Node tree, collecting located errors instead of
// stopping at the first.
type decoder struct {
	file string
	errs []error
}

func (d *decoder) errorf(n *yaml.Node, field, format string, args ...any) {
	if len(d.errs) >= maxErrors {
		return
	}
	d.errs = append(d.errs, &Error{File: d.file, Line: lineOf(n), Field: field, Msg: fmt.Sprintf(format, args...)})
}

func (d *decoder) err() error { return errors.Join(d.errs...) }

func lineOf(n *yaml.Node) int {
	if n == nil {
		return 0
	}
	return n.Line
}

// resolve follows aliases, boundedly: yaml.v3 rejects alias cycles, but a
// malicious file should still not loop here.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 16; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

func describe(n *yaml.Node) string {
	switch {
	case n == nil:
		return "nothing"
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	case isNull(n):
		return "nothing"
	case n.Kind == yaml.ScalarNode:
		return strconv.Quote(n.Value)
	}
	return "an unsupported node"
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

// field handles one key of a mapping; v is already resolved.
type field func(path string, v *yaml.Node)

// fields decodes mapping n: each key must be one of handlers; unknown and
// duplicate keys are errors. It reports whether n was a mapping.
func (d *decoder) fields(n *yaml.Node, path string, handlers map[string]field) bool {
	n = resolve(n)
	if n == nil || n.Kind != yaml.MappingNode {
		d.errorf(n, path, "want a mapping, got %s", describe(n))
		return false
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), resolve(n.Content[i+1])
		if k == nil || k.Kind != yaml.ScalarNode {
			d.errorf(n.Content[i], path, "keys must be plain strings")
			continue
		}
		p := join(path, k.Value)
		if seen[k.Value] {
			d.errorf(k, p, "duplicate field")
			continue
		}
		seen[k.Value] = true
		h, ok := handlers[k.Value]
		if !ok {
			d.errorf(k, p, "unknown field %q; want %s", k.Value, oneOf(mapKeys(handlers)))
			continue
		}
		if v == nil {
			d.errorf(k, p, "missing value")
			continue
		}
		h(p, v)
	}
	return true
}

// pairs walks a mapping with free-form keys, such as a DNS table.
func (d *decoder) pairs(n *yaml.Node, path string, each func(key string, k, v *yaml.Node)) {
	n = resolve(n)
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "want a mapping, got %s", describe(n))
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), resolve(n.Content[i+1])
		if k == nil || k.Kind != yaml.ScalarNode || v == nil {
			d.errorf(n.Content[i], path, "keys must be plain strings")
			continue
		}
		if seen[k.Value] {
			d.errorf(k, join(path, k.Value), "duplicate key")
			continue
		}
		seen[k.Value] = true
		each(k.Value, k, v)
	}
}

// list decodes sequence n; a null is an empty list.
func (d *decoder) list(n *yaml.Node, path string, each func(path string, i int, v *yaml.Node)) {
	n = resolve(n)
	if isNull(n) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, path, "want a list, got %s", describe(n))
		return
	}
	for i, item := range n.Content {
		item = resolve(item)
		if item == nil {
			d.errorf(n, index(path, i), "missing value")
			continue
		}
		each(index(path, i), i, item)
	}
}

func (d *decoder) scalar(n *yaml.Node, path, want string) bool {
	if n == nil || n.Kind != yaml.ScalarNode || isNull(n) {
		d.errorf(n, path, "want %s, got %s", want, describe(n))
		return false
	}
	return true
}

func (d *decoder) str(n *yaml.Node, path string, dst *string) bool {
	if !d.scalar(n, path, "a string") {
		return false
	}
	*dst = n.Value
	return true
}

func (d *decoder) boolean(n *yaml.Node, path string, dst *bool) bool {
	if !d.scalar(n, path, "true or false") {
		return false
	}
	switch n.Value {
	case "true", "True", "TRUE", "yes", "Yes", "on":
		*dst = true
	case "false", "False", "FALSE", "no", "No", "off":
		*dst = false
	default:
		d.errorf(n, path, "want true or false, got %q", n.Value)
		return false
	}
	return true
}

func (d *decoder) integer(n *yaml.Node, path string, lo, hi int64, dst *int64) bool {
	if !d.scalar(n, path, "an integer") {
		return false
	}
	v, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64)
	if err != nil {
		d.errorf(n, path, "want an integer, got %q", n.Value)
		return false
	}
	if v < lo || v > hi {
		d.errorf(n, path, "%d is out of range %d..%d", v, lo, hi)
		return false
	}
	*dst = v
	return true
}

func (d *decoder) port(n *yaml.Node, path string, dst *uint16) bool {
	var v int64
	if !d.integer(n, path, 1, 65535, &v) {
		return false
	}
	*dst = uint16(v)
	return true
}

// duration parses a Go duration ("10s", "1m30s", "250ms"). Zero is allowed
// only when zeroOK.
func (d *decoder) duration(n *yaml.Node, path string, zeroOK bool, dst *time.Duration) bool {
	if !d.scalar(n, path, `a duration like "10s"`) {
		return false
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		d.errorf(n, path, "%q is not a duration; want a number with a unit, like 10s, 250ms or 1m30s", n.Value)
		return false
	}
	if v < 0 || (v == 0 && !zeroOK) {
		d.errorf(n, path, "%s must be positive", n.Value)
		return false
	}
	*dst = v
	return true
}

// fraction parses a probability: 0.02 or "2%".
func (d *decoder) fraction(n *yaml.Node, path string, dst *float64) bool {
	if !d.scalar(n, path, "a fraction like 0.02 or 2%") {
		return false
	}
	s, scale := n.Value, 1.0
	if t, ok := strings.CutSuffix(s, "%"); ok {
		s, scale = strings.TrimSpace(t), 100
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) {
		d.errorf(n, path, "want a fraction like 0.02 or 2%%, got %q", n.Value)
		return false
	}
	v /= scale
	if v < 0 || v > 1 {
		d.errorf(n, path, "%s is not between 0 and 1 (0%% and 100%%)", n.Value)
		return false
	}
	*dst = v
	return true
}

// bitrate parses a rate in bits per second: 2000000, "2Mbps", "500kbps".
func (d *decoder) bitrate(n *yaml.Node, path string, dst *int64) bool {
	if !d.scalar(n, path, `a rate like "2Mbps"`) {
		return false
	}
	s := strings.ToLower(strings.TrimSpace(n.Value))
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"gbps", 1e9}, {"mbps", 1e6}, {"kbps", 1e3}, {"bps", 1}, {"gbit", 1e9}, {"mbit", 1e6}, {"kbit", 1e3}} {
		if t, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = strings.TrimSpace(t), u.mult
			break
		}
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v <= 0 || v*float64(mult) > 1e12 {
		d.errorf(n, path, "want a positive rate like 2Mbps, 500kbps or 64000, got %q", n.Value)
		return false
	}
	*dst = int64(v * float64(mult))
	return true
}

// enum parses one of a fixed set of words.
func (d *decoder) enum(n *yaml.Node, path, what string, allowed []string, dst *string) bool {
	if !d.scalar(n, path, what) {
		return false
	}
	if !slices.Contains(allowed, n.Value) {
		d.errorf(n, path, "unknown %s %q; want %s", what, n.Value, oneOf(allowed))
		return false
	}
	*dst = n.Value
	return true
}

func oneOf(words []string) string {
	switch len(words) {
	case 0:
		return "nothing"
	case 1:
		return words[0]
	}
	return strings.Join(words, ", ")
}

func mapKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
