package reports

import (
	"bytes"
	"encoding"
	"encoding/json"
	"io"
	"reflect"
	"strings"
	"time"
	"unicode"

	"github.com/icelab/icelab/scenarios"
)

// JSON conventions of results.json: every key is snake_case, and every
// duration, whether a time offset from the start of a run ("connected_at")
// or a length ("duration", "wall", "recover_within"), is a number of
// seconds. Map keys that are data rather than field names (drop reasons,
// client names) are kept as they are. A run's "expect" is its scenario's
// expect: block as the file spells it.

// jsonReport is the JSON document: every run with its full result. The
// spec is left out: it holds the relay's private key.
type jsonReport struct {
	Summary     string    `json:"summary"`
	Wall        float64   `json:"wall"`
	Interrupted bool      `json:"interrupted"`
	Runs        []jsonRun `json:"runs"`
}

type jsonRun struct {
	Scenario jsonScenario `json:"scenario"`
	Verdict  Verdict      `json:"verdict"`
	// Problem says why a run did not pass or fail: load errors, a run
	// error, an interruption, a skip.
	Problem    string `json:"problem,omitempty"`
	Invalid    any    `json:"invalid,omitempty"`
	Mismatches any    `json:"mismatches"`
	Expect     any    `json:"expect,omitempty"`
	// Series says which flows' per-second series a room's report left
	// out (see RunSeriesPoints); absent when it kept every flow's.
	Series string `json:"series,omitempty"`
	// Repeats says how the runs of a scenario run more than once went:
	// runs, met, the run shown (whose result and mismatches these are),
	// what varied, what was not met, each run's verdict.
	Repeats any `json:"repeats,omitempty"`
	Result  any `json:"result"`
}

type jsonScenario struct {
	File   string `json:"file,omitempty"`
	Name   string `json:"name"`
	Report string `json:"report,omitempty"`
	Source string `json:"source,omitempty"`
	// Clock is the clock the scenario needs by default: "fake", or
	// "real" for a scenario with client ICE-TCP.
	Clock    string  `json:"clock"`
	Duration float64 `json:"duration,omitempty"`
}

