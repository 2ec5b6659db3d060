package fieldimport

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/icelab/icelab/scenarios"
)

// Format is a kind of field dump.
type Format string

// The formats icelab reads.
const (
	// WebRTCInternals is the file chrome://webrtc-internals downloads
	// ("Create a WebRTC-Internals dump"): {getUserMedia, PeerConnections,
	// UserAgent}, each peer connection with its configuration, update
	// log and stats as time series.
	WebRTCInternals Format = "webrtc-internals"
	// GetStats is a standard RTCStatsReport (W3C webrtc-stats) as JSON:
	// an array of stats objects, an array of [id, stats] entries, or a
	// map from id to stats; or a list of such reports taken over time.
	GetStats Format = "getStats"
	// PionGetStats is pion/webrtc's PeerConnection.GetStats() marshalled
	// to JSON: a map from id to stats, candidates carrying "ip" (pion's
	// name for address) and "deleted".
	PionGetStats Format = "pion-getstats"
)

// Formats lists the formats, for messages.
var Formats = []Format{WebRTCInternals, GetStats, PionGetStats}

// maxDump bounds a dump once decompressed: webrtc-internals keeps 1000
// points per series, which for a long call with many streams reaches a
// few tens of megabytes.
const maxDump = 256 << 20

// Dump is a field dump, read: the peer connections it holds, in the
// order of their ids.
type Dump struct {
	File        string
	Format      Format
	UserAgent   string
	Connections []*Connection
}

// Connection is what a dump holds about one peer connection.
type Connection struct {
	// ID is webrtc-internals' id ("RID-LID"); "" for a stats report.
	ID string
	// Config is the peer connection's configuration, nil when the dump
	// does not hold it (a stats report).
	Config *Config
	// Events is the update log in order (webrtc-internals only).
	Events []Event
	// Objects are the stats objects by id; each attribute is a series
	// of values over time.
	Objects map[string]*Object
	// Snapshots is how many getStats() reports the series come from (a
	// webrtc-internals dump: the longest series).
	Snapshots int
}

// Config is the part of an RTCConfiguration a dump shows.
type Config struct {
	// ICEServers are the configured server URLs; a dump never holds
	// their credentials.
	ICEServers []string
	// Policy is the ICE transport policy: all or relay ("" when the dump
	// does not say, which for Chromium means all).
	Policy string
}

// Event is one entry of webrtc-internals' update log, its type without
// the "on" prefix newer Chromium adds ("icecandidate",
// "iceconnectionstatechange") and its value unwrapped when it is a JSON
// string.
type Event struct {
	At    time.Time // zero when the dump's time cannot be read
	Type  string
	Value string
	line  int
}

// Object is one stats object (RTCStats) over the reports a dump holds.
type Object struct {
	ID, Type string
	Attrs    map[string][]Point
}

// Point is one value of a stats attribute and when it was reported.
type Point struct {
	At time.Time // zero when unknown
	// Snap is the report the value comes from, counted from 0 over the
	// connection's reports.
	Snap int
	V    *jvalue
}

// at returns the attribute's value in report snap, or nil.
func (o *Object) at(attr string, snap int) *jvalue {
	for _, p := range o.Attrs[attr] {
		if p.Snap == snap {
			return p.V
		}
	}
	return nil
}

// last returns the newest value of an attribute, or nil.
func (o *Object) last(attr string) *jvalue {
	if o == nil {
		return nil
	}
	ps := o.Attrs[attr]
	if len(ps) == 0 {
		return nil
	}
	return ps[len(ps)-1].V
}

// lastStr returns the newest value of an attribute as text.
func (o *Object) lastStr(attr string) string { return o.last(attr).str() }

// lastNum returns the newest value of an attribute as a number.
func (o *Object) lastNum(attr string) (float64, bool) { return o.last(attr).num() }

// Error is a problem with a dump: its file, the line (1-based, 0 when
// unknown), the JSON field it is about ("PeerConnections[\"12-1\"].stats")
// and what is wrong, located and printed as a scenario file's problems
// are.
type Error = scenarios.Error

// reader carries a document being read, to place errors.
type reader struct {
	file string
	data []byte
}

func (r *reader) errAt(v *jvalue, field, format string, args ...any) *Error {
	e := &Error{File: r.file, Field: field, Msg: fmt.Sprintf(format, args...)}
	if v != nil {
		e.Line = lineAt(r.data, v.off)
	}
	return e
}

// Parse reads a dump in any of the formats, found from its content; a
// gzip-compressed dump (webrtc-internals offers one) is decompressed.
// Every problem is an *Error naming the file, the line and the field.
func Parse(file string, data []byte) (*Dump, error) { return parse(file, data, "") }

