//go:build !netlab

package fixturegen

import (
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	if code, ok := setup(); !ok {
		os.Exit(code)
	}
	os.Exit(m.Run())
}
