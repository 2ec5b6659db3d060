package fieldimport

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// internals reads a webrtc-internals dump: {getUserMedia,
// PeerConnections: {ID: {url, rtcConfiguration, constraints, updateLog,
// stats}}, UserAgent}, as Chromium's dump_creator.js writes it
// (content/browser/webrtc/resources).
func (r *reader) internals(root *jvalue) (*Dump, error) {
	d := &Dump{File: r.file, Format: WebRTCInternals, UserAgent: root.get("UserAgent").str()}
	pcs := root.get("PeerConnections")
	if pcs.kind != jObject {
		return nil, r.errAt(pcs, "PeerConnections", "want an object of peer connections by id, %s", describe(pcs))
	}
	if len(pcs.keys) == 0 {
		return nil, r.errAt(pcs, "PeerConnections", "empty: the dump holds no peer connection (webrtc-internals forgets a connection's data once the page closes it; take the dump while the call is up or has just failed)")
	}
	for i, id := range pcs.keys {
		c, err := r.internalsConnection(id, pcs.vals[i])
		if err != nil {
			return nil, err
		}
		d.Connections = append(d.Connections, c)
	}
	return d, nil
}

func (r *reader) internalsConnection(id string, v *jvalue) (*Connection, error) {
	path := fmt.Sprintf("PeerConnections[%q]", id)
	if v.kind != jObject {
		return nil, r.errAt(v, path, "want an object with rtcConfiguration, updateLog and stats, %s", describe(v))
	}
	c := &Connection{ID: id, Objects: map[string]*Object{}}
	cfg := v.get("rtcConfiguration")
	if cfg == nil {
		cfg = v.get("servers") // Chrome before the RTCConfiguration was logged whole
	}
	if cfg != nil {
		conf, err := r.rtcConfiguration(cfg, path+".rtcConfiguration")
		if err != nil {
			return nil, err
		}
		c.Config = conf
	}
	if log := v.get("updateLog"); log != nil {
		if log.kind != jArray {
			return nil, r.errAt(log, path+".updateLog", "want an array of {type, value, timestamp}, %s", describe(log))
		}
		for i, e := range log.vals {
			ev, err := r.event(e, fmt.Sprintf("%s.updateLog[%d]", path, i))
			if err != nil {
				return nil, err
			}
			c.Events = append(c.Events, ev)
		}
	}
	if stats := v.get("stats"); stats != nil {
		if stats.kind != jObject {
			return nil, r.errAt(stats, path+".stats", "want an object of series keyed \"STATSID-ATTRIBUTE\", %s", describe(stats))
		}
		if err := r.series(c, stats, path+".stats"); err != nil {
			return nil, err
		}
	}
	if v.get("updateLog") == nil && v.get("stats") == nil {
		return nil, r.errAt(v, path, "has neither updateLog nor stats: nothing to read about this peer connection")
	}
	return c, nil
}

// event reads one update log entry: {type, value, timestamp} (Chromium
// since about M118) or {time, type, value} (earlier: time a string of
// epoch milliseconds, or the page's locale rendering of it).
func (r *reader) event(v *jvalue, path string) (Event, error) {
	if v.kind != jObject {
		return Event{}, r.errAt(v, path, "want an object {type, value, timestamp}, %s", describe(v))
	}
	t := v.get("type")
	if t == nil || t.kind != jString {
		return Event{}, r.errAt(v, path+".type", "missing; every update log entry has a type")
	}
	ev := Event{Type: eventType(t.s), line: lineAt(r.data, v.off)}
	if val := v.get("value"); val != nil {
		if val.kind != jString {
			return Event{}, r.errAt(val, path+".value", "want a string, found %s", val.kind)
		}
		ev.Value = unwrapJSONString(val.s)
	}
	if ts := v.get("timestamp"); ts != nil {
		if ms, ok := ts.num(); ok {
			ev.At = epochMillis(ms)
		}
	} else if tm := v.get("time"); tm != nil {
		ev.At = parseTime(tm.str())
	}
	return ev, nil
}

