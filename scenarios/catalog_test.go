package scenarios_test

import (
	"context"
	"path/filepath"
	"strings"
	"sync"

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

// heavy lists the catalog files too costly to run under the race
// detector, which slows pion's media path some tenfold: their specs skip
// there, and run in make test's step without -race (label "heavy") and in
// make run.
var heavy = map[string]string{
	"large-room-relayed-bandwidth.yaml":          "24 participants, 644 subscriptions: 5 s of CPU without the race detector, 45 s with it (icelab built with -race, run on this file alone)",
	"livekit-ladder-failures-an-hour-apart.yaml": "an hour of audio and keepalives: 7.5 s of CPU without the race detector, 46 s with it (the catalog spec under -race); its failure, resume and restart run under it in livekit-ladder-repeated-failures-single-pc (3 min 30 s), its long call in turn-rest-credential-expires-mid-call (7 min)",
}

// Each fake-clock catalog file is one spec: load it, run it with
// harness.RunT in a synctest bubble of its own, and compare the result with
// the file's expectations. The real-clock files (client ICE-TCP) cost their
// call's length in wall time, so they run together in one spec, each on its
// own goroutine, as icelab run runs them. Specs are labelled with their
// clock so that `ginkgo --label-filter='!real-clock'` runs only the fast
// ones. Under the race detector the real-clock spec skips: a real-clock
// call's verdict depends on the machine keeping up with its clock, which a
// race-instrumented build beside other packages' tests does not; make test
// runs it in a step of its own without -race (the fake-clock files, whose
// verdicts do not depend on speed, run in both).
var _ = Describe("the scenario catalog", func() {
	files, err := scenarios.ScenarioFiles(catalogDir)
	It("has scenario files", func() {
		Expect(err).NotTo(HaveOccurred())
		Expect(files).NotTo(BeEmpty())
	})
	loader := &scenarios.Loader{CA: testCA}
	var real []*scenarios.Scenario
	for _, file := range files {
		s, loadErr := loader.Load(file)
		name := strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
		if loadErr == nil && s.RealClock {
			real = append(real, s)
			continue
		}
		labels := Labels{"fake-clock"}
		if _, ok := heavy[filepath.Base(file)]; ok {
			labels = append(labels, "heavy")
		}
		It(name, labels, func() {
			Expect(loadErr).NotTo(HaveOccurred())
			if why, ok := missing[filepath.Base(file)]; ok {
				Skip(why)
			}
			if why, ok := heavy[filepath.Base(file)]; ok && raceDetector {
				Skip("race detector on (make test runs it without): " + why)
			}
			checkCatalogRun(s, harness.RunT(suiteT, s.Spec, harness.WithCA(testCA)))
		})
	}
	It("runs the real-clock files together", Label("real-clock"), func() {
		if raceDetector {
			Skip("real-clock files run without -race: make test's real-clock step")
		}
		results := make([]harness.Result, len(real))
		var wg sync.WaitGroup
		for i, s := range real {
			wg.Go(func() { results[i] = harness.Run(context.Background(), s.Spec, harness.WithCA(testCA)) })
		}
		wg.Wait()
		for i, s := range real {
			By(s.Name)
			checkCatalogRun(s, results[i])
		}
	})
})

// checkCatalogRun compares a catalog file's run with its expectations.
func checkCatalogRun(s *scenarios.Scenario, res harness.Result) {
	GinkgoHelper()
	Expect(res.Err).To(BeEmpty(), "%s: the run itself failed", s.Name)
	// A result per client, or per end of each peer-to-peer connection.
	peers := len(s.Spec.Peers)
	Expect(res.Clients).To(HaveLen(len(s.Spec.Clients) + peers*(peers-1)))
	Expect(mismatches(s.Check(res))).To(BeEmpty(), "%s: %s\n%s", s.Name, s.Report, timelines(res))
}

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
