package scenarios_test

import (
	"bytes"
	"encoding/json"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/icelab/icelab/scenarios"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"
)

const schemaFile = "scenario.schema.json"

// schemaRef is the first line of every catalog file, so that editors using
// the YAML language server complete and check fields.
const schemaRef = "# yaml-language-server: $schema=../" + schemaFile

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open(schemaFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatalf("%s: %v", schemaFile, err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(schemaFile, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(schemaFile)
	if err != nil {
		t.Fatalf("%s: %v", schemaFile, err)
	}
	return s
}

// asJSON turns a YAML document into the value JSON would decode to.
func asJSON(t *testing.T, data []byte) any {
	t.Helper()
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestCatalogMatchesSchema proves every catalog file names the schema on
// its first line and is valid against it, and that the schema rejects a
// typo the loader rejects.
func TestCatalogMatchesSchema(t *testing.T) {
	schema := compileSchema(t)
	files, err := scenarios.ScenarioFiles(catalogDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no catalog files")
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if first, _, _ := strings.Cut(string(data), "\n"); first != schemaRef {
			t.Errorf("%s: first line %q, want %q", f, first, schemaRef)
		}
		if err := schema.Validate(asJSON(t, data)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	for _, typo := range []string{
		"name: x\nclients: [{name: alice}]\nduraton: 10s\n",
		"name: x\nclients: [{name: alice, pubish: [audio]}]\n",
		"name: x\nclients: [{name: alice, network_types: [udp5]}]\n",
		"name: x\nclients: [{name: alice}]\nexpect: {alice: {transport: TURN/QUIC}}\n",
		"name: x\nclients: [{name: alice}]\npeers: [{name: a}, {name: b}]\n",
		"name: x\nnode: {}\npeers: [{name: a}, {name: b}]\n",
		"name: x\npeers: [{name: a}, {name: b}]\nexpect: {a: {with: {b: {transport: TURN/QUIC}}}}\n",
	} {
		if schema.Validate(asJSON(t, []byte(typo))) == nil {
			t.Errorf("schema accepts %q", typo)
		}
		if _, err := scenarios.Parse("typo.yaml", []byte(typo)); err == nil {
			t.Errorf("loader accepts %q", typo)
		}
	}
}

// TestSchemaCoversEveryField proves the schema and the loader accept the
// same fields in every mapping: each probe puts an unknown field in one
// mapping, and the fields the loader then lists as wanted must be the
// schema's properties there. Every mapping of the schema must be probed.
func TestSchemaCoversEveryField(t *testing.T) {
	data, err := os.ReadFile(schemaFile)
	if err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	if err := json.Unmarshal(data, &schema); err != nil {
		t.Fatal(err)
	}
	const base = "name: x\nclients:\n  - name: alice\n"
	const peers = "name: x\npeers: [{name: a}, {name: b}]\n"
	lan := func(body string) string { return base + "network: {lans: [{name: a, " + body + "}]}\n" }
	client := func(body string) string { return "name: x\nclients:\n  - {name: alice, " + body + "}\n" }
	// unknown is how the loader names the probe's unknown key; the list
	// of what it wants follows.
	const unknownField, unknownPreset = `unknown field "zzz"; want `, `unknown firewall preset "zzz"; want `
	probes := []struct{ doc, field, pointer, unknown string }{
		{base + "zzz: 1\n", "zzz", "#", unknownField},
		{base + "network: {zzz: 1}\n", "network.zzz", "#/properties/network", unknownField},
		{lan("zzz: 1"), "network.lans[0].zzz", "#/definitions/lan", unknownField},
		{lan("nat: {preset: port-restricted, zzz: 1}"), "network.lans[0].nat.zzz", "#/definitions/nat/oneOf/1", unknownField},
		{lan("nat: {preset: port-restricted, forwards: [{zzz: 1}]}"), "network.lans[0].nat.forwards[0].zzz", "#/definitions/nat/oneOf/1/properties/forwards/items", unknownField},
		{lan("firewall: [{action: drop, zzz: 1}]"), "network.lans[0].firewall[0].zzz", "#/definitions/rule", unknownField},
		{lan("firewall: [{udp-whack: {zzz: 1}}]"), "network.lans[0].firewall[0].udp-whack.zzz", "#/definitions/ruleEntry/anyOf/1/properties/udp-whack/oneOf/1", unknownField},
		{lan("firewall: [zzz]"), "network.lans[0].firewall[0]", "#/definitions/ruleEntry/anyOf/1", unknownPreset},
		{lan("firewall: [{only-tcp-out: {zzz: 1}}]"), "network.lans[0].firewall[0].only-tcp-out.zzz", "#/definitions/ruleEntry/anyOf/1/properties/only-tcp-out/oneOf/2", unknownField},
		{lan("link: {zzz: 1}"), "network.lans[0].link.zzz", "#/definitions/impairment", unknownField},
		{lan("link: {codel: {zzz: 1}}"), "network.lans[0].link.codel.zzz", "#/definitions/impairment/properties/codel", unknownField},
		{lan("link: {schedule: [{at: 1s, zzz: 1}]}"), "network.lans[0].link.schedule[0].zzz", "#/definitions/linkStep", unknownField},
		{lan("link: {down: {zzz: 1}}"), "network.lans[0].link.down.zzz", "#/definitions/linkDown", unknownField},
		{lan("mtu: {size: 1280, zzz: 1}"), "network.lans[0].mtu.zzz", "#/definitions/mtu/oneOf/1", unknownField},
		{base + "network: {lans: [{name: a}], proxies: [{name: p, lan: a, kind: http, zzz: 1}]}\n", "network.proxies[0].zzz", "#/definitions/proxy", unknownField},
		{base + "node: {zzz: 1}\n", "node.zzz", "#/definitions/node", unknownField},
		{base + "node: {tls: {cert: generated, zzz: 1}}\n", "node.tls.zzz", "#/definitions/node/properties/tls", unknownField},
		{base + "node: {load_balancer: {port: 443, zzz: 1}}\n", "node.load_balancer.zzz", "#/definitions/node/properties/load_balancer", unknownField},
		{client("zzz: 1"), "clients[0].zzz", "#/definitions/client", unknownField},
		{client("publish: {zzz: true}"), "clients[0].publish.zzz", "#/definitions/client/properties/publish/oneOf/1", unknownField},
		{client("fallback: {zzz: 1}"), "clients[0].fallback.zzz", "#/definitions/client/properties/fallback", unknownField},
		{client("proxy_auth: {username: u, zzz: 1}"), "clients[0].proxy_auth.zzz", "#/definitions/client/properties/proxy_auth", unknownField},
		{client("ice_servers: [{urls: 'stun:x', zzz: 1}]"), "clients[0].ice_servers[0].zzz", "#/definitions/client/properties/ice_servers/items", unknownField},
		{base + "faults: [{kind: cut, target: alice, zzz: 1}]\n", "faults[0].zzz", "#/definitions/fault", unknownField},
		{base + "faults: [{kind: cut, target: alice, when: {zzz: 1}}]\n", "faults[0].when.zzz", "#/definitions/fault/properties/when", unknownField},
		{base + "expect: {alice: {zzz: 1}}\n", "expect.alice.zzz", "#/definitions/expectation", unknownField},
		{base + "expect: {alice: {candidates: {zzz: 1}}}\n", "expect.alice.candidates.zzz", "#/definitions/expectation/properties/candidates", unknownField},
		{base + "expect: {alice: {media: {zzz: 1}}}\n", "expect.alice.media.zzz", "#/definitions/expectation/properties/media", unknownField},
		{base + "traffic: [{kind: download, host: alice, zzz: 1}]\n", "traffic[0].zzz", "#/definitions/traffic", unknownField},
		{base + "expect: {alice: {media: {adapts: [{after: 1s, within: 1s, below: 1Mbps, zzz: 1}]}}}\n", "expect.alice.media.adapts[0].zzz", "#/definitions/expectation/properties/media/properties/adapts/items", unknownField},
		{base + "expect: {alice: {media: {layer: {after: 1s, min: f, zzz: 1}}}}\n", "expect.alice.media.layer.zzz", "#/definitions/expectation/properties/media/properties/layer", unknownField},
		{peers + "servers: [{name: s, zzz: 1}]\n", "servers[0].zzz", "#/definitions/server", unknownField},
		{"name: x\npeers: [{name: a, zzz: 1}, {name: b}]\n", "peers[0].zzz", "#/definitions/peer", unknownField},
		{peers + "expect: {a: {zzz: 1}}\n", "expect.a.zzz", "#/definitions/peerExpectation", unknownField},
	}
	probed := map[string]bool{}
	for _, pr := range probes {
		ptr, node := resolvePointer(t, schema, pr.pointer)
		probed[ptr] = true
		props, _ := node["properties"].(map[string]any)
		var inSchema []string
		for k := range props {
			inSchema = append(inSchema, k)
		}
		slices.Sort(inSchema)
		_, err := scenarios.Parse("probe.yaml", []byte(pr.doc))
		var inLoader []string
		for _, e := range scenarios.Errors(err) {
			if want, ok := strings.CutPrefix(e.Msg, pr.unknown); ok && e.Field == pr.field {
				inLoader = strings.Split(want, ", ")
			}
		}
		if inLoader == nil {
			t.Errorf("%s: the loader did not reject an unknown field at %s: %v", pr.pointer, pr.field, err)
			continue
		}
		slices.Sort(inLoader)
		if !slices.Equal(inSchema, inLoader) {
			t.Errorf("%s (%s): schema has %v, loader accepts %v", pr.pointer, pr.field, inSchema, inLoader)
		}
	}
	for _, ptr := range mappings(schema, "#") {
		if !probed[ptr] {
			t.Errorf("%s: a mapping of the schema no probe checks against the loader", ptr)
		}
	}
}

// resolvePointer follows a JSON pointer into the schema, and $refs at its
// end; it returns the pointer of the node reached.
func resolvePointer(t *testing.T, schema map[string]any, ptr string) (string, map[string]any) {
	t.Helper()
	for range 8 {
		var node any = schema
		for _, seg := range strings.Split(strings.TrimPrefix(strings.TrimPrefix(ptr, "#"), "/"), "/") {
			if seg == "" {
				continue
			}
			switch n := node.(type) {
			case map[string]any:
				node = n[seg]
			case []any:
				i, err := strconv.Atoi(seg)
				if err != nil || i >= len(n) {
					t.Fatalf("%s: no item %d", ptr, i)
				}
				node = n[i]
			}
		}
		m, ok := node.(map[string]any)
		if !ok {
			t.Fatalf("%s: not a schema object", ptr)
		}
		ref, isRef := m["$ref"].(string)
		if !isRef {
			return ptr, m
		}
		ptr = ref
	}
	t.Fatalf("%s: $ref chain too long", ptr)
	return "", nil
}

// mappings lists the pointers of every schema object that declares
// properties.
func mappings(node any, ptr string) []string {
	var out []string
	switch n := node.(type) {
	case map[string]any:
		if _, ok := n["properties"].(map[string]any); ok {
			out = append(out, ptr)
		}
		for k, v := range n {
			out = append(out, mappings(v, ptr+"/"+k)...)
		}
	case []any:
		for i, v := range n {
			out = append(out, mappings(v, ptr+"/"+strconv.Itoa(i))...)
		}
	}
	return out
}
