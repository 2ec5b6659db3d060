package harness_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/icelab/icelab/relay/pki"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"go.uber.org/goleak"
)

// suiteT is the suite's *testing.T: testing/synctest bubbles need one, so
// each spec runs its call in a bubble of its own (see RunT).
var suiteT *testing.T

// ca is the test authority the whole test process trusts, so that pion's
// TURN/TLS client (which uses the system roots) verifies the relay.
var ca *pki.CA

func TestMain(m *testing.M) {
	var err error
	if ca, err = pki.NewCA("icelab harness test CA"); err == nil {
		err = pki.TrustForProcess(ca)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	// Ginkgo's interrupt handler outlives the suite by design.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/onsi/ginkgo/v2/internal/interrupt_handler.(*InterruptHandler).registerForInterrupts.func2"))
}

func TestHarness(t *testing.T) {
	suiteT = t
	RegisterFailHandler(Fail)
	RunSpecs(t, "harness")
}
