package static

import (
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseRange(t *testing.T) {
	const size = 10000
	tests := []struct {
		value  string
		want   []byteRange
		result rangeResult
	}{
		{"bytes=0-0", []byteRange{{0, 1}}, rangeSatisfiable},
		{"bytes=100-199", []byteRange{{100, 100}}, rangeSatisfiable},
		{"BYTES=100-199", []byteRange{{100, 100}}, rangeSatisfiable},
		{"bytes=9990-", []byteRange{{9990, 10}}, rangeSatisfiable},
		{"bytes=-500", []byteRange{{9500, 500}}, rangeSatisfiable},
		{"bytes=-20000", []byteRange{{0, size}}, rangeSatisfiable},
		{"bytes=9000-20000", []byteRange{{9000, 1000}}, rangeSatisfiable},
		{"bytes=0-9, 5000-5009", []byteRange{{0, 10}, {5000, 10}}, rangeSatisfiable},
		{"bytes=0-9,,10-19", []byteRange{{0, 10}, {10, 10}}, rangeSatisfiable},
		{"bytes=20000-, 0-9", []byteRange{{0, 10}}, rangeSatisfiable},
		{"bytes=20000-", nil, rangeNone},
		{"bytes=-0", nil, rangeNone},
		{"bytes=10000-10001", nil, rangeNone},
		{"bytes=0-9,5-14", nil, rangeIgnore},              // overlap
		{"bytes=-5000,0-9999", nil, rangeIgnore},          // overlap
		{"bytes=5-4", nil, rangeIgnore},                   // last < first
		{"bytes=a-b", nil, rangeIgnore},                   // not digits
		{"bytes=0-9 5-6", nil, rangeIgnore},               // not a list
		{"bytes=", nil, rangeIgnore},                      // empty set
		{"bytes=-", nil, rangeIgnore},                     // no digits
		{"items=0-9", nil, rangeIgnore},                   // other unit
		{"0-9", nil, rangeIgnore},                         // no unit
		{"bytes=99999999999999999999-", nil, rangeIgnore}, // overflow
		{"bytes=" + strings.Repeat("0-0,", 17), nil, rangeIgnore},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			got, result := parseRange([]byte(tt.value), size, nil)
			assert.Equal(t, tt.result, result)
			if tt.result == rangeSatisfiable {
				assert.Equal(t, tt.want, got)
			}
		})
	}
	_, result := parseRange([]byte("bytes=-5"), 0, nil)
	assert.Equal(t, rangeNone, result, "nothing of an empty file is satisfiable")
	got, result := parseRange([]byte("bytes="+strings.TrimSuffix(strings.Repeat("0-0,", 16), ",")), size, nil)
	assert.Equal(t, rangeIgnore, result, "16 identical ranges overlap")
	assert.Empty(t, got)
}

