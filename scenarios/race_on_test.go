//go:build race

package scenarios_test

// raceDetector is whether the tests run with the race detector.
const raceDetector = true
