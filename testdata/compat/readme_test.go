package compat

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// readmeSection is the README's section whose first Go block is a complete
// test file a newcomer pastes into a module of their own.
const readmeSection = "## Add icelab to your module"

// TestREADMEExampleInANewModule does what the README tells a newcomer to
// do, in a new module outside this repository: it requires icelab
// (replaced by this checkout, as this module does), takes the README's
// example test as its only file, runs go mod tidy, then go vet and go test.
// The example must compile and pass there, so the README cannot drift from
// the API.
func TestREADMEExampleInANewModule(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a module of its own")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	example := goBlockAfter(t, string(readme), readmeSection)
	dir := t.TempDir()
	write := func(name, body string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module example.test/calls\n\ngo 1.26\n\nrequire github.com/icelab/icelab v0.0.0\n\nreplace github.com/icelab/icelab => "+root+"\n")
	write("calls_test.go", example)
	for _, args := range [][]string{
		{"mod", "tidy"},
		{"vet", "./..."},
		// -race as make test builds the rest, so the build cache serves
		// icelab's and pion's packages.
		{"test", "-race", "-count=1", "./..."},
	} {
		cmd := exec.CommandContext(t.Context(), "go", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOFLAGS=", "GOWORK=off")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			t.Fatalf("go %s in a new module with the README's example: %v\n%s", strings.Join(args, " "), err, out.String())
		}
	}
}

// goBlockAfter returns the first ```go block after the line heading.
func goBlockAfter(t *testing.T, doc, heading string) string {
	t.Helper()
	_, rest, ok := strings.Cut(doc, "\n"+heading+"\n")
	if !ok {
		t.Fatalf("README.md has no section %q", heading)
	}
	_, rest, ok = strings.Cut(rest, "\n```go\n")
	if !ok {
		t.Fatalf("README.md's %q has no Go block", heading)
	}
	block, _, ok := strings.Cut(rest, "\n```\n")
	if !ok {
		t.Fatalf("README.md's %q has a Go block that does not end", heading)
	}
	return block + "\n"
}
