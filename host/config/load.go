package config

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Load reads and checks the file at path. Relative paths inside it are
// resolved against the file's directory, so that a config means the same
// whichever directory the server starts in. Errors are *Error.
func Load(path string) (*Config, error) { return LoadWith(path, Overrides{}) }

// Overrides are settings given on the command line. They are applied over
// the file before it is checked, so they are validated like the file's
// own values (an error names the flag rather than a line), and a reload
// that re-reads the file keeps them.
type Overrides struct {
	Listen string            // origin.listen, when not empty
	Roots  map[string]string // roots.NAME.path by NAME; relative to the working directory
}

// LoadWith is Load with command-line overrides.
func LoadWith(path string, o Overrides) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the file name is already in the message
		}
		return nil, &Error{File: path, Msg: err.Error()}
	}
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, &Error{File: path, Msg: err.Error()}
	}
	return ParseWith(data, path, dir, o)
}

// file is what the TOML text decodes into: a Config whose roots stay raw
// until each can be decoded over its own defaults.
type file struct {
	Config
	Roots map[string]toml.Primitive `toml:"roots"`
}

// Parse decodes and checks data as Load does; name is the file name used
// in errors and dir the directory relative paths start from. Errors are
// *Error. Problems of form (syntax, unknown keys, wrong types) come before
// problems of values (ranges, addresses, directories); of several of the
// same kind Parse returns the earliest in the file, and those of keys the
// file leaves out (a default root that does not exist) last. The decoder
// stops at the first value it cannot store, so two bad sizes, say, are
// reported one at a time.
func Parse(data []byte, name, dir string) (*Config, error) {
	return ParseWith(data, name, dir, Overrides{})
}

// ParseWith is Parse with command-line overrides.
func ParseWith(data []byte, name, dir string, o Overrides) (*Config, error) {
	p := &problems{file: name, loc: newLocator(data)}
	f := file{Config: *Default()}
	md, err := toml.Decode(string(data), &f)
	p.checkKeys(md, reflect.TypeFor[Config]())
	if err == nil {
		err = f.decodeRoots(md, p.loc)
	}
	if err != nil {
		p.decodeError(err)
	}
	// Values are checked only in a file decoded as written: a key in the
	// wrong case has been decoded, but its problems would be reported at
	// the line of its table.
	if err := p.first(); err != nil {
		return nil, err
	}
	o.apply(p, &f.Config)
	f.Config.check(p, dir)
	if err := p.first(); err != nil {
		return nil, err
	}
	return &f.Config, nil
}

// decodeRoots decodes each [roots.NAME] over DefaultRootSettings, in file
// order so that the decoder's first complaint is also the earliest.
func (f *file) decodeRoots(md toml.MetaData, loc *locator) error {
	f.Config.Roots = make(map[string]*Root, max(len(f.Roots), 1))
	if len(f.Roots) == 0 {
		f.Config.Roots[DefaultRoot] = DefaultRootSettings(DefaultRoot)
		return nil
	}
	names := slices.Sorted(maps.Keys(f.Roots))
	slices.SortStableFunc(names, func(a, b string) int {
		return cmp.Compare(loc.line(toml.Key{"roots", a}.String()), loc.line(toml.Key{"roots", b}.String()))
	})
	for _, name := range names {
		root := DefaultRootSettings(name)
		if err := md.PrimitiveDecode(f.Roots[name], root); err != nil {
			return err
		}
		f.Config.Roots[name] = root
	}
	return nil
}

// Error is a configuration problem and its place in the file.
type Error struct {
	File string
	Line int    // 0 when the key is not in the file
	Key  string // dotted, as toml.Key.String writes it; "" for some syntax errors
	Msg  string
}

// Error formats as compilers do, file:line: key: message, so that editors
// and terminals can jump to the line.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":" + strconv.Itoa(e.Line))
	}
	if e.Key != "" {
		b.WriteString(": " + e.Key)
	}
	b.WriteString(": " + e.Msg)
	return b.String()
}

