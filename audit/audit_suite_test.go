package audit_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// suiteT is the suite's *testing.T: testing/synctest needs a real one, so
// the audits hand it to audit.TestRunner, which runs each cell with
// harness.RunT.
var suiteT *testing.T

func TestAudit(t *testing.T) {
	suiteT = t
	RegisterFailHandler(Fail)
	RunSpecs(t, "audit")
}
