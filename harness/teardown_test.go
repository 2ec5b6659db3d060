package harness_test

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"time"

	"github.com/icelab/icelab/harness"
	"github.com/icelab/icelab/vnet"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/pion/webrtc/v4"
)

// teardownWatchdog bounds one run on the machine's clock
// (ICELAB_TEARDOWN_WATCHDOG_S overrides it). A fake-clock run of a few
// seconds takes well under a second of wall time, even with -race on a
// busy machine; a run whose teardown hangs never ends, and a hung bubble
// cannot be stopped from inside, so the watchdog runs outside it.
var teardownWatchdog = time.Duration(envInt("ICELAB_TEARDOWN_WATCHDOG_S", 60)) * time.Second

// refusal is what a client's network does to its UDP.
type refusal struct {
	name  string
	rules []vnet.Rule
}

// refusals: TURN/UDP dropped or rejected, with the direct path open (the
// allocation retries while the call connects) or closed too (every
// attempt fails and transport fallback moves on).
var refusals = []refusal{
	{"TURN/UDP dropped", []vnet.Rule{{Name: "no-turn-udp", Direction: vnet.Outbound, Proto: vnet.UDP, RemotePorts: vnet.Port(3478), Action: vnet.Drop}}},
	{"TURN/UDP rejected", []vnet.Rule{{Name: "no-turn-udp", Direction: vnet.Outbound, Proto: vnet.UDP, RemotePorts: vnet.Port(3478), Action: vnet.Reject}}},
	{"all UDP dropped", []vnet.Rule{{Name: "no-udp", Direction: vnet.Outbound, Proto: vnet.UDP, Action: vnet.Drop}}},
	{"all UDP rejected", []vnet.Rule{{Name: "no-udp", Direction: vnet.Outbound, Proto: vnet.UDP, Action: vnet.Reject}}},
}

// refused is a call whose client's network refuses UDP as r says, with a
// connect deadline of 1 s under transport fallback so that attempts follow
// each other quickly, and whose duration d ends it while the client is
// connecting: teardown lands during allocation retries and attempts.
func refused(policy harness.FallbackPolicy, r refusal, d time.Duration) harness.Spec {
	spec := call("teardown during connect", harness.ClientSpec{Name: "alice", LAN: "office", Fallback: harness.Fallback{Policy: policy}})
	if policy == harness.TransportFallback {
		spec.Clients[0].Fallback.Deadline = time.Second
	}
	spec.LANs = []harness.LANSpec{{Name: "office", NAT: vnet.PortRestricted(), Firewall: r.rules}}
	spec.Duration = d
	return spec
}

// watched runs spec in its bubble on another goroutine and waits for it on
// the machine's clock. It reports a hang (the watchdog fired; the error
// holds every goroutine's stack) or a panic (a bubble deadlock) as an
// error.
func watched(spec harness.Spec, bound time.Duration) (harness.Result, error) {
	type outcome struct {
		res   harness.Result
		panic any
	}
	done := make(chan outcome, 1)
	go func() {
		var o outcome
		defer func() {
			o.panic = recover()
			done <- o
		}()
		o.res = harness.RunT(suiteT, spec, harness.WithCA(ca))
	}()
	timer := time.NewTimer(bound)
	defer timer.Stop()
	select {
	case o := <-done:
		if o.panic != nil {
			return o.res, fmt.Errorf("%s: panicked: %v", spec.Name, o.panic)
		}
		return o.res, nil
	case <-timer.C:
		buf := make([]byte, 1<<22)
		buf = buf[:runtime.Stack(buf, true)]
		return harness.Result{}, fmt.Errorf("%s: still running after %v of wall time (teardown hung)\n%s", spec.Name, bound, buf)
	}
}

// envInt reads a positive integer from the environment, or returns def.
func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

