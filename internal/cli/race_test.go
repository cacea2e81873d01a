//go:build race

package cli

// raceEnabled slows every write down: timing bounds are looser under it.
const raceEnabled = true
