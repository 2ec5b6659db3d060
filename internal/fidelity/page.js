// The page side of a fidelity case: one RTCPeerConnection offering a data
// channel, trickling its candidates to the Go side through icelabSend (a
// DevTools binding), and reporting the selected pair once it has
// connected and its selection has settled (cfg.settle ms later: Chromium
// connects on the first pair that works and may switch to a better one
// within a few hundred milliseconds), once it fails, or when the Go side's
// deadline asks. The report keeps the pair it first connected on.
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
      if (pc.connectionState === 'connected') this.connected(cfg.settle || 0);
      if (pc.connectionState === 'failed') this.report(false);
    };
    pc.createDataChannel('probe');
    return pc.createOffer()
      .then((o) => pc.setLocalDescription(o))
      .then(() => send({kind: 'sdp', sdp: pc.localDescription.toJSON()}));
  },
  async selected() {
    const r = await this.pc.getStats();
    const all = [...r.values()];
    let pair, changes = 0;
    for (const s of all) {
      if (s.type === 'transport' && s.selectedCandidatePairId) {
        pair = r.get(s.selectedCandidatePairId);
        changes = s.selectedCandidatePairChanges || 0;
      }
    }
    const cand = (c) => c ? {type: c.candidateType, protocol: c.protocol, relay_protocol: c.relayProtocol || '',
      address: (c.address || '') + ':' + c.port} : {type: '', protocol: '', address: ''};
    return {all, changes, local: cand(pair && r.get(pair.localCandidateId)), remote: cand(pair && r.get(pair.remoteCandidateId))};
  },
  async connected(settle) {
    if (this.first) return;
    const after = (performance.now() - this.t0) / 1000;
    this.first = {after, pair: null};
    const s = await this.selected();
    this.first.pair = {local: s.local, remote: s.remote};
    setTimeout(() => this.report(true), settle);
  },
  async report(connected) {
    if (this.done) return;
    this.done = true;
    const after = (performance.now() - this.t0) / 1000;
    const s = await this.selected();
    const first = this.first;
    const res = {connected: connected || !!first, connected_after: first ? first.after : 0, reported_after: after,
      state: this.pc.connectionState, local: s.local, remote: s.remote, pair_changes: s.changes, stats: s.all};
    if (first && first.pair) res.first = first.pair;
    icelabSend(JSON.stringify({kind: 'result', result: res}));
  },
  remote(m) {
    if (m.kind === 'sdp') return this.pc.setRemoteDescription(m.sdp);
    if (m.kind === 'candidate') return this.pc.addIceCandidate(m.candidate);
  },
};
