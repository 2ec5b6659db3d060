// Command fidelity runs the namespace lab's cases (internal/fidelity): each
// topology as Linux network namespaces with nftables, headless Chromium or
// pion peers calling a pion peer through icelab's relay on real sockets,
// and as the matching icelab scenario file, and prints a Markdown table of
// transport, candidate types and time to connect, real against icelab. It
// needs root, iproute2, nftables and Chromium; without them it says why and
// exits 0 (make fidelity is not part of make test).
//
//	go build -o icelab ./cmd/icelab && go run ./cmd/fidelity -icelab ./icelab [-run REGEXP]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"syscall"

	"github.com/icelab/icelab/internal/fidelity"
	"github.com/icelab/icelab/internal/netlab"
	"github.com/icelab/icelab/internal/netlab/call"
	"github.com/icelab/icelab/relay/pki"
)

func main() {
	if code, ok := call.Child(); ok {
		os.Exit(code)
	}
	os.Exit(run())
}

func run() int {
	bin := flag.String("icelab", "./icelab", "the icelab command that runs the scenario files")
	match := flag.String("run", "", "run only the cases whose names match this regular expression")
	count := flag.Int("count", 1, "run each case this many times, in the lab and in icelab")
	dump := flag.String("json", "", "write each case's real result (both ends' reports and stats) to DIR/CASE.json, and Chromium's log with libwebrtc's ICE lines to DIR/CASE.chromium.log")
	flag.Parse()
	if err := netlab.Available(); err != nil {
		fmt.Fprintln(os.Stderr, "fidelity: skipped:", err)
		return 0
	}
	re, err := regexp.Compile(*match)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fidelity: -run:", err)
		return 2
	}
	ca, err := pki.NewCA("fidelity CA")
	if err != nil {
		fmt.Fprintln(os.Stderr, "fidelity:", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var outs []fidelity.Outcome
	for _, c := range fidelity.Cases() {
		if !re.MatchString(c.Name) {
			continue
		}
		if c.Kind == fidelity.Chromium {
			if _, err := netlab.ChromiumPath(); err != nil {
				fmt.Fprintf(os.Stderr, "%s: skipped: %v\n", c.Name, err)
				continue
			}
		}
		if c.Far > 0 {
			if err := netlab.FarAvailable(); err != nil {
				fmt.Fprintf(os.Stderr, "%s: skipped: %v\n", c.Name, err)
				continue
			}
		}
		o := fidelity.Outcome{Case: c}
		for i := 0; i < *count && ctx.Err() == nil; i++ {
			name := c.Name
			if i > 0 {
				name = fmt.Sprintf("%s-%d", c.Name, i+1)
			}
			var log *os.File
			if *dump != "" && c.Kind == fidelity.Chromium {
				if log, err = createIn(*dump, name+".chromium.log"); err != nil {
					fmt.Fprintln(os.Stderr, "fidelity:", err)
					return 1
				}
			}
			r, err := fidelity.RunReal(ctx, c, ca, writerOrNil(log))
			if log != nil {
				_ = log.Close()
			}
			e := fidelity.RealEnd(r, err)
			o.Real = append(o.Real, e)
			fmt.Fprintf(os.Stderr, "%s: real %s %s/%s %v%s\n", c.Name, e.Transport, e.Local, e.Remote, e.After, errNote(e.Err))
			if *dump != "" && r != nil {
				if err := writeJSON(filepath.Join(*dump, name+".json"), r); err != nil {
					fmt.Fprintln(os.Stderr, "fidelity:", err)
				}
			}
		}
		for i := 0; i < *count && ctx.Err() == nil; i++ {
			e := fidelity.RunIcelab(ctx, c, *bin)
			o.Icelab = append(o.Icelab, e)
			fmt.Fprintf(os.Stderr, "%s: icelab %s %s/%s %v%s\n", c.Name, e.Transport, e.Local, e.Remote, e.After, errNote(e.Err))
		}
		outs = append(outs, o)
		if ctx.Err() != nil {
			break
		}
	}
	if err := fidelity.WriteTable(os.Stdout, outs); err != nil {
		fmt.Fprintln(os.Stderr, "fidelity:", err)
		return 1
	}
	return 0
}

func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

// createIn creates file name in dir, making dir if need be.
func createIn(dir, name string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	return os.Create(filepath.Join(dir, name))
}

// writerOrNil keeps a nil *os.File from becoming a non-nil io.Writer.
func writerOrNil(f *os.File) io.Writer {
	if f == nil {
		return nil
	}
	return f
}

func errNote(err error) string {
	if err == nil {
		return ""
	}
	return " (" + err.Error() + ")"
}