var _ = Describe("teardown while a client is still connecting", func() {
	// The suite runs a few call durations once each. The hunt runs every
	// ICELAB_TEARDOWN_STEP_MS from 50 ms to 3 s, ICELAB_TEARDOWN_ROUNDS
	// times, with -race:
	//
	//	ICELAB_TEARDOWN_ROUNDS=10 ICELAB_TEARDOWN_STEP_MS=100 \
	//	  go test -race ./harness -run TestHarness -ginkgo.v -ginkgo.focus teardown
	rounds := envInt("ICELAB_TEARDOWN_ROUNDS", 1)
	step := time.Duration(envInt("ICELAB_TEARDOWN_STEP_MS", 0)) * time.Millisecond
	durations := []time.Duration{50 * time.Millisecond, 150 * time.Millisecond, 1250 * time.Millisecond, 2300 * time.Millisecond}
	if step > 0 {
		durations = nil
		for d := 50 * time.Millisecond; d <= 3*time.Second; d += step {
			durations = append(durations, d)
		}
	}
	policies := []harness.FallbackPolicy{harness.TransportFallback, harness.NoFallback, harness.ICERestart, harness.Renominate, harness.ForceRelay}
	for _, policy := range policies {
		for _, r := range refusals {
			It(fmt.Sprintf("returns under %s with %s", policy, r.name), func() {
				ds := durations
				if step == 0 && policy != harness.TransportFallback {
					// The suite hunts transport fallback, the policy with
					// attempts after the first, hardest.
					ds = ds[1:2]
				}
				hung := 0
				for round := range rounds {
					for _, d := range ds {
						spec := refused(policy, r, d)
						spec.Name = fmt.Sprintf("%s, %s, %v, round %d", policy, r.name, d, round+1)
						res, err := watched(spec, teardownWatchdog)
						if err != nil {
							hung++
							GinkgoWriter.Println(err)
							continue
						}
						Expect(res.Err).To(BeEmpty())
						Expect(res.Duration).To(BeNumerically(">=", d), "the call ran its duration")
						Expect(res.Interrupted).To(BeFalse())
						honest(res)
						Expect(res.Client("alice").Failure).NotTo(ContainSubstring("context canceled"), "teardown is no failure")
						if a := res.Client("alice"); a != nil && os.Getenv("ICELAB_TEARDOWN_VERBOSE") != "" {
							GinkgoWriter.Printf("%s: %d attempts, %s, %q\n%s", spec.Name, len(a.Attempts), a.FinalState(), a.Failure, a.Timeline())
						}
					}
				}
				GinkgoWriter.Printf("%d runs (%d rounds of %d call durations): %d hung or panicked\n", rounds*len(ds), rounds, len(ds), hung)
				Expect(hung).To(BeZero(), "runs that hung or panicked, of %d", rounds*len(ds))
			})
		}
	}
})

var _ = Describe("teardown while an ICE-TCP client is still connecting, on the real clock", func() {
	// The same race on the real clock, where `icelab run` runs ICE-TCP
	// scenarios and a hang never returns. Only TCP 80 and 443 get out, so
	// the first attempt misses its 1 s deadline (ICE-TCP to 7881 is
	// dropped, TURN/TLS is slower) and teardown lands as fallback starts.
	It("returns under transport fallback", func() {
		only443 := refusal{"only TCP 80 and 443 out", vnet.OnlyTCPOut(80, 443)}
		var ds []time.Duration
		for range envInt("ICELAB_TEARDOWN_ROUNDS", 1) {
			ds = append(ds, 300*time.Millisecond, 1100*time.Millisecond, 1250*time.Millisecond)
		}
		for _, d := range ds {
			spec := refused(harness.TransportFallback, only443, d)
			spec.Clients[0].NetworkTypes = []webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeTCP4}
			spec.Name = fmt.Sprintf("ice-tcp client, transport, %s, %v", only443.name, d)
			res, err := watched(spec, teardownWatchdog)
			Expect(err).NotTo(HaveOccurred())
			Expect(res.Err).To(BeEmpty())
			Expect(res.Clock).To(Equal(harness.RealClock))
			GinkgoWriter.Printf("%s: ran %v, took %v\n%s", spec.Name, res.Duration, res.Wall, res.Client("alice").Timeline())
			honest(res)
			Expect(res.Client("alice").Failure).NotTo(ContainSubstring("context canceled"), "teardown is no failure")
		}
	})
})