// problems collects every problem found, so that the earliest in the file
// is reported whatever order the checks run in.
type problems struct {
	file  string
	loc   *locator
	list  []*Error
	flags map[string]string // keys set on the command line, and by which flag
}

func (p *problems) add(key, format string, args ...any) {
	e := &Error{File: p.file, Line: p.loc.line(key), Key: key, Msg: fmt.Sprintf(format, args...)}
	if flag, ok := p.flags[key]; ok {
		// The value came from the command line: point there, not at
		// the file's line.
		e.Line, e.Key = 0, flag+" ("+key+")"
	}
	p.list = append(p.list, e)
}

// apply sets the overrides over c, remembering which flag set which key.
func (o Overrides) apply(p *problems, c *Config) {
	p.flags = map[string]string{}
	if o.Listen != "" {
		c.Origin.Listen = o.Listen
		p.flags["origin.listen"] = "-listen"
	}
	for _, name := range slices.Sorted(maps.Keys(o.Roots)) {
		root, ok := c.Roots[name]
		if !ok {
			p.list = append(p.list, &Error{File: p.file, Key: "-root " + name + "=" + o.Roots[name],
				Msg: fmt.Sprintf("no root named %q in the file; it has %s", name, strings.Join(slices.Sorted(maps.Keys(c.Roots)), ", "))})
			continue
		}
		path, err := filepath.Abs(o.Roots[name])
		if err != nil {
			path = o.Roots[name]
		}
		root.Path = path
		key := toml.Key{"roots", name, "path"}.String()
		p.flags[key] = "-root " + name
	}
}

// first returns the problem with the lowest line, those without a line
// last, ties in the order found.
func (p *problems) first() error {
	if len(p.list) == 0 {
		return nil
	}
	line := func(e *Error) int {
		if e.Line == 0 {
			return math.MaxInt
		}
		return e.Line
	}
	return slices.MinFunc(p.list, func(a, b *Error) int { return cmp.Compare(line(a), line(b)) })
}

// checkKeys reports, in file order, every key the schema lacks and every
// value of the wrong TOML type. The decoder alone would accept keys that
// differ in case, ignore a scalar where a table of roots belongs, and
// report one type error, not necessarily the first.
func (p *problems) checkKeys(md toml.MetaData, schema reflect.Type) {
	for _, key := range md.Keys() {
		t, hint := lookup(schema, key)
		if t == nil {
			p.add(key.String(), "unknown key%s", hint)
			continue
		}
		want := tomlTypes(t)
		if got := md.Type(key...); want.types != nil && !slices.Contains(want.types, got) {
			p.add(key.String(), "expected %s, found %s", want.desc, tomlTypeWords[got])
		}
	}
}

// lookup returns the Go type that key decodes into, or nil and perhaps a
// hint when the schema has no such key.
func lookup(t reflect.Type, key toml.Key) (reflect.Type, string) {
	for _, part := range key {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
			t = t.Elem() // [[arrays.of.tables]] have the keys of their elements
		}
		switch t.Kind() {
		case reflect.Map:
			t = t.Elem()
		case reflect.Struct:
			f, ok := fieldByTag(t, part)
			if !ok {
				return nil, caseHint(t, part)
			}
			t = f.Type
		case reflect.Interface:
			return t, "" // free-form: anything goes below
		default:
			return nil, ""
		}
	}
	return t, ""
}

// tomlName is the key of a struct field, "" for none.
func tomlName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
	if name == "-" || !f.IsExported() {
		return ""
	}
	if name == "" {
		return f.Name
	}
	return name
}

