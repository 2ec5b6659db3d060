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
					Transport   string  `json:"transport"`
					Selected    struct {
						Local  struct{ Type string } `json:"local"`
						Remote struct{ Type string } `json:"remote"`
					} `json:"selected"`
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
	return End{Connected: cl.Connected, Transport: cl.Transport, Local: cl.Selected.Local.Type, Remote: cl.Selected.Remote.Type,
		After: time.Duration(cl.ConnectedAt * float64(time.Second))}, nil
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
	return End{Connected: a.Connected, Transport: t, Local: a.Local.Type, Remote: a.Remote.Type,
		After: time.Duration(a.ConnectedAfter * float64(time.Second))}
}