// eventType drops the "on" that newer Chromium puts before event names
// ("oniceconnectionstatechange"), so that old and new dumps read alike.
func eventType(t string) string {
	switch t {
	case "onicecandidate", "onicecandidateerror", "oniceconnectionstatechange", "onconnectionstatechange",
		"onicegatheringstatechange", "onsignalingstatechange", "ondatachannel", "onnegotiationneeded", "ontrack":
		return t[2:]
	}
	return t
}

// unwrapJSONString returns the text of a value that newer Chromium
// encodes as a JSON string ("\"checking\""), and anything else as it is.
func unwrapJSONString(s string) string {
	if len(s) < 2 || s[0] != '"' {
		return s
	}
	var out string
	if json.Unmarshal([]byte(s), &out) != nil {
		return s
	}
	return out
}

func epochMillis(ms float64) time.Time {
	if ms <= 0 || ms > 1e15 {
		return time.Time{}
	}
	return time.UnixMicro(int64(ms * 1000)).UTC()
}

// timeLayouts are the ways dumps write times: Date.toJSON, and the en-US
// locale rendering of older webrtc-internals update logs.
var timeLayouts = []string{time.RFC3339Nano, "1/2/2006, 3:04:05 PM", "1/2/2006, 15:04:05"}

// parseTime reads a dump's time: epoch milliseconds (a number's text) or
// one of timeLayouts; zero when it cannot.
func parseTime(s string) time.Time {
	s = strings.TrimSpace(s)
	if ms, err := strconv.ParseFloat(s, 64); err == nil {
		return epochMillis(ms)
	}
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

// seriesIn is one series of a webrtc-internals dump before it is joined
// with the others of its stats object.
type seriesIn struct {
	attr       string
	start, end time.Time
	values     []*jvalue
}

// series reads stats: {"STATSID-ATTRIBUTE": {startTime, endTime,
// statsType, values}}, values a JSON array in a string, one value per
// getStats() call (TimelineDataSeries.toJSON in data_series.js). Series
// of values webrtc-internals computes ("ID-[bytesSent_in_bits/s]") are
// skipped.
func (r *reader) series(c *Connection, stats *jvalue, path string) error {
	byID := map[string][]seriesIn{}
	types := map[string]string{}
	for i, key := range stats.keys {
		v := stats.vals[i]
		field := fmt.Sprintf("%s[%q]", path, key)
		if strings.Contains(key, "-[") {
			continue
		}
		cut := strings.LastIndexByte(key, '-')
		if cut <= 0 || cut == len(key)-1 {
			return r.errAt(v, field, "want a key \"STATSID-ATTRIBUTE\"")
		}
		id, attr := key[:cut], key[cut+1:]
		if v.kind != jObject {
			return r.errAt(v, field, "want an object {startTime, endTime, statsType, values}, %s", describe(v))
		}
		if len(v.keys) == 0 {
			continue // a series with no points: toJSON writes {}
		}
		st := v.get("statsType").str()
		if isLegacy(st, attr) {
			return r.errAt(v, field, "this dump %s", legacyMsg)
		}
		vals := v.get("values")
		if vals == nil || vals.kind != jString {
			return r.errAt(v, field+".values", "missing; want the series' values as a JSON array in a string")
		}
		arr, err := decodeJSON([]byte(vals.s))
		if err != nil || arr.kind != jArray {
			msg := "not a JSON array"
			if err != nil {
				msg += ": " + err.Error()
			}
			return r.errAt(vals, field+".values", "%s", msg)
		}
		for _, x := range arr.vals {
			x.off = vals.off // values inside the string are reported at it
		}
		byID[id] = append(byID[id], seriesIn{attr: attr, start: parseTime(v.get("startTime").str()),
			end: parseTime(v.get("endTime").str()), values: arr.vals})
		if st != "" {
			types[id] = st
		}
	}
	ids := make([]string, 0, len(byID))
	for id := range byID {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		o := &Object{ID: id, Type: types[id], Attrs: map[string][]Point{}}
		// The "timestamp" series holds each report's own time; an
		// attribute that appeared later than the object has fewer
		// points, the newest last.
		var stamps []time.Time
		for _, s := range byID[id] {
			if s.attr == "timestamp" {
				for _, x := range s.values {
					ms, _ := x.num()
					stamps = append(stamps, epochMillis(ms))
				}
			}
		}
		for _, s := range byID[id] {
			pts := make([]Point, len(s.values))
			for i, x := range s.values {
				pts[i] = Point{At: pointTime(s, i, stamps), Snap: max(len(stamps), len(s.values)) - len(s.values) + i, V: x}
			}
			o.Attrs[s.attr] = pts
			c.Snapshots = max(c.Snapshots, len(pts))
		}
		if o.Type == "" {
			o.Type = o.lastStr("type")
		}
		c.Objects[id] = o
	}
	return nil
}

// pointTime is when the i-th value of a series was reported: from the
// object's timestamps when they cover the series, else spread evenly
// between its start and end.
func pointTime(s seriesIn, i int, stamps []time.Time) time.Time {
	n := len(s.values)
	if m := len(stamps); m >= n {
		if t := stamps[m-n+i]; !t.IsZero() {
			return t
		}
	}
	if n <= 1 || s.start.IsZero() || s.end.IsZero() {
		if i == n-1 && !s.end.IsZero() {
			return s.end
		}
		return s.start
	}
	return s.start.Add(time.Duration(float64(s.end.Sub(s.start)) * float64(i) / float64(n-1)))
}

// rtcConfiguration reads the configuration webrtc-internals logs: JSON in
// newer Chromium ({"iceServers":[{"urls":[...]}],"iceTransportPolicy":
// "relay"}), a JavaScript-like rendering in older ("{ iceServers:
// [stun:a, turn:b], iceTransportPolicy: all, bundlePolicy: ... }", from
// SerializeConfiguration in peer_connection_tracker.cc), or an object.
func (r *reader) rtcConfiguration(v *jvalue, path string) (*Config, error) {
	switch v.kind {
	case jObject:
		return configFromJSON(v), nil
	case jString:
	default:
		return nil, r.errAt(v, path, "want a string or an object, found %s", v.kind)
	}
	s := strings.TrimSpace(v.s)
	if s == "" {
		return nil, nil
	}
	if j, err := decodeJSON([]byte(s)); err == nil && j.kind == jObject {
		return configFromJSON(j), nil
	}
	return configFromText(s), nil
}

func configFromJSON(v *jvalue) *Config {
	c := &Config{Policy: v.get("iceTransportPolicy").str()}
	servers := v.get("iceServers")
	if servers == nil || servers.kind != jArray {
		return c
	}
	for _, s := range servers.vals {
		urls := s.get("urls")
		if urls == nil {
			urls = s.get("url") // the pre-standard spelling
		}
		switch {
		case urls == nil:
		case urls.kind == jString:
			c.ICEServers = append(c.ICEServers, urls.s)
		case urls.kind == jArray:
			for _, u := range urls.vals {
				if u.kind == jString {
					c.ICEServers = append(c.ICEServers, u.s)
				}
			}
		}
		if s.kind == jString { // a bare URL list
			c.ICEServers = append(c.ICEServers, s.s)
		}
	}
	return c
}

// configFromText reads "{ iceServers: [a, b], iceTransportPolicy: relay,
// ... }" and the older "[a, b]" server list.
func configFromText(s string) *Config {
	c := &Config{}
	list := s
	if i := strings.Index(s, "iceServers:"); i >= 0 {
		list = s[i+len("iceServers:"):]
	}
	if open := strings.IndexByte(list, '['); open >= 0 {
		if end := strings.IndexByte(list[open:], ']'); end >= 0 {
			for _, u := range strings.Split(list[open+1:open+end], ",") {
				if u = strings.Trim(strings.TrimSpace(u), `"'`); u != "" {
					c.ICEServers = append(c.ICEServers, u)
				}
			}
		}
	}
	if i := strings.Index(s, "iceTransportPolicy:"); i >= 0 {
		rest := strings.TrimSpace(s[i+len("iceTransportPolicy:"):])
		end := strings.IndexAny(rest, ", }")
		if end < 0 {
			end = len(rest)
		}
		c.Policy = strings.Trim(rest[:end], `"'`)
	}
	return c
}
