package fieldimport

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// dumpStrings lists every string a JSON document holds (keys and values,
// and the strings inside JSON-encoded strings), split at the separators
// dumps use inside values, so that addresses in candidate lines and URLs
// are found too.
func dumpStrings(t *testing.T, data []byte) []string {
	t.Helper()
	root, err := decodeJSON(data)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	var walk func(v *jvalue)
	walk = func(v *jvalue) {
		switch v.kind {
		case jString:
			out = append(out, strings.FieldsFunc(v.s, func(r rune) bool { return strings.ContainsRune(" ,\n\"[]{}'", r) })...)
			if inner, err := decodeJSON([]byte(v.s)); err == nil && inner.kind != jString {
				walk(inner)
			}
		case jArray, jObject:
			out = append(out, v.keys...)
			for _, x := range v.vals {
				walk(x)
			}
		}
	}
	walk(root)
	return out
}

// TestNoAddressFromTheDump proves a scenario carries no address, server
// name or mDNS name of the dump it came from, and says what stands for
// each address.
func TestNoAddressFromTheDump(t *testing.T) {
	files, err := filepath.Glob("testdata/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	hostPort := regexp.MustCompile(`^(?:stuns?|turns?):\[?([^\]?]+?)\]?(?::\d+)?(?:\?.*)?$`)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			im, _ := importFixture(t, f)
			out := string(im.Scenario)
			secret := map[string]bool{}
			for _, s := range dumpStrings(t, data) {
				if m := hostPort.FindStringSubmatch(s); m != nil {
					secret[m[1]] = true
				}
				if a, err := netip.ParseAddr(s); err == nil && !a.IsUnspecified() {
					secret[a.String()] = true
				}
				if strings.HasSuffix(s, ".local") {
					secret[s] = true
				}
			}
			if len(secret) == 0 {
				t.Fatal("found no address in the dump: the test reads nothing")
			}
			for s := range secret {
				if containsWord(out, s) {
					t.Errorf("the scenario carries %q from the dump", s)
				}
			}
			if strings.Contains(out, "192.0.2.1") && !strings.Contains(out, "Addresses: every address of the dump is replaced") {
				t.Error("addresses are replaced but the mapping is not said")
			}
		})
	}
}

// containsWord reports whether s holds w not as part of a longer address
// or name.
func containsWord(s, w string) bool {
	for i := 0; ; {
		j := strings.Index(s[i:], w)
		if j < 0 {
			return false
		}
		j += i
		before, after := byte(' '), byte(' ')
		if j > 0 {
			before = s[j-1]
		}
		if k := j + len(w); k < len(s) {
			after = s[k]
		}
		if !isAddrChar(before) && !isAddrChar(after) {
			return true
		}
		i = j + 1
	}
}

func isAddrChar(b byte) bool {
	return b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b == '.' || b == ':' || b == '-'
}

// TestOneCommentPerInference proves each inference is written once, as a
// comment numbered [N] beside what it produced, with its certainty.
func TestOneCommentPerInference(t *testing.T) {
	files, err := filepath.Glob("testdata/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			im, _ := importFixture(t, f)
			out := string(im.Scenario)
			for _, in := range im.Inferences {
				tag := fmt.Sprintf("# [%d] %s: ", in.N, in.Certainty)
				if n := strings.Count(out, tag); n != 1 {
					t.Errorf("inference [%d] %q is written %d times, want once", in.N, in.What, n)
				}
				if in.Certainty == Assumed && len(in.Alternatives) == 0 {
					t.Errorf("assumption [%d] %q names no alternative", in.N, in.What)
				}
			}
			if n := strings.Count(out, "# ["); n != len(im.Inferences) {
				t.Errorf("%d numbered comments for %d inferences", n, len(im.Inferences))
			}
		})
	}
}
