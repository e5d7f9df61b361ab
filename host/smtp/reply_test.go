package smtp

import (
	"bufio"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReadReply(t *testing.T) {
	tests := []struct {
		in   string
		want reply
	}{
		{"250 ok\r\n", reply{250, []string{"ok"}}},
		{"250\r\n", reply{250, []string{""}}},
		{"250 \r\n", reply{250, []string{""}}},
		{"220 bare LF\n", reply{220, []string{"bare LF"}}},
		{"250-mx\r\n250-SIZE 10\r\n250 8BITMIME\r\n", reply{250, []string{"mx", "SIZE 10", "8BITMIME"}}},
		{"250-first\r\n250\r\n", reply{250, []string{"first", ""}}},
		{"550 5.1.1 tab\there\r\n", reply{550, []string{"5.1.1 tab\there"}}},
		{"554 caf\xc3\xa9\r\n", reply{554, []string{"caf\xc3\xa9"}}},
	}
	for _, tt := range tests {
		got, err := readReply(bufio.NewReader(strings.NewReader(tt.in + "999 next")))
		require.NoError(t, err, tt.in)
		assert.Equal(t, tt.want, got, tt.in)
	}
}

func TestReadReplyRefuses(t *testing.T) {
	tests := map[string]string{
		"short":          "25\r\n",
		"letters":        "2x0 no\r\n",
		"code below 200": "199 no\r\n",
		"code above 599": "600 no\r\n",
		"bad separator":  "250_ok\r\n",
		"mixed codes":    "250-a\r\n251 b\r\n",
		"control":        "250 a\x00b\r\n",
		"delete":         "250 a\x7fb\r\n",
		"bare CR inside": "250 a\rb\r\n",
		"too long":       "250 " + strings.Repeat("x", MaxReplyLine) + "\r\n",
		"too many lines": strings.Repeat("250-x\r\n", MaxReplyLines) + "250 end\r\n",
	}
	for name, in := range tests {
		_, err := readReply(bufio.NewReader(strings.NewReader(in)))
		assert.ErrorIs(t, err, errBadReply, name)
	}
	_, err := readReply(bufio.NewReader(strings.NewReader("250-cut short\r\n250 ")))
	assert.ErrorContains(t, err, "EOF")
}

func TestReplyLineLimitIsExact(t *testing.T) {
	line := "250 " + strings.Repeat("x", MaxReplyLine-6) + "\r\n" // MaxReplyLine bytes with CRLF
	rep, err := readReply(bufio.NewReader(strings.NewReader(line)))
	require.NoError(t, err)
	assert.Len(t, rep.Lines[0], MaxReplyLine-6)
}

// FuzzReadReply checks that the parser never panics or reads past its
// bounds, and that what it accepts it would accept again when written
// back out.
func FuzzReadReply(f *testing.F) {
	for _, seed := range []string{
		"220 mx.test ESMTP\r\n",
		"250-mx.test\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250-AUTH PLAIN LOGIN\r\n250 STARTTLS\r\n",
		"550-5.1.1 no\r\n550 5.1.1 such user\r\n",
		"250\r\n", "250-\r\n250 \n", "334 VXNlcm5hbWU6\r\n",
		"250-a\r\n251 b\r\n", "2", "999 x\r\n", "250 a\x00\r\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		rep, err := readReply(bufio.NewReader(strings.NewReader(in)))
		if err != nil {
			return
		}
		if rep.Code < 200 || rep.Code > 599 || len(rep.Lines) == 0 || len(rep.Lines) > MaxReplyLines {
			t.Fatalf("accepted %q as %+v", in, rep)
		}
		var b strings.Builder
		for i, l := range rep.Lines {
			sep := "-"
			if i == len(rep.Lines)-1 {
				sep = " "
			}
			b.WriteString(strconv.Itoa(rep.Code) + sep + l + "\r\n")
		}
		again, err := readReply(bufio.NewReader(strings.NewReader(b.String())))
		if err != nil {
			t.Fatalf("%q parsed as %+v, which does not parse again: %v", in, rep, err)
		}
		assert.Equal(t, rep, again)
	})
}
