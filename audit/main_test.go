package audit_test

import (
	"fmt"
	"os"
	"testing"
	"time"

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
	code := m.Run()
	if code == 0 {
		code = noLeaks()
	}
	os.Exit(code)
}

// noLeaks checks that everything the audits started has ended (Ginkgo's
// interrupt handler outlives RunSpecs by design). Real-clock cells close
// pion's agents on the machine's clock, which a loaded machine slows, so it
// waits up to 15 s for stragglers, longer than goleak's own 2 s, before it
// calls one a leak.
func noLeaks() int {
	opt := goleak.IgnoreTopFunction("github.com/onsi/ginkgo/v2/internal/interrupt_handler.(*InterruptHandler).registerForInterrupts.func2")
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := goleak.Find(opt)
		if err == nil {
			return 0
		}
		if time.Now().After(deadline) {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			return 1
		}
		time.Sleep(250 * time.Millisecond) // polling for goroutines to end: nothing to wait on
	}
}
