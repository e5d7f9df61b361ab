package site

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestUpstreamsParsedOnceWithinABound: a URL is parsed once and its
// Upstream reused, with the reverse-route options applied; past the
// bound, URLs are still parsed, not kept.
func TestUpstreamsParsedOnceWithinABound(t *testing.T) {
	tg := &targets{keepHost: true}
	first, err := tg.upstream("http://127.0.0.1:9/a")
	require.NoError(t, err)
	assert.True(t, first.KeepHost)
	again, err := tg.upstream("http://127.0.0.1:9/a")
	require.NoError(t, err)
	assert.Same(t, first, again)

	for i := range maxParsedUpstreams + 10 {
		_, err := tg.upstream(fmt.Sprintf("http://127.0.0.1:9/%d", i))
		require.NoError(t, err)
	}
	assert.Equal(t, int64(maxParsedUpstreams), tg.parsedUpstreams.Load())
	_, err = tg.upstream("ftp://127.0.0.1/")
	assert.Error(t, err)
}
