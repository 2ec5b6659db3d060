package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/icelab/icelab/reports"
	"github.com/icelab/icelab/scenarios"
)

// scenarioFiles expands paths into scenario files: a file stands for
// itself, a directory for every *.yaml and *.yml file in it or below,
// skipping directories whose names start with "." or "_" and testdata
// directories. It returns the files, sorted and without duplicates, and
// the problems of the paths that name no scenario file, each a
// *scenarios.Error naming the path.
func scenarioFiles(paths []string) ([]string, []*scenarios.Error) {
	var (
		files []string
		bad   []*scenarios.Error
	)
	for _, p := range paths {
		found, err := filesUnder(p)
		if err != nil {
			bad = append(bad, &scenarios.Error{File: p, Msg: err.Error()})
			continue
		}
		if len(found) == 0 {
			bad = append(bad, &scenarios.Error{File: p, Msg: "no scenario files (*.yaml, *.yml) in this directory or below"})
			continue
		}
		files = append(files, found...)
	}
	for i := range files {
		files[i] = filepath.Clean(files[i])
	}
	slices.Sort(files)
	return slices.Compact(files), bad
}

// filesUnder lists the scenario files of one path.
func filesUnder(path string) ([]string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, unwrapPath(err)
	}
	if !fi.IsDir() {
		return []string{path}, nil
	}
	var files []string
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return unwrapPath(err)
		}
		name := d.Name()
		if d.IsDir() {
			if p != path && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if ext := filepath.Ext(name); d.Type().IsRegular() && (ext == ".yaml" || ext == ".yml") {
			files = append(files, p)
		}
		return nil
	})
	return files, err
}

// unwrapPath drops the path from a *fs.PathError: the caller names it.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// shard is one of N deterministic parts of a list of files.
type shard struct{ k, n int }

// parseShard reads "K/N", 1 ≤ K ≤ N; "" is the whole list.
func parseShard(s string) (shard, error) {
	if s == "" {
		return shard{1, 1}, nil
	}
	ks, ns, ok := strings.Cut(s, "/")
	k, kerr := strconv.Atoi(ks)
	n, nerr := strconv.Atoi(ns)
	if !ok || kerr != nil || nerr != nil || n < 1 || k < 1 || k > n {
		return shard{}, fmt.Errorf("--shard %q: want K/N with 1 ≤ K ≤ N, such as 2/4", s)
	}
	return shard{k, n}, nil
}

// of returns the files of this shard: the K-th of every N files in name
// order, so that N shards together hold every file exactly once and each
// file's shard depends only on the sorted list of names.
func (s shard) of(files []string) []string {
	if s.n == 1 {
		return files
	}
	var out []string
	for i, f := range files {
		if i%s.n == s.k-1 {
			out = append(out, f)
		}
	}
	return out
}

// loaded is the outcome of loading files: the scenarios that loaded, in
// file order, and a run for each file that did not.
type loaded struct {
	list    []*scenarios.Scenario
	invalid []reports.Run
}

// loadFiles loads each file with l. A file that fails to load, or whose
// scenario name another file already uses, becomes an invalid run with
// every problem located by file, line and field; the others still load.
func loadFiles(l *scenarios.Loader, files []string) loaded {
	var out loaded
	seen := map[string]string{}
	for _, f := range files {
		s, err := l.Load(f)
		if err != nil {
			out.invalid = append(out.invalid, reports.InvalidRun(f, located(f, err)))
			continue
		}
		if prev, ok := seen[s.Name]; ok {
			e := &scenarios.Error{File: f, Line: nameLine(f), Field: "name", Msg: fmt.Sprintf("%q is also the name of %s", s.Name, prev)}
			out.invalid = append(out.invalid, reports.InvalidRun(f, []*scenarios.Error{e}))
			continue
		}
		seen[s.Name] = f
		out.list = append(out.list, s)
	}
	return out
}

// located returns err's located problems, or one naming file when err
// carries none.
func located(file string, err error) []*scenarios.Error {
	if errs := scenarios.Errors(err); len(errs) > 0 {
		return errs
	}
	return []*scenarios.Error{{File: file, Msg: err.Error()}}
}

// pathRuns turns path problems into runs, so that every report names them.
func pathRuns(bad []*scenarios.Error) []reports.Run {
	out := make([]reports.Run, len(bad))
	for i, e := range bad {
		out[i] = reports.InvalidRun(e.File, []*scenarios.Error{e})
	}
	return out
}

// nameLine is the line of a file's top-level name field, or 0 when the
// file has none (its name is then its base name).
func nameLine(file string) int {
	data, err := os.ReadFile(file)
	if err != nil {
		return 0
	}
	n := 0
	for line := range strings.Lines(string(data)) {
		n++
		if strings.HasPrefix(line, "name:") {
			return n
		}
	}
	return 0
}
