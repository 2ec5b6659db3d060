package netlab

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine behind: a far
// link's pumps must end when its lab closes.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
