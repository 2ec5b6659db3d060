package scenarios_test

import (
	"strings"
	"testing"
	"time"

	"github.com/icelab/icelab/harness"
	"github.com/icelab/icelab/scenarios"
)

// TestTrafficSection reads cross traffic on a client's host and on a LAN,
// and names each mistake by file, line and field.
func TestTrafficSection(t *testing.T) {
	doc := `name: x
network:
  lans: [{name: home}]
clients:
  - {name: alice, lan: home}
traffic:
  - {name: backup, kind: upload, lan: home, at: 20s, until: 40s}
  - {kind: on-off, host: alice, rate: 2Mbps, on: 1s, off: 3s}
`
	s, err := scenarios.Parse("bloat.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	want := []harness.CrossTraffic{
		{Name: "backup", Kind: harness.Upload, LAN: "home", At: 20 * time.Second, Until: 40 * time.Second},
		{Name: "traffic-2", Kind: harness.OnOff, Host: "alice", Rate: 2_000_000, On: time.Second, Off: 3 * time.Second},
	}
	if len(s.Spec.Traffic) != 2 || s.Spec.Traffic[0] != want[0] || s.Spec.Traffic[1] != want[1] {
		t.Fatalf("traffic %+v", s.Spec.Traffic)
	}
	for _, bad := range []struct{ line, want string }{
		{"  - {kind: download}", "bloat.yaml:7: traffic[0]: give host"},
		{"  - {kind: download, host: bob}", `bloat.yaml:7: traffic[0].host: unknown client or peer "bob"`},
		{"  - {kind: download, lan: office}", `bloat.yaml:7: traffic[0].lan: unknown LAN "office"`},
		{"  - {kind: torrent, lan: home}", "bloat.yaml:7: traffic[0].kind"},
		{"  - {lan: home}", "bloat.yaml:7: traffic[0].kind: missing"},
		{"  - {kind: download, lan: home, at: 10s, until: 5s}", "bloat.yaml:7: traffic[0].until: 5s is not after at"},
		{"  - {kind: on-off, lan: home}", "bloat.yaml:7: traffic[0]: on-off needs rate and on"},
		{"  - {kind: upload, lan: home, rate: 1Mbps}", "bloat.yaml:7: traffic[0]: rate, on and off shape an on-off flow"},
		{"  - {name: alice, kind: upload, lan: home}", `traffic[0].name: "alice" is taken`},
	} {
		lines := strings.Split(doc, "\n")
		lines[6], lines[7] = bad.line, ""
		_, err := scenarios.Parse("bloat.yaml", []byte(strings.Join(lines, "\n")))
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: error %v; want %q", bad.line, err, bad.want)
		}
	}
}
