package fieldimport

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/icelab/icelab/harness"
	"github.com/icelab/icelab/scenarios"
)

// importFixture imports a fixture of testdata and loads the scenario it
// writes, as icelab run would.
func importFixture(t *testing.T, file string) (*Import, *scenarios.Scenario) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	d, err := Parse(file, data)
	if err != nil {
		t.Fatal(err)
	}
	im, err := Convert(d, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := (&scenarios.Loader{CA: testCA}).Parse(filepath.Join(t.TempDir(), "imported.yaml"), im.Scenario)
	if err != nil {
		t.Fatalf("the scenario does not load: %v\n%s", err, im.Scenario)
	}
	return im, s
}

// resultFor returns the dumped endpoint's result of a run.
func resultFor(t *testing.T, im *Import, s *scenarios.Scenario, res harness.Result) *harness.ClientResult {
	t.Helper()
	who := im.Client
	if im.PeerToPeer {
		who = harness.PeerResultName(im.Client, s.Spec.Peers[1].Name)
	}
	c := res.Client(who)
	if c == nil {
		t.Fatalf("no result for %s: %s", who, res.Err)
	}
	return c
}

// TestFixturesReproduce imports every fixture, runs the scenario it
// writes, and checks icelab reproduces the field outcome: the stage the
// call reached, what carried it and its pair's candidate types, and that
// the scenario's own expectations hold.
func TestFixturesReproduce(t *testing.T) {
	files, err := filepath.Glob("testdata/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	// Scenarios with client ICE-TCP run on the machine's clock for
	// seconds, mostly waiting: they all start at once, the others run in
	// bubbles one by one.
	type realRun struct {
		im  *Import
		s   *scenarios.Scenario
		res chan harness.Result
	}
	real := map[string]*realRun{}
	for _, f := range files {
		im, s := importFixture(t, f)
		if s.RealClock {
			r := &realRun{im: im, s: s, res: make(chan harness.Result, 1)}
			go func() { r.res <- harness.Run(t.Context(), s.Spec, harness.WithCA(testCA)) }()
			real[f] = r
		}
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".json"), func(t *testing.T) {
			var (
				im  *Import
				s   *scenarios.Scenario
				res harness.Result
			)
			if r := real[f]; r != nil {
				im, s, res = r.im, r.s, <-r.res
			} else {
				im, s = importFixture(t, f)
				res = harness.RunT(t, s.Spec, harness.WithCA(testCA))
			}
			c := resultFor(t, im, s, res)
			if v := im.Compare(c); !v.Reproduced {
				t.Errorf("%s\n%s\n%s", v, c.Timeline(), im.Scenario)
			}
			for _, m := range s.Check(res) {
				t.Errorf("expectation not met: %s", m)
			}
		})
	}
}
