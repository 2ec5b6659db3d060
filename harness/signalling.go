package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/icelab/icelab/harness/sfu"
	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
)

// trickler sends one attempt's candidates to the node in the order they
// were gathered, once the node has the offer they belong to.
type trickler struct {
	mu    sync.Mutex
	queue []webrtc.ICECandidateInit
	send  func(webrtc.ICECandidateInit) error
	open  bool // the node has the offer: candidates may go
	wake  chan struct{}
}

func newTrickler(send func(webrtc.ICECandidateInit) error) *trickler {
	return &trickler{send: send, wake: make(chan struct{}, 1)}
}

// retarget sends later candidates with send (a resumed signal connection).
func (t *trickler) retarget(send func(webrtc.ICECandidateInit) error) {
	t.mu.Lock()
	t.send = send
	t.mu.Unlock()
}

func (t *trickler) signal() {
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

func (t *trickler) add(c webrtc.ICECandidateInit) {
	t.mu.Lock()
	t.queue = append(t.queue, c)
	t.mu.Unlock()
	t.signal()
}

// release lets queued and future candidates go.
func (t *trickler) release() {
	t.mu.Lock()
	t.open = true
	t.mu.Unlock()
	t.signal()
}

// run sends candidates until ctx ends.
func (t *trickler) run(ctx context.Context, c *client) {
	for {
		t.mu.Lock()
		var batch []webrtc.ICECandidateInit
		send := t.send
		if t.open {
			batch, t.queue = t.queue, nil
		}
		t.mu.Unlock()
		for _, cand := range batch {
			if err := send(cand); err != nil && ctx.Err() == nil {
				c.obs.signalling(err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.wake:
		}
	}
}

// post sends a JSON request to the node and decodes the answer.
func (c *client) post(ctx context.Context, base, path string, req, resp any) error {
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	r.Header.Set("Content-Type", "application/json")
	res, err := c.http.Do(r)
	if err != nil {
		return explainTLS(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s: %s", path, res.Status, strings.TrimSpace(string(data)))
	}
	return json.Unmarshal(data, resp)
}

// negotiate sends an offer to the node and applies its answer; the
// client's candidates trickle after it as they are gathered.
func (c *client) negotiate(ctx context.Context, pc *webrtc.PeerConnection, plan attemptPlan, restart bool) error {
	offer, err := pc.CreateOffer(&webrtc.OfferOptions{ICERestart: restart})
	if err != nil {
		return fmt.Errorf("create offer: %w", err)
	}
	if err := pc.SetLocalDescription(offer); err != nil {
		return fmt.Errorf("set offer: %w", err)
	}
	var resp sfu.OfferResponse
	if err := c.post(ctx, plan.base, sfu.PathOffer, sfu.OfferRequest{Client: c.spec.Name, Offer: *pc.LocalDescription(), Resume: plan.resume}, &resp); err != nil {
		if ctx.Err() == nil {
			c.obs.signalling(err)
		}
		return fmt.Errorf("signalling: %w", err)
	}
	c.noteRemoteCandidates(resp.Answer.SDP)
	if err := pc.SetRemoteDescription(resp.Answer); err != nil {
		return fmt.Errorf("set answer: %w", err)
	}
	c.mu.Lock()
	tr := c.tr
	c.mu.Unlock()
	tr.release()
	return nil
}

// noteRemoteCandidates records the node's candidates in its answer.
func (c *client) noteRemoteCandidates(sdp string) {
	for _, line := range strings.Split(sdp, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "a=candidate:") {
			continue
		}
		if cand, err := ice.UnmarshalCandidate(strings.TrimPrefix(line, "a=")); err == nil {
			c.obs.remoteCandidate(Candidate{
				Type:     cand.Type().String(),
				Protocol: strings.ToLower(cand.NetworkType().NetworkShort()),
				Address:  hostPort(cand.Address(), int(cand.Port())),
				TCPType:  tcpTypeOf(cand.TCPType()),
			})
		}
	}
}

// restartICE restarts ICE on the current peer connection.
func (c *client) restartICE(ctx context.Context, plan attemptPlan) error {
	c.mu.Lock()
	pc := c.pc
	c.mu.Unlock()
	if pc == nil {
		return errors.New("no peer connection")
	}
	return c.negotiate(ctx, pc, attemptPlan{base: plan.base}, true)
}

func tcpTypeOf(t ice.TCPType) string {
	if t == ice.TCPTypeUnspecified {
		return ""
	}
	return t.String()
}
