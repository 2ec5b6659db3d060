package audit_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/icelab/icelab/relay/pki"
	"go.uber.org/goleak"
)

// testCA signs every certificate the audits stand in; TestMain makes the
// process trust it before anything loads the system roots, because pion's
// TURN/TLS client verifies against them.
var testCA *pki.CA

func TestMain(m *testing.M) {
	ca, err := pki.NewCA("icelab audit test CA")
	if err == nil {
		err = pki.TrustForProcess(ca)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	testCA = ca
	// Ginkgo's interrupt handler outlives RunSpecs by design; everything
	// else an audit starts must be gone.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction(
		"github.com/onsi/ginkgo/v2/internal/interrupt_handler.(*InterruptHandler).registerForInterrupts.func2"))
}
