package netlab

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// Browser is a headless Chromium running inside a namespace, driven over
// the DevTools protocol on --remote-debugging-pipe (file descriptors 3 and
// 4, NUL-terminated JSON), so that it opens no port. It has one page
// (about:blank), attached with a flat session.
type Browser struct {
	cmd     *exec.Cmd
	w       io.WriteCloser
	dir     string
	session string

	mu      sync.Mutex
	nextID  int
	waiting map[int]chan reply
	// Bindings delivers the payloads the page passes to the functions
	// Bind made, in order; it closes when the browser's pipe ends.
	Bindings <-chan string
	bindings chan string
	done     chan struct{}
	stderr   *TailBuffer
}

type reply struct {
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Message string `json:"message"`
	} `json:"error"`
}

// ChromiumPath returns the installed Chromium, or an error saying none is.
func ChromiumPath() (string, error) {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("netlab: no Chromium installed (chromium, chromium-browser or google-chrome)")
}

// StartChromium starts headless Chromium inside the namespace with extra
// flags and attaches to a blank page. If log is not nil it receives
// everything Chromium writes to its standard error (with
// --enable-logging=stderr, its log).
func (n *NS) StartChromium(ctx context.Context, log io.Writer, flags ...string) (*Browser, error) {
	path, err := ChromiumPath()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "netlab-chromium")
	if err != nil {
		return nil, fmt.Errorf("chromium in %s: profile: %w", n.Name, err)
	}
	toR, toW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("chromium in %s: pipe: %w", n.Name, err)
	}
	fromR, fromW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("chromium in %s: pipe: %w", n.Name, err)
	}
	args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-features=Translate,MediaRouter", "--remote-debugging-pipe",
		"--user-data-dir=" + filepath.Join(dir, "profile")}, flags...)
	args = append(args, "about:blank")
	b := &Browser{cmd: n.Command(ctx, path, args...), w: toW, dir: dir, waiting: map[int]chan reply{},
		bindings: make(chan string, 256), done: make(chan struct{})}
	b.Bindings = b.bindings
	b.cmd.ExtraFiles = []*os.File{toR, fromW}
	b.stderr = NewTailBuffer(2000)
	b.cmd.Stderr = b.stderr
	if log != nil {
		b.cmd.Stderr = io.MultiWriter(b.stderr, log)
	}
	b.cmd.Env = append(os.Environ(), "HOME="+dir)
	// Its own process group, so that Close ends its renderers too.
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := b.cmd.Start(); err != nil {
		return nil, fmt.Errorf("chromium in %s: %w", n.Name, err)
	}
	_ = toR.Close()
	_ = fromW.Close()
	go b.read(fromR)
	if err := b.attach(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("chromium in %s: %w", n.Name, err), b.Close())
	}
	return b, nil
}

// read dispatches the browser's replies and binding events.
func (b *Browser) read(r io.ReadCloser) {
	defer close(b.done)
	defer close(b.bindings)
	defer r.Close()
	br := bufio.NewReaderSize(r, 1<<20)
	for {
		raw, err := br.ReadBytes(0)
		if err != nil {
			b.mu.Lock()
			for id, ch := range b.waiting {
				close(ch)
				delete(b.waiting, id)
			}
			b.mu.Unlock()
			return
		}
		var m struct {
			ID     int             `json:"id"`
			Method string          `json:"method"`
			Params json.RawMessage `json:"params"`
			reply
		}
		if json.Unmarshal(raw[:len(raw)-1], &m) != nil {
			continue
		}
		if m.ID != 0 {
			b.mu.Lock()
			ch := b.waiting[m.ID]
			delete(b.waiting, m.ID)
			b.mu.Unlock()
			if ch != nil {
				ch <- m.reply
			}
			continue
		}
		if m.Method == "Runtime.bindingCalled" {
			var p struct {
				Payload string `json:"payload"`
			}
			if json.Unmarshal(m.Params, &p) == nil {
				b.bindings <- p.Payload
			}
		}
	}
}

// call sends a DevTools command (to the page's session when session is
// set) and waits for its result.
func (b *Browser) call(ctx context.Context, session bool, method string, params any) (json.RawMessage, error) {
	b.mu.Lock()
	b.nextID++
	id := b.nextID
	ch := make(chan reply, 1)
	b.waiting[id] = ch
	msg := map[string]any{"id": id, "method": method, "params": params}
	if session {
		msg["sessionId"] = b.session
	}
	raw, err := json.Marshal(msg)
	if err == nil {
		_, err = b.w.Write(append(raw, 0))
	}
	b.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	select {
	case r, ok := <-ch:
		if !ok {
			return nil, fmt.Errorf("%s: browser exited: %s", method, b.stderrTail())
		}
		if r.Error != nil {
			return nil, fmt.Errorf("%s: %s", method, r.Error.Message)
		}
		return r.Result, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("%s: %w", method, ctx.Err())
	}
}

func (b *Browser) stderrTail() string { return b.stderr.String() }

// attach opens the flat session of a new blank page.
func (b *Browser) attach(ctx context.Context) error {
	raw, err := b.call(ctx, false, "Target.createTarget", map[string]any{"url": "about:blank"})
	if err != nil {
		return err
	}
	var t struct {
		TargetID string `json:"targetId"`
	}
	if err := json.Unmarshal(raw, &t); err != nil {
		return fmt.Errorf("Target.createTarget: %w", err)
	}
	if raw, err = b.call(ctx, false, "Target.attachToTarget", map[string]any{"targetId": t.TargetID, "flatten": true}); err != nil {
		return err
	}
	var s struct {
		SessionID string `json:"sessionId"`
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return fmt.Errorf("Target.attachToTarget: %w", err)
	}
	b.session = s.SessionID
	_, err = b.call(ctx, true, "Runtime.enable", map[string]any{})
	return err
}

// Bind makes window[name](payload string) deliver payload on Bindings.
func (b *Browser) Bind(ctx context.Context, name string) error {
	_, err := b.call(ctx, true, "Runtime.addBinding", map[string]any{"name": name})
	return err
}

// Eval evaluates a JavaScript expression in the page, awaiting a promise,
// and unmarshals its value into v (when v is not nil).
func (b *Browser) Eval(ctx context.Context, expr string, v any) error {
	raw, err := b.call(ctx, true, "Runtime.evaluate", map[string]any{"expression": expr, "awaitPromise": true, "returnByValue": true})
	if err != nil {
		return err
	}
	var r struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		Exception *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return fmt.Errorf("Runtime.evaluate: %w", err)
	}
	if r.Exception != nil {
		return fmt.Errorf("Runtime.evaluate: %s %s", r.Exception.Text, r.Exception.Exception.Description)
	}
	if v == nil || len(r.Result.Value) == 0 {
		return nil
	}
	if err := json.Unmarshal(r.Result.Value, v); err != nil {
		return fmt.Errorf("Runtime.evaluate: value: %w", err)
	}
	return nil
}

// Close asks the browser to close, ends its process group if it has not
// within five seconds, and removes its profile.
func (b *Browser) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _ = b.call(ctx, false, "Browser.close", map[string]any{})
	_ = b.w.Close()
	select {
	case <-b.done:
	case <-ctx.Done():
	}
	if b.cmd.Process != nil {
		_ = syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL)
	}
	<-b.done
	_ = b.cmd.Wait()
	return os.RemoveAll(b.dir)
}
