package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Size is a byte count. In TOML it is an integer or a string with a unit:
// "512", "512B", "64KiB", "10 MB". KiB, MiB and GiB are powers of 1024;
// KB, MB and GB powers of 1000, as their names say.
type Size int64

// Units of Size.
const (
	KiB Size = 1 << 10
	MiB Size = 1 << 20
	GiB Size = 1 << 30
)

var sizeUnits = []struct {
	suffix string
	factor int64
}{
	// Longest suffixes first, so "KiB" is not read as "B".
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
	{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12},
	{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30},
	{"b", 1},
}

// UnmarshalTOML implements toml.Unmarshaler.
func (s *Size) UnmarshalTOML(v any) error {
	switch v := v.(type) {
	case int64:
		if v < 0 {
			return errors.New("a size cannot be negative")
		}
		*s = Size(v)
		return nil
	case string:
		n, err := ParseSize(v)
		*s = n
		return err
	}
	return fmt.Errorf("a size is an integer or a string like \"64KiB\", not %T", v)
}

// ParseSize reads a size as UnmarshalTOML does.
func ParseSize(text string) (Size, error) {
	t := strings.ToLower(strings.TrimSpace(text))
	factor := int64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(t, u.suffix) {
			t, factor = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.factor
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a size like \"512\", \"64KiB\" or \"10MB\"", text)
	}
	if n > (1<<63-1)/factor {
		return 0, fmt.Errorf("%q is too large", text)
	}
	return Size(n * factor), nil
}

// String prints the size in the largest binary unit that divides it.
func (s Size) String() string {
	for _, u := range []struct {
		name string
		size Size
	}{{"GiB", GiB}, {"MiB", MiB}, {"KiB", KiB}} {
		if s >= u.size && s%u.size == 0 {
			return strconv.FormatInt(int64(s/u.size), 10) + u.name
		}
	}
	return strconv.FormatInt(int64(s), 10) + "B"
}

// Duration is a time span written as Go writes them ("250ms", "30s",
// "1h30m"), plus "d" for days ("7d").
type Duration struct{ time.Duration }

func seconds(n int) Duration { return Duration{time.Duration(n) * time.Second} }

// UnmarshalTOML implements toml.Unmarshaler.
func (d *Duration) UnmarshalTOML(v any) error {
	s, ok := v.(string)
	if !ok {
		return fmt.Errorf("a duration is a string like \"30s\" or \"5m\", not %T", v)
	}
	parsed, err := ParseDuration(s)
	d.Duration = parsed
	return err
}

// ParseDuration reads a duration as UnmarshalTOML does.
func ParseDuration(s string) (time.Duration, error) {
	text := strings.TrimSpace(s)
	var days time.Duration
	if before, after, ok := strings.Cut(text, "d"); ok {
		n, err := strconv.Atoi(before)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("%q is not a duration like \"30s\", \"5m\" or \"7d\"", s)
		}
		days, text = time.Duration(n)*24*time.Hour, after
		if text == "" {
			return days, nil
		}
	}
	d, err := time.ParseDuration(text)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration like \"30s\", \"5m\" or \"7d\"", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("%q: a duration cannot be negative", s)
	}
	return days + d, nil
}

// String prints the duration as Go does.
func (d Duration) String() string { return d.Duration.String() }
