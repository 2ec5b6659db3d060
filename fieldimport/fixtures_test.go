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

// run runs a scenario on the clock it needs and returns the dumped
// endpoint's result.
func run(t *testing.T, im *Import, s *scenarios.Scenario) (harness.Result, *harness.ClientResult) {
	t.Helper()
	var res harness.Result
	if s.RealClock {
		res = harness.Run(t.Context(), s.Spec, harness.WithCA(testCA))
	} else {
		res = harness.RunT(t, s.Spec, harness.WithCA(testCA))
	}
	who := im.Client
	if im.PeerToPeer {
		who = harness.PeerResultName(im.Client, s.Spec.Peers[1].Name)
	}
	c := res.Client(who)
	if c == nil {
		t.Fatalf("no result for %s: %s", who, res.Err)
	}
	return res, c
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
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".json"), func(t *testing.T) {
			im, s := importFixture(t, f)
			res, c := run(t, im, s)
			v := im.Compare(c)
			if !v.Reproduced {
				t.Errorf("%s\n%s\n%s", v, c.Timeline(), im.Scenario)
			}
			for _, m := range s.Check(res) {
				t.Errorf("expectation not met: %s", m)
			}
		})
	}
}