func TestRanges(t *testing.T) {
	modes(t, func(t *testing.T, fallback bool) {
		root := makeRoot(t)
		big := strings.Repeat("abcdefghij", 3000)
		write(t, root, "big.txt", big)
		touch(t, root, "data.bin", time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC))
		h := newHandler(t, Config{Root: root}, fallback)
		data := readFile(t, root, "data.bin")
		whole := get(t, h, "GET", "/data.bin")
		etag, lm := whole.Header.Get("ETag"), whole.Header.Get("Last-Modified")

		single := []struct {
			name, rng string
			from, to  int
		}{
			{"single", "bytes=100-199", 100, 199},
			{"first byte", "bytes=0-0", 0, 0},
			{"suffix", "bytes=-500", 9500, 9999},
			{"open", "bytes=9990-", 9990, 9999},
			{"clamped", "bytes=9000-99999", 9000, 9999},
			{"large", "bytes=100-9099", 100, 9099},
		}
		for _, tt := range single {
			t.Run(tt.name, func(t *testing.T) {
				res := get(t, h, "GET", "/data.bin", "Range: "+tt.rng)
				require.Equal(t, 206, res.StatusCode)
				assert.Equal(t, fmt.Sprintf("bytes %d-%d/10000", tt.from, tt.to), res.Header.Get("Content-Range"))
				assert.Equal(t, data[tt.from:tt.to+1], res.body)
				assert.Equal(t, int64(tt.to-tt.from+1), res.ContentLength)
				assert.Equal(t, "application/octet-stream", res.Header.Get("Content-Type"))
				assert.Equal(t, etag, res.Header.Get("ETag"))
			})
		}

		t.Run("multipart", func(t *testing.T) {
			ranges := [][2]int{{0, 9}, {5000, 5009}, {9990, 9999}, {100, 4999}}
			res := get(t, h, "GET", "/data.bin", "Range: bytes=0-9, 5000-5009,-10,100-4999")
			require.Equal(t, 206, res.StatusCode)
			assert.Empty(t, res.Header.Get("Content-Range"))
			mediaType, params, err := mime.ParseMediaType(res.Header.Get("Content-Type"))
			require.NoError(t, err)
			assert.Equal(t, "multipart/byteranges", mediaType)
			assert.Len(t, params["boundary"], 32)
			assert.Equal(t, int64(len(res.body)), res.ContentLength, "Content-Length computed up front is exact")
			mr := multipart.NewReader(strings.NewReader(res.body), params["boundary"])
			for _, r := range ranges {
				part, err := mr.NextPart()
				require.NoError(t, err)
				assert.Equal(t, fmt.Sprintf("bytes %d-%d/10000", r[0], r[1]), part.Header.Get("Content-Range"))
				assert.Equal(t, "application/octet-stream", part.Header.Get("Content-Type"))
				got, err := io.ReadAll(part)
				require.NoError(t, err)
				assert.Equal(t, data[r[0]:r[1]+1], string(got))
			}
			_, err = mr.NextPart()
			assert.ErrorIs(t, err, io.EOF)

			other := get(t, h, "GET", "/data.bin", "Range: bytes=0-9, 5000-5009")
			_, params2, _ := mime.ParseMediaType(other.Header.Get("Content-Type"))
			assert.NotEqual(t, params["boundary"], params2["boundary"], "boundaries are random")
		})

		t.Run("multipart with parts past the small-body size", func(t *testing.T) {
			res := get(t, h, "GET", "/big.txt", "Range: bytes=0-19999,25000-")
			require.Equal(t, 206, res.StatusCode)
			_, params, _ := mime.ParseMediaType(res.Header.Get("Content-Type"))
			mr := multipart.NewReader(strings.NewReader(res.body), params["boundary"])
			for _, want := range []string{big[:20000], big[25000:]} {
				part, err := mr.NextPart()
				require.NoError(t, err)
				got, _ := io.ReadAll(part)
				assert.True(t, string(got) == want)
			}
			assert.Equal(t, int64(len(res.body)), res.ContentLength)
		})

		status := []struct {
			name    string
			method  string
			headers []string
			status  int
		}{
			{"unsatisfiable", "GET", []string{"Range: bytes=20000-"}, 416},
			{"suffix zero", "GET", []string{"Range: bytes=-0"}, 416},
			{"malformed ignored", "GET", []string{"Range: bytes=9-5"}, 200},
			{"garbage ignored", "GET", []string{"Range: yes please"}, 200},
			{"other unit ignored", "GET", []string{"Range: lines=1-2"}, 200},
			{"overlap sends whole", "GET", []string{"Range: bytes=0-5000,4000-9999"}, 200},
			{"too many sends whole", "GET", []string{"Range: bytes=" + strings.TrimSuffix(strings.Repeat("1-1,3-3,", 9), ",")}, 200},
			{"head ignores range", "HEAD", []string{"Range: bytes=0-9"}, 200},
			{"if-range etag match", "GET", []string{"Range: bytes=0-9", "If-Range: " + etag}, 206},
			{"if-range etag mismatch", "GET", []string{"Range: bytes=0-9", `If-Range: "stale"`}, 200},
			{"if-range weak never matches", "GET", []string{"Range: bytes=0-9", "If-Range: W/" + etag}, 200},
			{"if-range date match", "GET", []string{"Range: bytes=0-9", "If-Range: " + lm}, 206},
			{"if-range date mismatch", "GET", []string{"Range: bytes=0-9", "If-Range: Tue, 02 Jan 2024 03:04:06 GMT"}, 200},
			{"if-range without range", "GET", []string{"If-Range: " + etag}, 200},
			{"range with failed precondition", "GET", []string{"Range: bytes=0-9", `If-Match: "x"`}, 412},
			{"range with 304", "GET", []string{"Range: bytes=0-9", "If-None-Match: " + etag}, 304},
		}
		for _, tt := range status {
			t.Run(tt.name, func(t *testing.T) {
				res := get(t, h, tt.method, "/data.bin", tt.headers...)
				assert.Equal(t, tt.status, res.StatusCode)
				switch tt.status {
				case 200:
					assert.Equal(t, int64(10000), res.ContentLength)
					if tt.method == "GET" {
						assert.Equal(t, data, res.body)
					}
				case 206:
					assert.Equal(t, data[:10], res.body)
				case 416:
					assert.Equal(t, "bytes */10000", res.Header.Get("Content-Range"))
				}
			})
		}
	})
}

func TestRangeOnEmptyFile(t *testing.T) {
	h := newHandler(t, Config{}, false)
	res := get(t, h, "GET", "/empty.txt", "Range: bytes=0-")
	assert.Equal(t, 416, res.StatusCode)
	assert.Equal(t, "bytes */0", res.Header.Get("Content-Range"))
}

func TestIfRangeDateNeedsStrongLastModified(t *testing.T) {
	root := makeRoot(t)
	h := newHandler(t, Config{Root: root}, false)
	write(t, root, "fresh.txt", "0123456789")
	touch(t, root, "fresh.txt", time.Now().Add(time.Hour)) // not yet a second old
	lm := get(t, h, "GET", "/fresh.txt").Header.Get("Last-Modified")
	res := get(t, h, "GET", "/fresh.txt", "Range: bytes=0-1", "If-Range: "+lm)
	assert.Equal(t, 200, res.StatusCode, "a Last-Modified within the current second is weak")
}
