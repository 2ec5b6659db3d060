package scenarios_test

import (
	"path/filepath"
	"strings"

	"github.com/icelab/icelab/harness"
	"github.com/icelab/icelab/scenarios"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// catalogDir holds one scenario file per field symptom of the seeds.
const catalogDir = "catalog"

// missing lists the catalog files that need a harness capability that is
// not there yet, with the capability. Their specs skip; the files stay, so
// that `icelab run` shows the gap.
var missing = map[string]string{}

// Each catalog file is one spec: load it, run it with harness.RunT (a
// synctest bubble of its own unless it needs the real clock) and compare
// the result with the file's expectations. Specs are labelled with their
// clock so that `ginkgo --label-filter='!real-clock'` runs only the fast
// ones.
var _ = Describe("the scenario catalog", func() {
	files, err := scenarios.ScenarioFiles(catalogDir)
	It("has scenario files", func() {
		Expect(err).NotTo(HaveOccurred())
		Expect(files).NotTo(BeEmpty())
	})
	loader := &scenarios.Loader{CA: testCA}
	for _, file := range files {
		s, loadErr := loader.Load(file)
		clock := "fake-clock"
		if s != nil && s.RealClock {
			clock = "real-clock"
		}
		name := strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
		It(name, Label(clock), func() {
			Expect(loadErr).NotTo(HaveOccurred())
			if why, ok := missing[filepath.Base(file)]; ok {
				Skip(why)
			}
			res := harness.RunT(suiteT, s.Spec, harness.WithCA(testCA))
			Expect(res.Err).To(BeEmpty(), "the run itself failed")
			// A result per client, or per end of each peer-to-peer connection.
			peers := len(s.Spec.Peers)
			Expect(res.Clients).To(HaveLen(len(s.Spec.Clients) + peers*(peers-1)))
			Expect(mismatches(s.Check(res))).To(BeEmpty(), "%s\n%s", s.Report, timelines(res))
		})
	}
})

// mismatches renders each mismatch as one line: client, field, expected
// and observed.
func mismatches(ms []scenarios.Mismatch) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.String()
	}
	return out
}

// timelines renders every client's outcome and timeline for a failure
// message.
func timelines(res harness.Result) string {
	var b strings.Builder
	for i := range res.Clients {
		c := &res.Clients[i]
		b.WriteString(c.Name + ": " + string(c.Transport))
		if c.Failure != "" {
			b.WriteString(" (" + c.Failure + ")")
		}
		b.WriteString("\n" + c.Timeline())
	}
	return b.String()
}
