package scenarios_test

import (
	"os"
	"testing"

	"github.com/icelab/icelab/scenarios"
)

// FuzzLoad proves no input makes the loader panic: every file either loads
// or is refused with located errors. The corpus is seeded from the catalog.
func FuzzLoad(f *testing.F) {
	files, err := scenarios.ScenarioFiles(catalogDir)
	if err != nil {
		f.Fatal(err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(office))
	f.Add([]byte("a: &a [*a]\n"))
	f.Add([]byte("name: x\nnetwork: {lans: [{name: h}]}\nclients: [{name: a, lan: h, congestion_control: gcc}]\ntraffic: [{kind: on-off, lan: h, rate: 1Mbps, on: 1s, off: 2s, until: 9s}]\nexpect: {a: {media: {adapts: [{after: 1s, within: 2s, above: 1Mbps}], min_grade: good, min_freeze: 1s}}}\n"))
	f.Add([]byte("name: x\nclients: [{name: a, link: {loss: 2%, loss_burst: 3, reorder: 1%, bandwidth: 2Mbps, queue: 100 packets, discipline: codel, codel: {target: 5ms}, schedule: [{at: 1s, bandwidth: unlimited}, {at: 2s, queue: 1s, bandwidth: 1Mbps}]}}]\n"))
	f.Add([]byte("name: x\nclients: [{name: a, link: {trace: /dev/zero, queue: 250ms}}]\n"))
	f.Add([]byte("name: x\nclients: [{name: a}]\nnode: {config: {turn: {tls_port: 1}}, tls: {cert: generated}}\n"))
	loader := &scenarios.Loader{CA: testCA}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := loader.Parse("fuzz.yaml", data)
		switch {
		case err != nil && s != nil:
			t.Fatalf("both a scenario and an error: %v", err)
		case err == nil && (s == nil || len(s.Spec.Clients) == 0 && len(s.Spec.Peers) < 2):
			t.Fatalf("no error and no usable scenario")
		case err != nil && len(scenarios.Errors(err)) == 0:
			t.Fatalf("error without location: %v", err)
		}
	})
}
