package fieldimport

import (
	"fmt"
	"os"
	"testing"

	"github.com/icelab/icelab/relay/pki"
	"go.uber.org/goleak"
)

// testCA signs the scenarios' certificates; the test process trusts it,
// as pion's TURN/TLS client verifies against the system roots.
var testCA *pki.CA

func TestMain(m *testing.M) {
	var err error
	if testCA, err = pki.NewCA("fieldimport test CA"); err == nil {
		err = pki.TrustForProcess(testCA)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	goleak.VerifyTestMain(m)
}
