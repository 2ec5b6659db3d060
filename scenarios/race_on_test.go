//go:build race

package scenarios_test

// raceDetector says whether the tests were built with -race.
const raceDetector = true
