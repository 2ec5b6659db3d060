package fieldimport

import (
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// iceToPC maps ICE connection states to the peer connection states that
// follow from them, for dumps that log only the former.
var iceToPC = map[string]string{"new": "new", "checking": "connecting", "connected": "connected", "completed": "connected",
	"disconnected": "disconnected", "failed": "failed", "closed": "closed"}

// states reads the state changes: from the update log when it has them,
// else from the transport's iceState and dtlsState series, else (pion)
// from the DTLS state and the pairs.
func (e *Evidence) states(c *Connection) {
	for _, ev := range c.Events {
		switch ev.Type {
		case "connectionstatechange":
			e.States = appendState(e.States, ev.At, ev.Value)
		case "iceconnectionstatechange":
			e.ICEStates = appendState(e.ICEStates, ev.At, legacyICEState(ev.Value))
		}
	}
	for _, id := range sortedIDs(c) {
		o := c.Objects[id]
		if o.Type != "transport" {
			continue
		}
		for _, p := range o.Attrs["dtlsState"] {
			e.DTLSStates = appendState(e.DTLSStates, p.At, p.V.str())
		}
		if len(e.ICEStates) == 0 {
			for _, p := range o.Attrs["iceState"] {
				if _, known := iceToPC[p.V.str()]; known { // pion reports "unknown"
					e.ICEStates = appendState(e.ICEStates, p.At, p.V.str())
				}
			}
		}
		break
	}
	if len(e.States) > 0 {
		return
	}
	e.StatesDerived = true
	if len(e.ICEStates) > 0 && len(c.Events) > 0 {
		for _, s := range e.ICEStates {
			e.States = appendState(e.States, s.At, iceToPC[s.State])
		}
		return
	}
	e.States = derivedStates(c)
}

// derivedStates reads the peer connection's states from the stats
// alone, report by report: the transport's ICE and DTLS states where it
// has them (Chromium), else (pion, which reports no ICE state) the DTLS
// state and the candidate pairs. pion drops its candidates once ICE has
// failed, so a report without pairs after a connection is a failure.
func derivedStates(c *Connection) []StateChange {
	var transport *Object
	var pairs []*Object
	for _, id := range sortedIDs(c) {
		switch o := c.Objects[id]; o.Type {
		case "transport":
			if transport == nil {
				transport = o
			}
		case "candidate-pair":
			pairs = append(pairs, o)
		}
	}
	var out []StateChange
	connected := false
	for k := range max(c.Snapshots, 1) {
		var at time.Time
		ice, dtls := "", ""
		if transport != nil {
			if ms, ok := transport.at("timestamp", k).num(); ok {
				at = epochMillis(ms)
			}
			if s := transport.at("iceState", k).str(); iceToPC[s] != "" {
				ice = s
			}
			dtls = transport.at("dtlsState", k).str()
		}
		present, failed, succeeded := 0, 0, false
		for _, p := range pairs {
			switch p.at("state", k).str() {
			case "":
				continue
			case "succeeded":
				succeeded = true
			case "failed":
				failed++
			}
			present++
		}
		var st string
		switch {
		case ice != "":
			st = iceToPC[ice]
			if st == "connected" && dtls != "connected" {
				st = "connecting"
				if dtls == "failed" || dtls == "closed" {
					st = "failed"
				}
			}
		case dtls == "failed":
			st = "failed"
		case present == 0 && connected:
			st = "failed"
		case dtls == "connected" && succeeded:
			st = "connected"
		case present > 0 && failed == present:
			st = "failed"
		default:
			st = "connecting"
		}
		connected = connected || st == "connected"
		out = appendState(out, at, st)
	}
	return out
}

// legacyICEState maps the ICE state names of old dumps
// ("ICEConnectionStateConnected", "kICEConnectionStateConnected").
func legacyICEState(s string) string {
	s = strings.TrimPrefix(s, "k")
	s = strings.TrimPrefix(s, "ICEConnectionState")
	return strings.ToLower(s)
}

func appendState(list []StateChange, at time.Time, s string) []StateChange {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" || (len(list) > 0 && list[len(list)-1].State == s) {
		return list
	}
	return append(list, StateChange{At: at, State: s})
}

// events reads candidate errors and ICE restarts from the update log.
func (e *Evidence) events(c *Connection) {
	for _, ev := range c.Events {
		switch ev.Type {
		case "icecandidateerror":
			e.CandidateErrors = append(e.CandidateErrors, parseCandidateError(ev))
		case "createOffer":
			v := strings.ReplaceAll(ev.Value, " ", "")
			if strings.Contains(v, "iceRestart:true") || strings.Contains(v, `"iceRestart":true`) {
				e.ICERestarts++
			}
		case "restartIce":
			e.ICERestarts++
		}
	}
}

// parseCandidateError reads an icecandidateerror value: "url: U\naddress:
// A\nport: P\nhost_candidate: H\nerror_text: T\nerror_code: C" (Chromium's
// peer_connection_tracker.cc), or a JSON object with the event's
// attributes.
func parseCandidateError(ev Event) CandidateError {
	ce := CandidateError{At: ev.At}
	if j, err := decodeJSON([]byte(ev.Value)); err == nil && j.kind == jObject {
		ce.URL = j.get("url").str()
		ce.Text = j.get("errorText").str()
		if n, ok := j.get("errorCode").num(); ok {
			ce.Code = int(n)
		}
		return ce
	}
	for _, line := range strings.Split(ev.Value, "\n") {
		k, v, ok := strings.Cut(line, ": ")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "url":
			ce.URL = v
		case "error_text":
			ce.Text = v
		case "error_code":
			ce.Code, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	return ce
}

// media reads what the endpoint sent: outbound RTP by kind, data
// channels.
func (e *Evidence) media(c *Connection) {
	add := func(k string) {
		if !slices.Contains(e.Sends, k) {
			e.Sends = append(e.Sends, k)
		}
	}
	for _, id := range sortedIDs(c) {
		o := c.Objects[id]
		switch o.Type {
		case "outbound-rtp":
			k := o.lastStr("kind")
			if k == "" {
				k = o.lastStr("mediaType")
			}
			if k == "audio" || k == "video" {
				add(k)
			}
		case "data-channel":
			add("data")
		}
	}
	for _, ev := range c.Events {
		if ev.Type == "createDataChannel" || ev.Type == "datachannel" {
			add("data")
		}
	}
	sort.Slice(e.Sends, func(i, j int) bool { return mediaOrder(e.Sends[i]) < mediaOrder(e.Sends[j]) })
}

func mediaOrder(k string) int { return slices.Index([]string{"audio", "video", "data"}, k) }

// span finds the first and last moments the dump covers.
func (e *Evidence) span(c *Connection) {
	see := func(t time.Time) {
		if t.IsZero() {
			return
		}
		if e.Start.IsZero() || t.Before(e.Start) {
			e.Start = t
		}
		if t.After(e.End) {
			e.End = t
		}
	}
	for _, ev := range c.Events {
		see(ev.At)
	}
	for _, o := range c.Objects {
		for _, ps := range o.Attrs {
			for _, p := range ps {
				see(p.At)
			}
		}
	}
}
