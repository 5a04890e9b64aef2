package wire

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCompleteCsum(t *testing.T) {
	src, dst := MustAddr("10.1.2.3"), MustAddr("10.3.2.1")
	for _, n := range []int{8, 9, 20, 1001} {
		seg := make([]byte, n)
		for i := range seg {
			seg[i] = byte(i*7 + n)
		}
		seg[6], seg[7] = 0, 0
		want := Pseudo(src, dst, IPPROTO_UDP, n).Add(seg).Fold()
		frame := append(make([]byte, 34), seg...)
		p := ^Pseudo(src, dst, IPPROTO_UDP, n).Fold()
		frame[34+6], frame[34+7] = byte(p>>8), byte(p)
		require.True(t, CompleteCsum(frame, 34, 6, true))
		if want == 0 {
			want = 0xffff
		}
		assert.Equal(t, want, uint16(frame[40])<<8|uint16(frame[41]), "length %d", n)
	}
	assert.False(t, CompleteCsum(make([]byte, 40), 34, 6, false))
	assert.False(t, CompleteCsum(make([]byte, 40), -1, 6, false))
}
