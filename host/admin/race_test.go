//go:build race

package admin

// raceEnabled reports a -race build, whose sync.Pool drops items at random
// (to shake out misuse), so allocation counts mean nothing under it.
const raceEnabled = true
