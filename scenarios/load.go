package scenarios

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/icelab/icelab/relay/pki"
	"go.yaml.in/yaml/v3"
)

// maxFile bounds a scenario or livekit.yaml file.
const maxFile = 1 << 20

// Loader loads scenario files. The zero value is ready to use; a Loader is
// not safe for concurrent use.
type Loader struct {
	// CA signs the certificates that scenarios ask for with
	// node.tls.cert: generated, wrong-name or expired. A pion client
	// trusts them only if the process trusts CA (see
	// pki.TrustForProcess). When nil, the Loader makes a CA on first need
	// and keeps it here; nothing trusts that CA unless the caller arranges
	// it, which is enough to validate files but not to run TURN/TLS.
	CA *pki.CA
	// HostPrefixes is the address space no LAN may overlap besides the
	// internet and loopback; nil means this machine's interfaces.
	HostPrefixes []netip.Prefix
}

// Load reads and parses the scenario file at path with a zero Loader.
func Load(path string) (*Scenario, error) { return new(Loader).Load(path) }

// Parse parses a scenario document with a zero Loader; name is used in
// errors and to resolve relative paths.
func Parse(name string, data []byte) (*Scenario, error) { return new(Loader).Parse(name, data) }

// LoadDir loads every *.yaml and *.yml file in dir with one zero Loader.
func LoadDir(dir string) ([]*Scenario, error) { return new(Loader).LoadDir(dir) }

// Load reads and parses the scenario file at path.
func (l *Loader) Load(path string) (*Scenario, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, fmt.Errorf("scenario %s: %w", path, err)
	}
	return l.Parse(path, data)
}

// LoadDir loads every *.yaml and *.yml file directly in dir, in name order.
// It loads them all and returns the ones that loaded with the errors of the
// others joined.
func (l *Loader) LoadDir(dir string) ([]*Scenario, error) {
	files, err := ScenarioFiles(dir)
	if err != nil {
		return nil, err
	}
	var (
		out  []*Scenario
		errs []error
	)
	names := map[string]string{}
	for _, f := range files {
		s, err := l.Load(f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if prev, ok := names[s.Name]; ok {
			errs = append(errs, &Error{File: f, Field: "name", Msg: fmt.Sprintf("%q is also the name of %s", s.Name, prev)})
			continue
		}
		names[s.Name] = f
		out = append(out, s)
	}
	return out, errors.Join(errs...)
}

// ScenarioFiles lists the *.yaml and *.yml files directly in dir, sorted.
func ScenarioFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("scenarios %s: %w", dir, err)
	}
	var files []string
	for _, e := range entries {
		ext := filepath.Ext(e.Name())
		if e.Type().IsRegular() && (ext == ".yaml" || ext == ".yml") {
			files = append(files, filepath.Join(dir, e.Name()))
		}
	}
	slices.Sort(files)
	return files, nil
}

// Parse parses a scenario document. name is used in errors and to resolve
// relative paths (config_file, certificate files). Every problem found is
// returned, joined, each an *Error naming the file, line and field.
func (l *Loader) Parse(name string, data []byte) (*Scenario, error) {
	doc, err := oneDocument(name, data)
	if err != nil {
		return nil, err
	}
	if len(doc.Content) == 0 {
		return nil, &Error{File: name, Msg: "empty file; want a scenario with at least name and clients"}
	}
	p := &parser{decoder: decoder{file: name}, loader: l, data: data}
	s := p.scenario(resolve(doc.Content[0]))
	if err := p.err(); err != nil {
		return nil, err
	}
	return s, nil
}

// oneDocument decodes the file's YAML document, and reports a second one:
// a scenario file holds one scenario.
func oneDocument(name string, data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return &doc, nil
		}
		line, msg := syntaxError(data, err)
		return nil, &Error{File: name, Line: line, Msg: msg}
	}
	var next yaml.Node
	err := dec.Decode(&next)
	switch {
	case errors.Is(err, io.EOF):
		return &doc, nil
	case err != nil:
		line, msg := syntaxError(data, err)
		return nil, &Error{File: name, Line: line, Msg: msg}
	}
	return nil, &Error{File: name, Line: separatorLine(data, lineOf(&next)), Msg: "a second YAML document starts here; a scenario file holds one scenario, so put each in a file of its own"}
}

// separatorLine finds the "---" line that starts the document whose first
// node is on line at, or returns at.
func separatorLine(data []byte, at int) int {
	lines := strings.Split(string(data), "\n")
	for i := min(at, len(lines)) - 1; i >= 0; i-- {
		if strings.HasPrefix(lines[i], "---") {
			return i + 1
		}
	}
	return at
}

// maxSyntaxSearch bounds how many lines syntaxError looks past the line
// yaml.v3 names.
const maxSyntaxSearch = 200

// syntaxError locates a YAML syntax error for a person. yaml.v3 names the
// line where the enclosing block began rather than the line that breaks
// it, so the line reported is the first at which the file, cut there,
// no longer parses. A tab in the indentation is named as such.
func syntaxError(data []byte, err error) (int, string) {
	line, msg := yamlMsg(err)
	lines := strings.SplitAfter(string(data), "\n")
	if line > 0 && strings.Contains(msg, "did not find expected") {
		for k := line; k <= min(len(lines), line+maxSyntaxSearch); k++ {
			var n yaml.Node
			if yaml.Unmarshal([]byte(strings.Join(lines[:k], "")), &n) != nil {
				line = k
				break
			}
		}
	}
	if line > 0 && line <= len(lines) {
		text := lines[line-1]
		indent := text[:len(text)-len(strings.TrimLeft(text, " \t"))]
		if strings.Contains(indent, "\t") {
			return line, "invalid YAML: a tab in the indentation; YAML indents with spaces only"
		}
	}
	return line, msg
}

// yamlMsg moves yaml.v3's "line N: " prefix into the error's location.
func yamlMsg(err error) (int, string) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	var line int
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, after, ok := strings.Cut(rest, ": "); ok {
			if _, err := fmt.Sscanf(num, "%d", &line); err == nil {
				msg = after
			}
		}
	}
	return line, "invalid YAML: " + msg
}

// readFile reads a regular file of at most maxFile bytes, so that a path
// such as /dev/zero cannot hang or exhaust the loader.
func readFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	if fi.Size() > maxFile {
		return nil, fmt.Errorf("larger than %d bytes", maxFile)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxFile {
		return nil, fmt.Errorf("larger than %d bytes", maxFile)
	}
	return data, nil
}

// relPath resolves p relative to the scenario file's directory.
func (p *parser) relPath(path string) string {
	if path == "" || filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(filepath.Dir(p.file), path)
}
