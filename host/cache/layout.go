package cache

import (
	"encoding/hex"
	"path/filepath"
	"strconv"
)

// tmpDir holds the files of stores in progress; Open empties it.
const tmpDir = "tmp"

// File name suffixes of the two files of an entry.
const (
	metaSuffix = ".m"
	bodySuffix = ".b"
)

// fanOut names the directory of the IDs starting with byte b: 256
// directories keep each one small enough to list and look up quickly.
func fanOut(b byte) string { return hex.EncodeToString([]byte{b}) }

// fileName is "<id>-<generation>" plus suffix, in lower-case hex, the
// generation zero-padded to 16 digits.
func fileName(id entryID, gen uint64, suffix string) string {
	const digits = "0123456789abcdef"
	var b [len(id)*2 + 1 + 16]byte
	hex.Encode(b[:], id[:])
	b[len(id)*2] = '-'
	for i := len(b) - 1; i > len(id)*2; i-- {
		b[i] = digits[gen&0xf]
		gen >>= 4
	}
	return string(b[:]) + suffix
}

func metaPath(root string, id entryID, gen uint64) string {
	return filepath.Join(root, fanOut(id[0]), fileName(id, gen, metaSuffix))
}

func bodyPath(root string, id entryID, gen uint64) string {
	return filepath.Join(root, fanOut(id[0]), fileName(id, gen, bodySuffix))
}

func tmpPath(root string, id entryID, gen uint64, suffix string) string {
	return filepath.Join(root, tmpDir, fileName(id, gen, suffix))
}

// parseName splits a file name made by fileName; ok is false for any
// other name, including one that differs only in the case of its digits.
func parseName(name string) (id entryID, gen uint64, suffix string, ok bool) {
	const n = len(id)*2 + 1 + 16
	if len(name) != n+len(metaSuffix) || name[len(id)*2] != '-' {
		return id, 0, "", false
	}
	if _, err := hex.Decode(id[:], []byte(name[:len(id)*2])); err != nil {
		return id, 0, "", false
	}
	gen, err := strconv.ParseUint(name[len(id)*2+1:n], 16, 64)
	suffix = name[n:]
	if err != nil || (suffix != metaSuffix && suffix != bodySuffix) || fileName(id, gen, suffix) != name {
		return id, 0, "", false
	}
	return id, gen, suffix, true
}
