package admin

import (
	"cmp"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Rotation is done here rather than by gopkg.in/natefinch/lumberjack.v2,
// although that was the plan, for reasons that its v2.2.1 cannot meet:
//
//   - Its compression goroutine is never stopped: Close leaves it blocked
//     for the life of the process (natefinch/lumberjack#56, #205, open), and
//     nothing outside the package can end it. The server must not leak a
//     goroutine per access log it opens.
//   - It compresses after Close returns, so a shutdown can race a half-written
//     .gz, and it drops compression errors on the floor.
//   - Its size limit is whole megabytes, checked per Write call; we write
//     64 KiB buffers, so it would also cut files in the middle of a line.
//
// What is kept is its on-disk convention, so that tools and habits carry
// over: "access.log" rotates to "access-2006-01-02T15-04-05.000.log" (UTC,
// the time of rotation), gzipped to "access-….log.gz".
const backupTimeFormat = "2006-01-02T15-04-05.000"

// rotateLocked moves the current file aside and opens a fresh one. It never
// loses a line: if the new file cannot be opened, writing carries on into
// the old one under its rotated name.
func (l *AccessLog) rotateLocked(now time.Time) error {
	l.flushLocked()
	mode := fileMode
	if fi, err := l.f.Stat(); err == nil {
		mode = fi.Mode().Perm()
	}
	backup := l.backupName(now)
	// ErrNotExist means the file was moved or deleted from under us (by
	// logrotate, say): there is nothing to rename, but a new file is due.
	if err := os.Rename(l.path, backup); err != nil && !errors.Is(err, fs.ErrNotExist) {
		err = fmt.Errorf("access log: rotate: %w", err)
		l.report(err)
		return err
	}
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, mode)
	if err != nil {
		err = fmt.Errorf("access log: rotate: %w", err)
		l.report(err)
		return err
	}
	if err := l.f.Close(); err != nil {
		l.report(fmt.Errorf("access log: rotate: %w", err))
	}
	l.f, l.size, l.born = f, 0, now
	if fi, err := f.Stat(); err == nil {
		l.size = fi.Size() // someone may have recreated the file already
	}
	if l.millKick != nil {
		select {
		case l.millKick <- struct{}{}:
		default: // a pass is already due; it will see this file too
		}
	}
	return nil
}

// backupName returns a name for the rotated file that sorts after every
// rotated file before it, because Keep deletes by name order: two rotations
// within a millisecond (a tiny MaxSize, or Rotate in a loop), or a clock
// stepped back, must neither overwrite a file nor get one that is about to
// be pruned as the oldest. A name taken or too early moves on by a
// millisecond.
func (l *AccessLog) backupName(now time.Time) string {
	dir, base := filepath.Split(l.path)
	ext := filepath.Ext(base)
	stem := base[:len(base)-len(ext)]
	t := now.UTC().Truncate(time.Millisecond)
	if !t.After(l.lastBackup) {
		t = l.lastBackup.Add(time.Millisecond)
	}
	name := ""
	for range 1000 {
		name = filepath.Join(dir, stem+"-"+t.Format(backupTimeFormat)+ext)
		if !exists(name) && !exists(name+".gz") {
			break
		}
		t = t.Add(time.Millisecond)
	}
	l.lastBackup = t
	return name
}

func exists(name string) bool {
	_, err := os.Lstat(name)
	return err == nil
}

// miller compresses and prunes rotated files off the request path. On stop
// it finishes the pass that a last rotation asked for, so that Close leaves
// the directory in its final state.
func (l *AccessLog) miller() {
	defer l.wg.Done()
	for {
		select {
		case <-l.millKick:
			l.mill()
		case <-l.stop:
			select {
			case <-l.millKick:
				l.mill()
			default:
			}
			return
		}
	}
}

// rotated is one rotated file, in either or both of its forms.
type rotated struct {
	base      string // the uncompressed name
	t         time.Time
	plain, gz bool
}

// mill deletes rotated files beyond Keep and compresses the rest.
func (l *AccessLog) mill() {
	dir, base := filepath.Split(l.path)
	if dir == "" {
		dir = "."
	}
	files, err := listRotated(dir, base)
	if err != nil {
		l.report(fmt.Errorf("access log: %w", err))
		return
	}
	for i, r := range files {
		p := filepath.Join(dir, r.base)
		switch {
		case l.keep > 0 && i >= l.keep:
			for _, name := range []string{p, p + ".gz"} {
				if err := os.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
					l.report(fmt.Errorf("access log: prune: %w", err))
				}
			}
		case l.compress && r.plain && r.gz:
			// The .gz only ever appears complete (see gzipFile), so a crash
			// between its rename and the removal left a redundant original.
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				l.report(fmt.Errorf("access log: %w", err))
			}
		case l.compress && r.plain:
			if err := gzipFile(p); err != nil {
				l.report(fmt.Errorf("access log: compress: %w", err))
			}
		}
	}
}

// listRotated finds the rotated files of the log named base in dir, newest
// first.
func listRotated(dir, base string) ([]rotated, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	ext := filepath.Ext(base)
	prefix := base[:len(base)-len(ext)] + "-"
	byBase := map[string]*rotated{}
	for _, de := range ents {
		if !de.Type().IsRegular() {
			continue
		}
		name, gz := strings.CutSuffix(de.Name(), ".gz")
		if len(name) < len(prefix)+len(ext) || !strings.HasPrefix(name, prefix) || !strings.HasSuffix(name, ext) {
			continue
		}
		t, err := time.Parse(backupTimeFormat, name[len(prefix):len(name)-len(ext)])
		if err != nil {
			continue // another file that happens to share the prefix
		}
		r := byBase[name]
		if r == nil {
			r = &rotated{base: name, t: t}
			byBase[name] = r
		}
		if gz {
			r.gz = true
		} else {
			r.plain = true
		}
	}
	files := make([]rotated, 0, len(byBase))
	for _, r := range byBase {
		files = append(files, *r)
	}
	slices.SortFunc(files, func(a, b rotated) int {
		return cmp.Or(b.t.Compare(a.t), strings.Compare(b.base, a.base))
	})
	return files, nil
}

// gzipFile replaces p by p.gz. The .gz is written under a temporary name,
// synced and renamed, so that it exists only when complete and a crash
// leaves the original in place to be compressed again.
func gzipFile(p string) (err error) {
	in, err := os.Open(p)
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	tmp := p + ".gz.tmp"
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, fi.Mode().Perm())
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			out.Close()
			os.Remove(tmp)
		}
	}()
	zw := gzip.NewWriter(out)
	zw.Name = filepath.Base(p)
	zw.ModTime = fi.ModTime()
	if _, err = io.Copy(zw, in); err != nil {
		return err
	}
	if err = zw.Close(); err != nil {
		return err
	}
	if err = out.Sync(); err != nil {
		return err
	}
	if err = out.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, p+".gz"); err != nil {
		return err
	}
	return os.Remove(p)
}