// WriteJSON writes the suite as one JSON document with each
// harness.Result in full (for a scenario run more than once, the result
// of the run its repeats show, beside their account). Keys are snake_case
// and durations are in seconds. A series longer than MaxSeriesPoints is
// summarised (its quality's step says how), and a flow of one stream
// carries its series once, on the flow, unless s.FullSeries.
func WriteJSON(w io.Writer, s Suite) error {
	s = s.forJSON()
	doc := jsonReport{Summary: Summary(s), Wall: s.Wall.Seconds(), Interrupted: s.Interrupted, Runs: make([]jsonRun, 0, len(s.Runs))}
	for _, r := range s.Runs {
		jr := jsonRun{
			Verdict:    r.Verdict(),
			Problem:    r.Problem(),
			Mismatches: []any{},
			Result:     snake(reflect.ValueOf(r.Result)),
			Series:     r.seriesNote,
		}
		if r.Verdict() == Interrupted {
			doc.Interrupted = true
		}
		if len(r.Mismatches) > 0 {
			jr.Mismatches = snake(reflect.ValueOf(r.Mismatches))
		}
		if len(r.Invalid) > 0 {
			jr.Invalid = snake(reflect.ValueOf(r.Invalid))
		}
		if r.Repeats != nil {
			jr.Repeats = snake(reflect.ValueOf(r.Repeats))
		}
		if sc := r.Scenario; sc != nil {
			clock := "fake"
			if sc.RealClock {
				clock = "real"
			}
			jr.Scenario = jsonScenario{File: sc.File, Name: sc.Name, Report: sc.Report, Source: sc.Source, Clock: clock, Duration: sc.Spec.Duration.Seconds()}
			if len(sc.Expect) > 0 {
				jr.Expect = expectations(sc)
			}
		} else {
			jr.Scenario.Name = r.name()
			jr.Scenario.File = r.File
		}
		doc.Runs = append(doc.Runs, jr)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

// expectations renders a scenario's expect: block as the file spells it,
// with only the fields it sets.
func expectations(s *scenarios.Scenario) map[string]any {
	out := map[string]any{}
	for name, e := range s.Expect {
		m := map[string]any{}
		if len(e.Transports) > 0 {
			m["transport"] = e.Transports
		}
		if e.Connected != nil {
			m["connected"] = *e.Connected
		}
		if len(e.LocalCandidates) > 0 || len(e.RemoteCandidates) > 0 {
			c := map[string]any{}
			if len(e.LocalCandidates) > 0 {
				c["local"] = oneOrList(e.LocalCandidates)
			}
			if len(e.RemoteCandidates) > 0 {
				c["remote"] = oneOrList(e.RemoteCandidates)
			}
			m["candidates"] = c
		}
		if e.MediaBothWays != nil {
			m["media"] = map[string]bool{"both_ways": *e.MediaBothWays}
		}
		if e.Recovered != nil {
			m["recovered"] = *e.Recovered
		}
		if e.RecoverWithin > 0 {
			m["recover_within"] = e.RecoverWithin.Seconds()
		}
		if e.FailureContains != "" {
			m["failure_contains"] = e.FailureContains
		}
		if e.FinalState != "" {
			m["final_state"] = e.FinalState
		}
		out[name] = m
	}
	return out
}

// object is a JSON object whose keys keep their order.
type object struct {
	keys []string
	vals []any
}

func (o *object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range o.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, err := json.Marshal(k)
		if err != nil {
			return nil, err
		}
		b.Write(kb)
		b.WriteByte(':')
		vb, err := json.Marshal(o.vals[i])
		if err != nil {
			return nil, err
		}
		b.Write(vb)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

var (
	durationType  = reflect.TypeFor[time.Duration]()
	marshalerType = reflect.TypeFor[json.Marshaler]()
	textType      = reflect.TypeFor[encoding.TextMarshaler]()
)

// snake turns v into a value that encoding/json writes with snake_case
// keys and durations in seconds. It honours json tags: "-" leaves a field
// out, a name replaces the field's, omitempty leaves out zero values.
// Types with their own JSON or text encoding are left to it.
func snake(v reflect.Value) any {
	if !v.IsValid() {
		return nil
	}
	t := v.Type()
	switch {
	case t == durationType:
		return time.Duration(v.Int()).Seconds()
	case t.Implements(marshalerType), t.Implements(textType):
		return v.Interface()
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return snake(v.Elem())
	case reflect.Struct:
		o := &object{}
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				continue
			}
			fv := v.Field(i)
			if strings.Contains(opts, "omitempty") && fv.IsZero() {
				continue
			}
			if name == "" {
				name = snakeCase(f.Name)
			}
			o.keys = append(o.keys, name)
			o.vals = append(o.vals, snake(fv))
		}
		return o
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.IsNil() {
			return []any{}
		}
		out := make([]any, v.Len())
		for i := range out {
			out[i] = snake(v.Index(i))
		}
		return out
	case reflect.Map:
		out := make(map[string]any, v.Len())
		for it := v.MapRange(); it.Next(); {
			out[it.Key().String()] = snake(it.Value())
		}
		return out
	}
	return v.Interface()
}

// snakeCase turns a Go field name into snake_case: ConnectedAt becomes
// connected_at, ICEStates ice_states, ClientToPeerBytes
// client_to_peer_bytes.
func snakeCase(name string) string {
	r := []rune(name)
	var b strings.Builder
	for i, c := range r {
		if unicode.IsUpper(c) {
			prevLower := i > 0 && (unicode.IsLower(r[i-1]) || unicode.IsDigit(r[i-1]))
			nextLower := i > 0 && i+1 < len(r) && unicode.IsUpper(r[i-1]) && unicode.IsLower(r[i+1])
			if prevLower || nextLower {
				b.WriteByte('_')
			}
			c = unicode.ToLower(c)
		}
		b.WriteRune(c)
	}
	return b.String()
}

// oneOrList is a list of one as its element, as a file spells it.
func oneOrList(s []string) any {
	if len(s) == 1 {
		return s[0]
	}
	return s
}
