package config

import (
	"bytes"
	"strings"
)

// locator maps dotted keys to the line that sets them. The TOML decoder
// keeps key positions to itself, yet unknown keys and invalid values must
// be reported with their line; a light scan of table headers and key
// lines finds them in any config a person writes.
type locator struct {
	lines map[string]int
}

func newLocator(data []byte) *locator {
	l := &locator{lines: make(map[string]int)}
	table := ""
	inMultiline := false
	for i, raw := range bytes.Split(data, []byte("\n")) {
		line := strings.TrimSpace(string(raw))
		if strings.Count(line, `"""`)%2 == 1 || strings.Count(line, "'''")%2 == 1 {
			inMultiline = !inMultiline
			if !inMultiline {
				continue
			}
		} else if inMultiline {
			continue
		}
		switch {
		case line == "" || line[0] == '#':
		case strings.HasPrefix(line, "[["):
			table = normalizeKey(strings.Trim(cutComment(line), "[] "))
			l.set(table, i+1)
		case line[0] == '[':
			table = normalizeKey(strings.Trim(cutComment(line), "[] "))
			l.set(table, i+1)
		default:
			key, _, ok := strings.Cut(line, "=")
			if !ok {
				continue
			}
			full := normalizeKey(key)
			if table != "" {
				full = table + "." + full
			}
			l.set(full, i+1)
		}
	}
	return l
}

func (l *locator) set(key string, line int) {
	if _, seen := l.lines[key]; !seen {
		l.lines[key] = line
	}
}

// line returns the line of key, or of the nearest enclosing table that
// appears in the file, or 0.
func (l *locator) line(key string) int {
	for k := key; k != ""; {
		if n, ok := l.lines[k]; ok {
			return n
		}
		i := strings.LastIndexByte(k, '.')
		if i < 0 {
			break
		}
		k = k[:i]
	}
	return 0
}

// normalizeKey turns `a . "b" .c` into "a.b.c", the form toml.Key.String
// gives for simple keys.
func normalizeKey(key string) string {
	parts := strings.Split(key, ".")
	for i, p := range parts {
		parts[i] = strings.Trim(strings.TrimSpace(p), `"'`)
	}
	return strings.Join(parts, ".")
}

func cutComment(line string) string {
	if i := strings.IndexByte(line, '#'); i >= 0 {
		return line[:i]
	}
	return line
}
