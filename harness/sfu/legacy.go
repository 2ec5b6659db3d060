package sfu

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
)

// legacyHandlers serve the node's HTTP signalling: one request per offer,
// candidate or leave, with no connection the node can speak on. The
// harness's fallback policies other than LiveKit's use it; the node never
// moves their ladder, as LiveKit never sends a leave request to an old
// protocol's client.
func (n *Node) legacyHandlers(mux *http.ServeMux) {
	mux.HandleFunc("POST "+PathJoin, func(w http.ResponseWriter, r *http.Request) {
		var req JoinRequest
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&req); err != nil || req.Client == "" {
			http.Error(w, "bad join request", http.StatusBadRequest)
			return
		}
		_, servers := n.iceServers(req.Client, PreferNone)
		writeJSON(w, JoinResponse{ICEServers: servers, Subscribe: n.subscriptions(req.Client)})
	})
	mux.HandleFunc("POST "+PathOffer, func(w http.ResponseWriter, r *http.Request) {
		var req OfferRequest
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil || req.Client == "" {
			http.Error(w, "bad offer request", http.StatusBadRequest)
			return
		}
		p := n.participant(req.Client)
		switch {
		case req.Resume && p == nil:
			http.Error(w, ErrNoSession, http.StatusNotFound)
			return
		case p == nil || req.Resume:
			// A first offer, or a resumed session moved to a new peer
			// connection: a new participant replaces the old one.
			p = &participant{n: n, name: req.Client, legacy: true}
			n.mu.Lock()
			closed := n.closed
			n.mu.Unlock()
			if closed {
				http.Error(w, "node closing", http.StatusServiceUnavailable)
				return
			}
			n.admit(p)
		}
		answer, err := p.answer(r.Context(), req.Offer)
		if err != nil {
			status := http.StatusInternalServerError
			if errors.Is(err, r.Context().Err()) {
				status = http.StatusServiceUnavailable
			}
			http.Error(w, err.Error(), status)
			return
		}
		writeJSON(w, OfferResponse{Answer: answer})
	})
	mux.HandleFunc("POST "+PathTrickle, func(w http.ResponseWriter, r *http.Request) {
		var req TrickleRequest
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&req); err != nil || req.Client == "" {
			http.Error(w, "bad trickle request", http.StatusBadRequest)
			return
		}
		p := n.participant(req.Client)
		if p == nil {
			http.Error(w, ErrNoSession, http.StatusNotFound)
			return
		}
		if err := p.addCandidate(req.Candidate); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		writeJSON(w, struct{}{})
	})
	mux.HandleFunc("POST "+PathLeave, func(w http.ResponseWriter, r *http.Request) {
		var req LeaveRequest
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&req); err != nil || req.Client == "" {
			http.Error(w, "bad leave request", http.StatusBadRequest)
			return
		}
		if p := n.participant(req.Client); p != nil {
			p.close()
		}
		writeJSON(w, struct{}{})
	})
}
