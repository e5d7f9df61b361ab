package static

import (
	"bytes"
	"compress/gzip"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"wasmhttpd/host/http1"
)

func gunzip(t *testing.T, s string) string {
	t.Helper()
	zr, err := gzip.NewReader(strings.NewReader(s))
	require.NoError(t, err)
	b, err := io.ReadAll(zr)
	require.NoError(t, err)
	return string(b)
}

func TestAcceptEncoding(t *testing.T) {
	tests := []struct {
		value                    string
		identity, br, zstd, gzip int
	}{
		{"gzip", 1, 0, 0, 1000},
		{"gzip, deflate, br, zstd", 1, 1000, 1000, 1000},
		{"br;q=0.5, gzip", 1, 500, 0, 1000},
		{"gzip;q=0, identity", 1000, 0, 0, 0},
		{"identity;q=0", 0, 0, 0, 0},
		{"*", 1000, 1000, 1000, 1000},
		{"*;q=0", 0, 0, 0, 0},
		{"*;q=0, gzip;q=0.3", 0, 0, 0, 300},
		{"*;q=0.2, identity", 1000, 200, 200, 200},
		{"GZIP;Q=0.7", 1, 0, 0, 700},
		{"x-gzip", 1, 0, 0, 1000},
		{"gzip;q=1.000, br;q=0.001", 1, 1, 0, 1000},
		{"gzip;q=2", 1, 0, 0, 0},      // malformed q: the element is dropped
		{"gzip;q=0.5555", 1, 0, 0, 0}, // too many digits
		{"gzip ; q=0.5 ; x=y", 1, 0, 0, 500},
		{"", 1, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			req := parseRequest(t, "Accept-Encoding: "+tt.value)
			ae, present := parseAcceptEncoding(&req.Header)
			assert.True(t, present)
			assert.Equal(t, tt.identity, ae.quality(codingIdentity), "identity")
			assert.Equal(t, tt.br, ae.quality(codingBr), "br")
			assert.Equal(t, tt.zstd, ae.quality(codingZstd), "zstd")
			assert.Equal(t, tt.gzip, ae.quality(codingGzip), "gzip")
		})
	}
}

