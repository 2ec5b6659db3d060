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
	for _, p := range []string{"Failed to dial", "Failed to resolve", "Failed to connect to relay", "Failed to create", "Failed to allocate", "Failed to listen"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}
