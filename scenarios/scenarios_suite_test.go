package scenarios_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// suiteT is the suite's *testing.T. testing/synctest needs a real one, so
// each catalog spec hands it to harness.RunT, which runs the call in a
// bubble of its own and returns after the bubble ends.
var suiteT *testing.T

func TestScenarios(t *testing.T) {
	suiteT = t
	RegisterFailHandler(Fail)
	RunSpecs(t, "scenarios")
}