func TestGzipOnTheFly(t *testing.T) {
	root := makeRoot(t)
	write(t, root, "small.css", "a{}")
	write(t, root, "data.json", strings.Repeat(`{"k":"v"},`, 100))
	bigCSS := strings.Repeat("/* a large stylesheet */ .x { color: red }\n", 3000) // > bufferedGzipMax
	write(t, root, "big.css", bigCSS)
	h := newHandler(t, Config{Root: root, Compress: true}, false)

	plain := get(t, h, "GET", "/css/site.css")
	require.Equal(t, 200, plain.StatusCode)
	assert.Empty(t, plain.Header.Get("Content-Encoding"), "no Accept-Encoding, no coding")
	assert.Equal(t, "Accept-Encoding", plain.Header.Get("Vary"), "Vary even on the uncompressed answer")
	assert.Equal(t, siteCSS, plain.body)

	gz := get(t, h, "GET", "/css/site.css", "Accept-Encoding: br;q=0.5, gzip")
	require.Equal(t, 200, gz.StatusCode)
	assert.Equal(t, "gzip", gz.Header.Get("Content-Encoding"))
	assert.Equal(t, "Accept-Encoding", gz.Header.Get("Vary"))
	assert.Equal(t, "text/css; charset=utf-8", gz.Header.Get("Content-Type"))
	assert.Equal(t, siteCSS, gunzip(t, gz.body))
	assert.Equal(t, int64(len(gz.body)), gz.ContentLength, "small files are measured: exact Content-Length")
	assert.Less(t, len(gz.body), len(siteCSS))
	assert.NotEqual(t, plain.Header.Get("ETag"), gz.Header.Get("ETag"), "each representation has its own ETag")
	assert.Equal(t, strings.TrimSuffix(plain.Header.Get("ETag"), `"`)+`-gzip"`, gz.Header.Get("ETag"))
	assert.Equal(t, plain.Header.Get("Last-Modified"), gz.Header.Get("Last-Modified"))

	tests := []struct {
		name, path, ae string
		encoded        bool
		vary           bool
	}{
		{"gzip refused by q=0", "/css/site.css", "gzip;q=0, identity", false, true},
		{"identity refused, gzip offered", "/css/site.css", "identity;q=0, gzip", true, true},
		{"star", "/css/site.css", "*", true, true},
		{"star refused: identity anyway", "/css/site.css", "*;q=0", false, true},
		{"identity refused, nothing else: identity anyway", "/img/logo.png", "identity;q=0", false, false},
		{"only br offered, none made", "/css/site.css", "br", false, true},
		{"below min size", "/small.css", "gzip", false, true},
		{"json compressed", "/data.json", "gzip", true, true},
		{"png not compressible", "/img/logo.png", "gzip", false, false},
		{"x-gzip", "/css/site.css", "x-gzip", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := get(t, h, "GET", tt.path, "Accept-Encoding: "+tt.ae)
			require.Equal(t, 200, res.StatusCode)
			want := readFile(t, root, tt.path)
			if tt.encoded {
				assert.Equal(t, "gzip", res.Header.Get("Content-Encoding"))
				assert.Equal(t, want, gunzip(t, res.body))
			} else {
				assert.Empty(t, res.Header.Get("Content-Encoding"))
				assert.Equal(t, want, res.body)
			}
			if tt.vary {
				assert.Equal(t, "Accept-Encoding", res.Header.Get("Vary"))
			} else {
				assert.Empty(t, res.Header.Get("Vary"))
			}
		})
	}

	t.Run("If-None-Match with the gzip ETag", func(t *testing.T) {
		res := get(t, h, "GET", "/css/site.css", "Accept-Encoding: gzip", "If-None-Match: "+gz.Header.Get("ETag"))
		assert.Equal(t, 304, res.StatusCode)
		assert.Equal(t, gz.Header.Get("ETag"), res.Header.Get("ETag"))
		assert.Equal(t, "Accept-Encoding", res.Header.Get("Vary"))
		res = get(t, h, "GET", "/css/site.css", "If-None-Match: "+gz.Header.Get("ETag"))
		assert.Equal(t, 200, res.StatusCode, "the gzip ETag does not validate the identity representation")
		res = get(t, h, "GET", "/css/site.css", "Accept-Encoding: gzip", "If-None-Match: "+plain.Header.Get("ETag"))
		assert.Equal(t, 200, res.StatusCode, "nor the identity ETag the gzip one")
	})

	t.Run("a Vary set before the handler is kept, not repeated", func(t *testing.T) {
		pre := http1.HandlerFunc(func(ex *http1.Exchange) {
			ex.Response.Header().Set("Vary", "Cookie, accept-encoding")
			h.Serve(ex)
		})
		res := get(t, pre, "GET", "/css/site.css", "Accept-Encoding: gzip")
		assert.Equal(t, []string{"Cookie, accept-encoding"}, res.Header.Values("Vary"))
		pre = http1.HandlerFunc(func(ex *http1.Exchange) {
			ex.Response.Header().Set("Vary", "Cookie")
			h.Serve(ex)
		})
		res = get(t, pre, "GET", "/css/site.css", "Accept-Encoding: gzip")
		assert.Equal(t, []string{"Cookie", "Accept-Encoding"}, res.Header.Values("Vary"))
	})

	t.Run("range disables on-the-fly gzip", func(t *testing.T) {
		res := get(t, h, "GET", "/css/site.css", "Accept-Encoding: gzip", "Range: bytes=0-9")
		assert.Equal(t, 206, res.StatusCode)
		assert.Empty(t, res.Header.Get("Content-Encoding"))
		assert.Equal(t, siteCSS[:10], res.body)
		assert.Equal(t, "Accept-Encoding", res.Header.Get("Vary"))
	})

	t.Run("HEAD does not compress", func(t *testing.T) {
		res := get(t, h, "HEAD", "/css/site.css", "Accept-Encoding: gzip")
		assert.Equal(t, 200, res.StatusCode)
		assert.Equal(t, "gzip", res.Header.Get("Content-Encoding"))
		assert.Equal(t, gz.Header.Get("ETag"), res.Header.Get("ETag"))
		assert.Empty(t, res.Header.Get("Content-Length"), "unknown without compressing")
		assert.Empty(t, res.body)
	})

	t.Run("large files stream chunked", func(t *testing.T) {
		res := get(t, h, "GET", "/big.css", "Accept-Encoding: gzip")
		require.Equal(t, 200, res.StatusCode)
		assert.Equal(t, "gzip", res.Header.Get("Content-Encoding"))
		assert.Equal(t, []string{"chunked"}, res.TransferEncoding)
		assert.Equal(t, bigCSS, gunzip(t, res.body))
	})

	t.Run("types and size are configurable", func(t *testing.T) {
		hj := newHandler(t, Config{Root: root, Compress: true, CompressTypes: []string{"application/json"}, CompressMinSize: 1}, false)
		res := get(t, hj, "GET", "/css/site.css", "Accept-Encoding: gzip")
		assert.Empty(t, res.Header.Get("Content-Encoding"))
		assert.Empty(t, res.Header.Get("Vary"))
		res = get(t, hj, "GET", "/data.json", "Accept-Encoding: gzip")
		assert.Equal(t, "gzip", res.Header.Get("Content-Encoding"))

		hs := newHandler(t, Config{Root: root, Compress: true, CompressMinSize: 1}, false)
		res = get(t, hs, "GET", "/small.css", "Accept-Encoding: gzip")
		assert.Equal(t, "gzip", res.Header.Get("Content-Encoding"))
		assert.Equal(t, "a{}", gunzip(t, res.body))

		off := newHandler(t, Config{Root: root}, false)
		res = get(t, off, "GET", "/css/site.css", "Accept-Encoding: gzip")
		assert.Empty(t, res.Header.Get("Content-Encoding"))
		assert.Empty(t, res.Header.Get("Vary"), "nothing varies when nothing is compressed")
	})
}

