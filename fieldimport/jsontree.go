package fieldimport

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// jkind is the kind of a JSON value.
type jkind uint8

const (
	jNull jkind = iota
	jBool
	jNumber
	jString
	jArray
	jObject
)

func (k jkind) String() string {
	return [...]string{"null", "a boolean", "a number", "a string", "an array", "an object"}[k]
}

// jvalue is a decoded JSON value that remembers where it started in its
// document, so that an error about it can name the line.
type jvalue struct {
	kind jkind
	off  int64 // byte offset of the value's first character
	b    bool
	s    string // a string's text, or a number's literal
	keys []string
	vals []*jvalue // an object's values (parallel to keys) or an array's items
}

// get returns the value of key in an object, or nil.
func (v *jvalue) get(key string) *jvalue {
	if v == nil || v.kind != jObject {
		return nil
	}
	for i, k := range v.keys {
		if k == key {
			return v.vals[i]
		}
	}
	return nil
}

// str returns a string value's text, a number's literal or a boolean as
// text, and "" for anything else.
func (v *jvalue) str() string {
	if v == nil {
		return ""
	}
	switch v.kind {
	case jString, jNumber:
		return v.s
	case jBool:
		return strconv.FormatBool(v.b)
	}
	return ""
}

// num returns a number, or a string holding one, as a float64.
func (v *jvalue) num() (float64, bool) {
	if v == nil || (v.kind != jNumber && v.kind != jString) {
		return 0, false
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(v.s), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// boolean returns a boolean, or a string "true"/"false", as a bool.
func (v *jvalue) boolean() (bool, bool) {
	if v == nil {
		return false, false
	}
	switch v.kind {
	case jBool:
		return v.b, true
	case jString:
		b, err := strconv.ParseBool(v.s)
		return b, err == nil
	}
	return false, false
}

// maxDepth bounds how deeply a document may nest; dumps nest a handful of
// levels.
const maxDepth = 200

// decodeJSON decodes one JSON document into a jvalue tree.
func decodeJSON(data []byte) (*jvalue, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := readValue(dec, data, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, &syntaxError{off: dec.InputOffset(), msg: "more data after the JSON value ends"}
	}
	return v, nil
}

// syntaxError is a JSON document that does not parse, at a byte offset.
type syntaxError struct {
	off int64
	msg string
}

func (e *syntaxError) Error() string { return e.msg }

// valueStart is the offset of the value that follows off: past
// whitespace and the ':' or ',' before it.
func valueStart(data []byte, off int64) int64 {
	for off < int64(len(data)) {
		switch data[off] {
		case ' ', '\t', '\r', '\n', ':', ',':
			off++
			continue
		}
		break
	}
	return off
}

func readValue(dec *json.Decoder, data []byte, depth int) (*jvalue, error) {
	start := valueStart(data, dec.InputOffset())
	tok, err := dec.Token()
	if err != nil {
		return nil, tokenError(err, dec, data)
	}
	return readFrom(dec, data, tok, start, depth)
}

func readFrom(dec *json.Decoder, data []byte, tok json.Token, start int64, depth int) (*jvalue, error) {
	v := &jvalue{off: start}
	switch t := tok.(type) {
	case nil:
		v.kind = jNull
	case bool:
		v.kind, v.b = jBool, t
	case json.Number:
		v.kind, v.s = jNumber, string(t)
	case string:
		v.kind, v.s = jString, t
	case json.Delim:
		if depth >= maxDepth {
			return nil, &syntaxError{off: start, msg: fmt.Sprintf("nested more than %d levels deep", maxDepth)}
		}
		switch t {
		case '{':
			v.kind = jObject
			for dec.More() {
				kstart := valueStart(data, dec.InputOffset())
				kt, err := dec.Token()
				if err != nil {
					return nil, tokenError(err, dec, data)
				}
				key, ok := kt.(string)
				if !ok {
					return nil, &syntaxError{off: kstart, msg: "an object key is not a string"}
				}
				val, err := readValue(dec, data, depth+1)
				if err != nil {
					return nil, err
				}
				v.keys = append(v.keys, key)
				v.vals = append(v.vals, val)
			}
		case '[':
			v.kind = jArray
			for dec.More() {
				val, err := readValue(dec, data, depth+1)
				if err != nil {
					return nil, err
				}
				v.vals = append(v.vals, val)
			}
		default:
			return nil, &syntaxError{off: start, msg: fmt.Sprintf("unexpected %q", rune(t))}
		}
		if _, err := dec.Token(); err != nil { // the closing delimiter
			return nil, tokenError(err, dec, data)
		}
	}
	return v, nil
}

// tokenError turns a decoder error into a syntaxError at its offset.
func tokenError(err error, dec *json.Decoder, data []byte) error {
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		return &syntaxError{off: se.Offset, msg: se.Error()}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return &syntaxError{off: int64(len(data)), msg: "the JSON ends before its last value is complete (is the file truncated?)"}
	}
	return &syntaxError{off: dec.InputOffset(), msg: err.Error()}
}

// lineAt is the 1-based line of byte offset off in data.
func lineAt(data []byte, off int64) int {
	if off < 0 {
		return 0
	}
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	return bytes.Count(data[:off], []byte{'\n'}) + 1
}
