package fakeclock_test

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestMainRunsSpecsOnTheFakeClock builds a program that uses Main and checks
// that it ran every spec to its full duration in a bubble and exited with
// the program's own status. It fails if a Go release changes testing.Main,
// the test flags or synctest in a way Main relies on.
func TestMainRunsSpecsOnTheFakeClock(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a program")
	}
	bin := filepath.Join(t.TempDir(), "prog")
	build := exec.Command("go", "build", "-o", bin, "./testdata/prog")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./testdata/prog: %v\n%s", err, out)
	}
	// Flags of the program's own, which the testing package must not take.
	cmd := exec.Command(bin, "-v", "--help", "run")
	out, err := cmd.Output()
	exit, ok := err.(*exec.ExitError)
	if !ok || exit.ExitCode() != 3 {
		t.Fatalf("program exited with %v, want status 3 (the program's own)\n%s", err, out)
	}
	want := map[string]string{
		"one": "one clock=fake duration=30s interrupted=false err=\"\" connected",
		"two": "two clock=fake duration=45s interrupted=false err=\"\" connected",
		// stopped at the 51st poll, 100 ms apart on the fake clock
		"three": "three clock=fake duration=5s interrupted=true err=\"\" connected",
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(want) {
		t.Fatalf("program printed %d lines, want %d:\n%s", len(lines), len(want), out)
	}
	for _, l := range lines {
		name, _, _ := strings.Cut(l, " ")
		if want[name] != l {
			t.Errorf("got  %s\nwant %s", l, want[name])
		}
	}
}
