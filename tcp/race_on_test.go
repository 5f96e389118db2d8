//go:build race

package tcp

// raceEnabled says the race detector is on: sync.Pool then drops a share
// of what is put back on purpose, so allocation counts do not hold.
const raceEnabled = true