// ParseAs reads a dump that must be in format f.
func ParseAs(file string, data []byte, f Format) (*Dump, error) {
	if !slices.Contains(Formats, f) {
		return nil, &Error{File: file, Msg: fmt.Sprintf("unknown format %q; want one of %s", f, formatList())}
	}
	return parse(file, data, f)
}

func formatList() string {
	s := make([]string, len(Formats))
	for i, f := range Formats {
		s[i] = string(f)
	}
	return strings.Join(s, ", ")
}

func parse(file string, data []byte, want Format) (*Dump, error) {
	data, err := gunzip(data)
	if err != nil {
		return nil, &Error{File: file, Msg: err.Error()}
	}
	r := &reader{file: file, data: data}
	trimmed := bytes.TrimSpace(data)
	switch {
	case len(trimmed) == 0:
		return nil, &Error{File: file, Msg: "empty file; want " + wantDump}
	case bytes.HasPrefix(trimmed, []byte("RTCStatsDump")):
		return nil, &Error{File: file, Line: 1, Msg: "this is an rtcstats dump (chrome://webrtc-internals' \"Create an RTCStats dump\"), which icelab does not read; download \"Create a WebRTC-Internals dump\" from the same page instead"}
	}
	root, err := decodeJSON(data)
	if err != nil {
		var se *syntaxError
		if errors.As(err, &se) {
			return nil, &Error{File: file, Line: lineAt(data, se.off), Msg: "not valid JSON: " + se.msg}
		}
		return nil, &Error{File: file, Msg: "not valid JSON: " + err.Error()}
	}
	if root.kind == jObject && root.get("PeerConnections") != nil {
		if want != "" && want != WebRTCInternals {
			return nil, r.errAt(root, "", "this is a webrtc-internals dump (it has PeerConnections), not %s", want)
		}
		return r.internals(root)
	}
	if want == WebRTCInternals {
		return nil, r.errAt(root, "PeerConnections", "missing; a webrtc-internals dump is an object with PeerConnections, getUserMedia and UserAgent (%s)", describe(root))
	}
	d, err := r.statsReport(root)
	if err != nil {
		return nil, err
	}
	if want != "" && d.Format != want {
		return nil, r.errAt(root, "", "this is %s JSON, not %s", d.Format, want)
	}
	return d, nil
}

// wantDump says what icelab reads, for errors about unrelated input.
const wantDump = "a webrtc-internals dump (an object with PeerConnections), a getStats() report (stats objects with id and type, as an array, [id, stats] entries or a map), or pion's GetStats() JSON"

// gunzip decompresses gzip data and passes anything else through, both
// bounded by maxDump.
func gunzip(data []byte) ([]byte, error) {
	if len(data) > maxDump {
		return nil, fmt.Errorf("larger than %d MiB", maxDump>>20)
	}
	if len(data) < 2 || data[0] != 0x1f || data[1] != 0x8b {
		return data, nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	out, err := io.ReadAll(io.LimitReader(zr, maxDump+1))
	if err != nil {
		return nil, fmt.Errorf("gzip: %w (is the file truncated?)", err)
	}
	if len(out) > maxDump {
		return nil, fmt.Errorf("larger than %d MiB once decompressed", maxDump>>20)
	}
	return out, nil
}

// describe says in a few words what a JSON value is, for errors about
// unrelated input.
func describe(v *jvalue) string {
	switch v.kind {
	case jObject:
		if len(v.keys) == 0 {
			return "found an empty object"
		}
		keys := slices.Clone(v.keys)
		sort.Strings(keys)
		more := ""
		if len(keys) > 6 {
			keys, more = keys[:6], fmt.Sprintf(" and %d more", len(v.keys)-6)
		}
		return "found an object with keys " + strings.Join(keys, ", ") + more
	case jArray:
		if len(v.vals) == 0 {
			return "found an empty array"
		}
		return fmt.Sprintf("found an array of %d items, the first %s", len(v.vals), v.vals[0].kind)
	}
	return "found " + v.kind.String()
}

// legacyTypes are the stats types of Chrome's callback-based getStats(),
// which webrtc-internals dumps held before Chrome 80 or when "Legacy
// Non-Standard" was selected.
var legacyTypes = []string{"googCandidatePair", "googComponent", "googLibjingleSession", "googTrack", "googCertificate",
	"localcandidate", "remotecandidate", "VideoBwe", "ssrc"}

// legacyMsg refuses goog* stats.
const legacyMsg = "holds legacy goog* stats (Chrome's callback-based getStats(), in webrtc-internals before Chrome 80 or with \"Legacy Non-Standard\" selected), which icelab does not read: " +
	"take the dump again from a current Chrome, or with \"Standardized (promise-based) getStats() API\" selected"

func isLegacy(statsType, attr string) bool {
	return slices.Contains(legacyTypes, statsType) || strings.HasPrefix(attr, "goog")
}