func TestPrecompressedSidecars(t *testing.T) {
	root := makeRoot(t)
	write(t, root, "css/site.css.br", "BROTLI-BYTES")
	write(t, root, "css/site.css.zst", "ZSTD-BYTES!")
	var gzbuf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gzbuf, gzip.BestCompression)
	zw.Write([]byte(siteCSS))
	zw.Close()
	write(t, root, "css/site.css.gz", gzbuf.String())
	write(t, root, "img/logo.png.br", "never")
	h := newHandler(t, Config{Root: root, Compress: true, Precompressed: true}, false)

	tests := []struct {
		ae, coding, body string
	}{
		{"gzip, deflate, br, zstd", "br", "BROTLI-BYTES"},
		{"zstd, gzip, br", "br", "BROTLI-BYTES"},
		{"gzip, zstd", "zstd", "ZSTD-BYTES!"},
		{"gzip", "gzip", gzbuf.String()},
		{"br;q=0.5, zstd;q=0.6, gzip;q=0.7", "gzip", gzbuf.String()},
		{"br;q=0.5, zstd;q=0.6", "zstd", "ZSTD-BYTES!"},
		{"br;q=0, gzip", "gzip", gzbuf.String()},
		{"*", "br", "BROTLI-BYTES"},
		{"identity", "", siteCSS},
		{"br;q=0.5, identity", "", siteCSS},
	}
	etags := map[string]string{}
	for _, tt := range tests {
		t.Run(tt.ae, func(t *testing.T) {
			res := get(t, h, "GET", "/css/site.css", "Accept-Encoding: "+tt.ae)
			require.Equal(t, 200, res.StatusCode)
			assert.Equal(t, tt.coding, res.Header.Get("Content-Encoding"))
			assert.Equal(t, tt.body, res.body)
			assert.Equal(t, int64(len(tt.body)), res.ContentLength, "the sidecar's own length")
			assert.Equal(t, "text/css; charset=utf-8", res.Header.Get("Content-Type"))
			assert.Equal(t, "Accept-Encoding", res.Header.Get("Vary"))
			etags[tt.coding] = res.Header.Get("ETag")
		})
	}
	assert.Len(t, etags, 4, "every representation has its own ETag: %v", etags)

	t.Run("range on a sidecar", func(t *testing.T) {
		res := get(t, h, "GET", "/css/site.css", "Accept-Encoding: br", "Range: bytes=0-5")
		assert.Equal(t, 206, res.StatusCode)
		assert.Equal(t, "br", res.Header.Get("Content-Encoding"))
		assert.Equal(t, "bytes 0-5/12", res.Header.Get("Content-Range"))
		assert.Equal(t, "BROTLI", res.body)
	})

	t.Run("304 for a sidecar", func(t *testing.T) {
		res := get(t, h, "GET", "/css/site.css", "Accept-Encoding: br", "If-None-Match: "+etags["br"])
		assert.Equal(t, 304, res.StatusCode)
		assert.Equal(t, "Accept-Encoding", res.Header.Get("Vary"))
	})

	t.Run("only for compressible types", func(t *testing.T) {
		res := get(t, h, "GET", "/img/logo.png", "Accept-Encoding: br")
		assert.Empty(t, res.Header.Get("Content-Encoding"))
		assert.Equal(t, string(pngBytes), res.body)
	})

	t.Run("stale sidecars are ignored", func(t *testing.T) {
		old := time.Now().Add(-time.Hour)
		for _, s := range []string{"css/site.css.br", "css/site.css.zst", "css/site.css.gz"} {
			touch(t, root, s, old)
		}
		res := get(t, h, "GET", "/css/site.css", "Accept-Encoding: br, zstd, gzip")
		assert.Equal(t, "gzip", res.Header.Get("Content-Encoding"), "made on the fly instead")
		assert.Equal(t, siteCSS, gunzip(t, res.body))
		assert.NotEqual(t, gzbuf.String(), res.body)

		hp := newHandler(t, Config{Root: root, Precompressed: true}, false)
		res = get(t, hp, "GET", "/css/site.css", "Accept-Encoding: br, zstd, gzip")
		assert.Empty(t, res.Header.Get("Content-Encoding"))
		assert.Equal(t, siteCSS, res.body)
		assert.Equal(t, "Accept-Encoding", res.Header.Get("Vary"))
	})
}
