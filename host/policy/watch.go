package policy

import (
	"context"
	"os"
	"time"
)

// DefaultWatchInterval is how often Watch looks at a policy's file.
const DefaultWatchInterval = 250 * time.Millisecond

// Watch reloads the policy when its file changes, until ctx ends.
//
// It polls (stat every interval) rather than using fsnotify: polling adds
// no dependency, works on every filesystem (network mounts, bind mounts
// and container volumes where inotify events never arrive), survives the
// file being replaced by rename (editors, `mv`), and makes the debounce
// natural: a change is loaded only once size and mtime have been the same
// for two polls in a row, so a file being written (`cp` in progress) is
// never loaded half-way. A half-written file that does get through is
// still only a candidate: Reload compiles and instantiates it beside the
// running generation and rejects it if it is not a valid policy. Stat of
// a handful of files four times a second costs nothing measurable.
func (p *Policy) Watch(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = DefaultWatchInterval
	}
	var seen fileSig
	if s := p.seen.Load(); s != nil {
		seen = *s
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		fi, err := os.Stat(p.path)
		if err != nil {
			continue // being replaced, or gone: keep serving what is loaded
		}
		now := fileSig{fi.Size(), fi.ModTime()}
		switch loaded := p.seen.Load(); {
		case loaded != nil && now == *loaded:
			seen = now
		case now != seen:
			seen = now // changed since the last poll: wait for it to settle
		default:
			// Stable for two polls: try it once. A rejected file is not
			// retried until it changes again (Reload records it); Reload
			// has logged why.
			p.Reload(ctx)
		}
	}
}