func fieldByTag(t reflect.Type, name string) (reflect.StructField, bool) {
	for _, f := range reflect.VisibleFields(t) {
		if !f.Anonymous && tomlName(f) == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// caseHint suggests the right spelling when a key differs only in case,
// which the decoder would otherwise accept silently.
func caseHint(t reflect.Type, part string) string {
	for _, f := range reflect.VisibleFields(t) {
		if name := tomlName(f); !f.Anonymous && strings.EqualFold(name, part) {
			return fmt.Sprintf(" (keys are case-sensitive: did you mean %s?)", name)
		}
	}
	return ""
}

// want is what a Go type accepts: TOML types as MetaData.Type names
// them, and their description for people.
type want struct {
	types []string
	desc  string
}

// tomlTypes says which TOML types a Go type decodes from, and how to
// describe them; nil types accept anything.
func tomlTypes(t reflect.Type) want {
	switch t {
	case reflect.TypeFor[Size]():
		return want{[]string{"Integer", "String"}, `a size like 512 or "64KiB"`}
	case reflect.TypeFor[Duration]():
		return want{[]string{"String"}, `a duration like "30s"`}
	}
	var types []string
	switch t.Kind() {
	case reflect.Pointer:
		return tomlTypes(t.Elem())
	case reflect.String:
		types = []string{"String"}
	case reflect.Bool:
		types = []string{"Bool"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		types = []string{"Integer"}
	case reflect.Float32, reflect.Float64:
		types = []string{"Float", "Integer"}
	case reflect.Slice, reflect.Array:
		types = []string{"Array", "ArrayHash"}
	case reflect.Struct, reflect.Map:
		types = []string{"Hash"}
	default:
		return want{}
	}
	return want{types, tomlTypeWords[types[0]]}
}

// tomlTypeWords names MetaData.Type's types for people.
var tomlTypeWords = map[string]string{
	"Integer": "an integer", "Float": "a float", "String": "a string", "Bool": "a boolean",
	"Datetime": "a date-time", "Array": "an array", "ArrayHash": "an array of tables", "Hash": "a table",
}

// tomlTypeName names the TOML type of a decoded value for people.
func tomlTypeName(v any) string {
	switch v.(type) {
	case int64:
		return tomlTypeWords["Integer"]
	case float64:
		return tomlTypeWords["Float"]
	case string:
		return tomlTypeWords["String"]
	case bool:
		return tomlTypeWords["Bool"]
	case time.Time:
		return tomlTypeWords["Datetime"]
	case []map[string]any:
		return tomlTypeWords["ArrayHash"]
	case []any:
		return tomlTypeWords["Array"]
	case map[string]any:
		return tomlTypeWords["Hash"]
	}
	return fmt.Sprintf("%T", v)
}

// decoderError matches the decoder's errors that are plain text:
// `toml: line 3 (last key "a.b"): incompatible types: ...`.
var decoderError = regexp.MustCompile(`^toml: (?:line (\d+) )?\(last key ("(?:[^"\\]|\\.)*")\): (.*)$`)

// incompatible matches the decoder's type errors, the ones checkKeys cannot
// see coming: those of array elements.
var incompatible = regexp.MustCompile(`^incompatible types: TOML value has type (.+); destination has type (.+)$`)

// words names the decoder's Go types for people.
var words = map[string]string{
	"int64": "an integer", "float64": "a float", "string": "a string", "bool": "a boolean",
	"time.Time": "a date-time", "[]any": "an array", "map[string]any": "a table",
	"integer": "an integer", "float": "a float", "boolean": "a boolean", "slice": "an array", "map": "a table",
}

// decodeError records an error of the TOML decoder as a problem.
func (p *problems) decodeError(err error) {
	e := &Error{File: p.file, Msg: err.Error()}
	var pe toml.ParseError
	if errors.As(err, &pe) {
		e.Line, e.Key, e.Msg = pe.Position.Line, pe.LastKey, pe.Message
	} else if m := decoderError.FindStringSubmatch(err.Error()); m != nil {
		e.Line, _ = strconv.Atoi(m[1])
		e.Key, _ = strconv.Unquote(m[2])
		e.Msg = m[3]
		if m := incompatible.FindStringSubmatch(e.Msg); m != nil && words[m[1]] != "" && words[m[2]] != "" {
			e.Msg = fmt.Sprintf("expected %s, found %s", words[m[2]], words[m[1]])
		}
	}
	if e.Line == 0 && e.Key != "" {
		e.Line = p.loc.line(e.Key)
	}
	p.list = append(p.list, e)
}
