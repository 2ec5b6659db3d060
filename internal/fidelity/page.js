// The page side of a fidelity case: one RTCPeerConnection offering a data
// channel, trickling its candidates to the Go side through icelabSend (a
// DevTools binding), and reporting the selected pair once it connects,
// fails, or the Go side's deadline asks.
window.icelab = {
  start(cfg) {
    const pc = new RTCPeerConnection({iceServers: cfg.iceServers});
    this.pc = pc;
    this.t0 = performance.now();
    this.done = false;
    const send = (m) => icelabSend(JSON.stringify(m));
    pc.onicecandidate = (e) => {
      if (e.candidate && e.candidate.candidate) send({kind: 'candidate', candidate: e.candidate.toJSON()});
    };
    pc.onconnectionstatechange = () => {
      if (pc.connectionState === 'connected') this.report(true);
      if (pc.connectionState === 'failed') this.report(false);
    };
    pc.createDataChannel('probe');
    return pc.createOffer()
      .then((o) => pc.setLocalDescription(o))
      .then(() => send({kind: 'sdp', sdp: pc.localDescription.toJSON()}));
  },
  async report(connected) {
    if (this.done) return;
    this.done = true;
    const after = (performance.now() - this.t0) / 1000;
    const r = await this.pc.getStats();
    const all = [...r.values()];
    let pair;
    for (const s of all) if (s.type === 'transport' && s.selectedCandidatePairId) pair = r.get(s.selectedCandidatePairId);
    const cand = (c) => c ? {type: c.candidateType, protocol: c.protocol, relay_protocol: c.relayProtocol || '',
      address: (c.address || '') + ':' + c.port} : {type: '', protocol: '', address: ''};
    const res = {connected, connected_after: connected ? after : 0, reported_after: after, state: this.pc.connectionState,
      local: cand(pair && r.get(pair.localCandidateId)), remote: cand(pair && r.get(pair.remoteCandidateId)), stats: all};
    icelabSend(JSON.stringify({kind: 'result', result: res}));
  },
  remote(m) {
    if (m.kind === 'sdp') return this.pc.setRemoteDescription(m.sdp);
    if (m.kind === 'candidate') return this.pc.addIceCandidate(m.candidate);
  },
};
