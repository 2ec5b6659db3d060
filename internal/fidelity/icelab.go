package fidelity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/icelab/icelab/internal/netlab/call"
)

// RunIcelab runs the case's scenario file with the icelab command at bin
// and reads the calling end's outcome from its results.json.
func RunIcelab(ctx context.Context, c Case, bin string) End {
	e, err := runIcelab(ctx, c, bin)
	if err != nil {
		return End{Err: fmt.Errorf("icelab %s: %w", c.Scenario, err)}
	}
	return e
}

func runIcelab(ctx context.Context, c Case, bin string) (End, error) {
	data, err := scenarioFiles.ReadFile("scenarios/" + c.Scenario)
	if err != nil {
		return End{}, err
	}
	dir, err := os.MkdirTemp("", "fidelity-icelab")
	if err != nil {
		return End{}, err
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, c.Scenario)
	if err := os.WriteFile(file, data, 0o600); err != nil {
		return End{}, err
	}
	out := filepath.Join(dir, "out")
	cmd := exec.CommandContext(ctx, bin, "run", "--out", out, file)
	if msg, err := cmd.CombinedOutput(); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 {
			return End{}, fmt.Errorf("%s run: %w: %s", bin, err, msg)
		}
	}
	raw, err := os.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		return End{}, err
	}
	var r struct {
		Runs []struct {
			Result struct {
				Err     string `json:"err"`
				Clients []struct {
					Connected   bool    `json:"connected"`
					ConnectedAt float64 `json:"connected_at"`
					FailedAt    float64 `json:"failed_at"`
					States      []struct {
						State string  `json:"state"`
						At    float64 `json:"at"`
					} `json:"peer_connection_states"`
					Transport   string      `json:"transport"`
					Local       []candidate `json:"local_candidates"`
					Selected    pairJSON    `json:"selected"`
					PairChanges []struct {
						Pair pairJSON `json:"pair"`
					} `json:"pair_changes"`
				} `json:"clients"`
			} `json:"result"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return End{}, fmt.Errorf("results.json: %w", err)
	}
	if len(r.Runs) == 0 || len(r.Runs[0].Result.Clients) == 0 {
		return End{}, errors.New("results.json: no client")
	}
	if e := r.Runs[0].Result.Err; e != "" {
		return End{}, errors.New(e)
	}
	cl := r.Runs[0].Result.Clients[0]
	e := End{State: "new", Ended: time.Duration(cl.FailedAt * float64(time.Second))}
	if n := len(cl.States); n > 0 {
		e.State = cl.States[n-1].State
		if cl.FailedAt == 0 {
			e.Ended = time.Duration(cl.States[n-1].At * float64(time.Second))
		}
	}
	if !cl.Connected {
		e.Gathered = gathered(cl.Local)
		return e, nil
	}
	e = End{Connected: cl.Connected, Transport: cl.Transport, Local: cl.Selected.Local.Type, Remote: cl.Selected.Remote.Type,
		After: time.Duration(cl.ConnectedAt * float64(time.Second)), Gathered: gathered(cl.Local)}
	if len(cl.PairChanges) > 1 {
		e.First = cl.PairChanges[0].Pair.call()
	}
	return e, nil
}

// pairJSON is a selected pair as results.json spells it.
type pairJSON struct {
	Local  candidateJSON `json:"local"`
	Remote candidateJSON `json:"remote"`
}

type candidateJSON struct {
	Type          string `json:"type"`
	Protocol      string `json:"protocol"`
	RelayProtocol string `json:"relay_protocol"`
}

func (p pairJSON) call() *call.Pair {
	c := func(c candidateJSON) call.Candidate {
		return call.Candidate{Type: c.Type, Protocol: c.Protocol, RelayProtocol: c.RelayProtocol}
	}
	return &call.Pair{Local: c(p.Local), Remote: c(p.Remote)}
}

// RealEnd reads the calling end of a real run as the table shows it.
func RealEnd(r *RealResult, err error) End {
	if err != nil {
		return End{Err: err}
	}
	a := r.A
	t := a.Transport()
	if a.Connected && a.Local.Type != "relay" && a.Remote.Type == "relay" && r.B.Local.Type == "relay" {
		// Relayed at the far end: its relay's protocol, as icelab says.
		t = "TURN/" + strings.ToUpper(r.B.Local.RelayProtocol)
	}
	var stats []json.RawMessage
	if err := json.Unmarshal(a.Stats, &stats); err != nil {
		// pion's GetStats marshals as an object keyed by id.
		var byID map[string]json.RawMessage
		if json.Unmarshal(a.Stats, &byID) == nil {
			for _, v := range byID {
				stats = append(stats, v)
			}
		}
	}
	var local []candidate
	for _, raw := range stats {
		var s struct {
			Type string `json:"type"`
			candidate
		}
		if json.Unmarshal(raw, &s) == nil && s.Type == "local-candidate" {
			local = append(local, s.candidate)
		}
	}
	e := End{Connected: a.Connected, Transport: t, Local: a.Local.Type, Remote: a.Remote.Type,
		After: time.Duration(a.ConnectedAfter * float64(time.Second)), Gathered: gathered(local),
		State: a.State, Ended: time.Duration(a.ReportedAfter * float64(time.Second))}
	if f := a.First; f != nil && a.Connected {
		if a.Local.Type == "" {
			// Connected, then lost: the pair that carried it.
			e.Transport, e.Local, e.Remote = f.Transport(), f.Local.Type, f.Remote.Type
		} else if *f != (call.Pair{Local: a.Local, Remote: a.Remote}) {
			e.First = f
		}
	}
	return e
}
