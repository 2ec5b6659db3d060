package fieldimport

import "fmt"

// statsReport reads a getStats() report or pion's GetStats() JSON, or a
// list of reports taken over time. A report is an array of stats objects
// (JSON.stringify([...report.values()])), an array of [id, stats]
// entries (JSON.stringify([...report])), or an object from id to stats
// (Object.fromEntries(report), pion's StatsReport). An object holding
// exactly one report among other fields ({"state": ..., "report": [...]})
// is read as that report.
func (r *reader) statsReport(root *jvalue) (*Dump, error) {
	reports, path := r.findReports(root, "")
	if reports == nil {
		return nil, r.errAt(root, "", "not a WebRTC dump: want %s; %s", wantDump, describe(root))
	}
	c := &Connection{Objects: map[string]*Object{}}
	pion, standard := false, false
	for i, rep := range reports {
		field := path
		if len(reports) > 1 {
			field = fmt.Sprintf("%s[%d]", path, i)
		}
		objs, err := r.reportObjects(rep, field)
		if err != nil {
			return nil, err
		}
		for _, o := range objs {
			addSnapshot(c, o, i)
			if o.typ == "local-candidate" || o.typ == "remote-candidate" {
				switch {
				case o.v.get("address") != nil:
					standard = true
				case o.v.get("ip") != nil && o.v.get("deleted") != nil:
					pion = true
				}
			}
		}
	}
	c.Snapshots = len(reports)
	f := GetStats
	if pion && !standard {
		f = PionGetStats
	}
	return &Dump{File: r.file, Format: f, Connections: []*Connection{c}}, nil
}

// statsObject is one stats object of one report.
type statsObject struct {
	id, typ, field string
	v              *jvalue
}

// isStats says whether v looks like a stats object: an object with a
// string type.
func isStats(v *jvalue) bool {
	t := v.get("type")
	return v.kind == jObject && t != nil && t.kind == jString && t.s != ""
}

// reportShape says whether v is a report: which of the three shapes.
func reportShape(v *jvalue) bool {
	switch v.kind {
	case jArray:
		if len(v.vals) == 0 {
			return false
		}
		first := v.vals[0]
		return isStats(first) || (first.kind == jArray && len(first.vals) == 2 && first.vals[0].kind == jString && isStats(first.vals[1]))
	case jObject:
		for _, x := range v.vals {
			if isStats(x) {
				return true
			}
		}
	}
	return false
}

// findReports finds the report or reports in root: root itself, a list
// of reports, or the one member of an object that is either.
func (r *reader) findReports(root *jvalue, path string) ([]*jvalue, string) {
	if reportShape(root) {
		return []*jvalue{root}, path
	}
	if root.kind == jArray && len(root.vals) > 0 && reportShape(root.vals[0]) {
		return root.vals, path
	}
	if root.kind == jObject && path == "" {
		var found []*jvalue
		var at string
		n := 0
		for i, k := range root.keys {
			if got, p := r.findReports(root.vals[i], k); got != nil {
				found, at = got, p
				n++
			}
		}
		if n == 1 {
			return found, at
		}
	}
	return nil, ""
}

// reportObjects lists the stats objects of one report, checking each has
// an id and a type.
func (r *reader) reportObjects(rep *jvalue, path string) ([]statsObject, error) {
	var out []statsObject
	add := func(key string, v *jvalue, field string) error {
		if v.kind != jObject {
			return r.errAt(v, field, "want a stats object with id and type, %s", describe(v))
		}
		t := v.get("type")
		if t == nil || t.kind != jString || t.s == "" {
			return r.errAt(v, field+".type", "missing; every stats object has a type (candidate-pair, local-candidate, transport, ...)")
		}
		id := v.get("id").str()
		if id == "" {
			id = key
		}
		if id == "" {
			return r.errAt(v, field+".id", "missing; every stats object has an id")
		}
		for _, k := range v.keys {
			if isLegacy(t.s, k) {
				return r.errAt(v, field, "this report %s", legacyMsg)
			}
		}
		out = append(out, statsObject{id: id, typ: t.s, field: field, v: v})
		return nil
	}
	switch rep.kind {
	case jArray:
		for i, x := range rep.vals {
			field := fmt.Sprintf("%s[%d]", path, i)
			if x.kind == jArray {
				if len(x.vals) != 2 || x.vals[0].kind != jString {
					return nil, r.errAt(x, field, "want an [id, stats] entry, found an array of %d items", len(x.vals))
				}
				if err := add(x.vals[0].s, x.vals[1], field+"[1]"); err != nil {
					return nil, err
				}
				continue
			}
			if err := add("", x, field); err != nil {
				return nil, err
			}
		}
	case jObject:
		for i, k := range rep.keys {
			if err := add(k, rep.vals[i], fmt.Sprintf("%s[%q]", path, k)); err != nil {
				return nil, err
			}
		}
	default:
		return nil, r.errAt(rep, path, "want a report (an array or object of stats objects), %s", describe(rep))
	}
	return out, nil
}

// addSnapshot appends one report's object to the connection's series, at
// the object's own timestamp (milliseconds since the epoch).
func addSnapshot(c *Connection, so statsObject, snap int) {
	o := c.Objects[so.id]
	if o == nil {
		o = &Object{ID: so.id, Type: so.typ, Attrs: map[string][]Point{}}
		c.Objects[so.id] = o
	}
	ms, _ := so.v.get("timestamp").num()
	at := epochMillis(ms)
	for i, k := range so.v.keys {
		o.Attrs[k] = append(o.Attrs[k], Point{At: at, Snap: snap, V: so.v.vals[i]})
	}
}
