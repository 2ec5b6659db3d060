package harness

import (
	"fmt"
	"strings"

	"github.com/pion/logging"
)

// captureFactory is a pion logger factory that hands the warnings and
// errors of pion's ICE agent to record, as well as to its base, so that a
// failure can name what pion saw: a certificate that does not verify, a
// TURN name that does not resolve.
type captureFactory struct {
	base   logging.LoggerFactory
	record func(msg string)
}

func (f captureFactory) NewLogger(scope string) logging.LeveledLogger {
	l := f.base.NewLogger(scope)
	if scope != "ice" {
		return l
	}
	return &captureLogger{LeveledLogger: l, record: f.record}
}

type captureLogger struct {
	logging.LeveledLogger
	record func(msg string)
}

func (l *captureLogger) Warn(msg string) {
	l.record(msg)
	l.LeveledLogger.Warn(msg)
}

func (l *captureLogger) Warnf(format string, args ...any) { l.Warn(fmt.Sprintf(format, args...)) }

func (l *captureLogger) Error(msg string) {
	l.record(msg)
	l.LeveledLogger.Error(msg)
}

func (l *captureLogger) Errorf(format string, args ...any) { l.Error(fmt.Sprintf(format, args...)) }

// gatherProblem reports whether an ICE agent's warning explains a missing
// candidate: a TURN server that could not be resolved, reached, or
// trusted, or an allocation it refused. pion also tries every TURN/TCP and
// TURN/TLS server over IPv6, which the virtual network does not carry
// ("no suitable address"): that explains nothing, since the IPv4 attempt
// is made too, and a name that does not resolve says "no such host".
func gatherProblem(msg string) bool {
	if strings.Contains(msg, "no suitable address") {
		return false
	}
	if strings.HasSuffix(msg, "context canceled") {
		return false // gathering cut short by teardown or a new attempt: no cause
	}
	// pion spells some of these with a capital and some without ("failed
	// to allocate on TURN client", ice v4.4.9).
	for _, p := range []string{"failed to dial", "failed to resolve", "failed to connect to relay", "failed to create", "failed to allocate", "failed to listen"} {
		if len(msg) >= len(p) && strings.EqualFold(msg[:len(p)], p) {
			return true
		}
	}
	return false
}
