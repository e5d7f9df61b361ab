package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Size is a byte count. In TOML it is an integer or a string with an
// optional unit: "512", "512B", "64KiB", "10 MB". KiB, MiB, GiB and TiB
// are powers of 1024, KB, MB, GB and TB powers of 1000, as their names
// say; units ignore case. Single letters ("64k") are refused: whether
// they mean 1000 or 1024 depends on who wrote them.
type Size int64

// Binary units of Size, for code that sets sizes.
const (
	KiB Size = 1 << 10
	MiB Size = 1 << 20
	GiB Size = 1 << 30
	TiB Size = 1 << 40
)

// sizeUnits is ordered largest first, the order in which String tries
// them; "B" comes last so that it is not taken for the end of "KiB".
var sizeUnits = []struct {
	name   string
	factor int64
}{
	{"TiB", 1 << 40}, {"TB", 1e12}, {"GiB", 1 << 30}, {"GB", 1e9},
	{"MiB", 1 << 20}, {"MB", 1e6}, {"KiB", 1 << 10}, {"KB", 1e3},
	{"B", 1},
}

// UnmarshalTOML lets a size be written either as a plain integer or as a
// string with a unit.
func (s *Size) UnmarshalTOML(v any) error {
	switch v := v.(type) {
	case int64:
		if v < 0 {
			return fmt.Errorf("size %d is negative", v)
		}
		*s = Size(v)
		return nil
	case string:
		n, err := ParseSize(v)
		*s = n
		return err
	}
	return fmt.Errorf("expected a size like 512 or \"64KiB\", found %s", tomlTypeName(v))
}

// ParseSize reads a size as it is written in the configuration.
func ParseSize(text string) (Size, error) {
	t := strings.TrimSpace(text)
	factor := int64(1)
	for _, u := range sizeUnits {
		if len(t) >= len(u.name) && strings.EqualFold(t[len(t)-len(u.name):], u.name) {
			t, factor = strings.TrimSpace(t[:len(t)-len(u.name)]), u.factor
			break
		}
	}
	n, err := strconv.ParseUint(t, 10, 63)
	switch {
	case err != nil && strings.HasPrefix(t, "-"):
		return 0, fmt.Errorf("size %q is negative", text)
	case errors.Is(err, strconv.ErrRange), err == nil && n > math.MaxInt64/uint64(factor):
		return 0, fmt.Errorf("size %q is too large", text)
	case err != nil:
		return 0, fmt.Errorf("%q is not a size like \"512\", \"64KiB\" or \"10MB\"", text)
	}
	return Size(int64(n) * factor), nil
}

// String writes the size the way a person would, in the largest unit
// that divides it exactly, so that it reads back unchanged.
func (s Size) String() string {
	for _, u := range sizeUnits {
		if s != 0 && int64(s)%u.factor == 0 {
			return strconv.FormatInt(int64(s)/u.factor, 10) + u.name
		}
	}
	return strconv.FormatInt(int64(s), 10) + "B"
}

// Duration is a time span written as Go writes them ("250ms", "30s",
// "1h30m"), plus a leading day count for long spans ("7d", "1d12h").
// It embeds time.Duration so that callers use it as one.
type Duration struct{ time.Duration }

const day = 24 * time.Hour

// UnmarshalTOML accepts only strings: a bare number would leave the unit
// to guesswork.
func (d *Duration) UnmarshalTOML(v any) error {
	s, ok := v.(string)
	if !ok {
		return fmt.Errorf("expected a duration like \"30s\" or \"5m\", found %s", tomlTypeName(v))
	}
	parsed, err := ParseDuration(s)
	d.Duration = parsed
	return err
}

// ParseDuration reads a duration as it is written in the configuration.
func ParseDuration(text string) (time.Duration, error) {
	bad := fmt.Errorf("%q is not a duration like \"250ms\", \"30s\", \"5m\" or \"7d\"", text)
	t := strings.TrimSpace(text)
	if strings.HasPrefix(t, "-") {
		return 0, fmt.Errorf("duration %q is negative", text)
	}
	var days time.Duration
	if before, after, ok := strings.Cut(t, "d"); ok {
		n, err := strconv.ParseUint(before, 10, 63)
		if err != nil {
			return 0, bad
		}
		if n > math.MaxInt64/uint64(day) {
			return 0, fmt.Errorf("duration %q is too long", text)
		}
		days, t = time.Duration(n)*day, after
		if t == "" {
			return days, nil
		}
	}
	d, err := time.ParseDuration(t)
	switch {
	case err != nil || d < 0:
		return 0, bad
	case d > math.MaxInt64-days:
		return 0, fmt.Errorf("duration %q is too long", text)
	}
	return days + d, nil
}

// String writes the duration as Go does, without the zero minutes and
// seconds that make "24h" read as "24h0m0s".
func (d Duration) String() string {
	s := d.Duration.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
