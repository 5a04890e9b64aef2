package e1000

import (
	"testing"

	netif "github.com/smpgo/smpgo/net/if"
	"github.com/stretchr/testify/assert"
)

func TestMTAHash(t *testing.T) {
	// 239.1.2.3 and 239.9.8.200 (NetNIC/Multicast's joined and
	// unjoined groups) land in different MTA bits.
	g1 := netif.HWAddr{0x01, 0x00, 0x5e, 0x01, 0x02, 0x03}
	g2 := netif.HWAddr{0x01, 0x00, 0x5e, 0x09, 0x08, 0xc8}
	r, b := MTAHash(g1)
	assert.Equal(t, [2]int{1, 16}, [2]int{r, b}, "bits 47:36 = 0x030")
	r, b = MTAHash(g2)
	assert.Equal(t, [2]int{100, 0}, [2]int{r, b}, "bits 47:36 = 0xc80")
	r, b = MTAHash(netif.HWAddr{0, 0, 0, 0, 0xff, 0xff})
	assert.Equal(t, [2]int{127, 31}, [2]int{r, b})
	assert.Equal(t, 0, func() int { r, b := MTAHash(netif.HWAddr{0xff, 0xff, 0xff, 0xff, 0x0f, 0}); return r + b }(), "bytes 0-3 and byte 4's low nibble do not count")

	tab := MTATable([]netif.HWAddr{g1, g2, g1})
	var set int
	for _, v := range tab {
		for ; v != 0; v &= v - 1 {
			set++
		}
	}
	assert.Equal(t, 2, set)
	assert.Equal(t, uint32(1<<16), tab[1])
	assert.Equal(t, uint32(1), tab[100])
}

func TestReceiveFilter(t *testing.T) {
	g1 := netif.HWAddr{0x01, 0x00, 0x5e, 0x01, 0x02, 0x03}
	collide := netif.HWAddr{0x01, 0x00, 0x5e, 0x7f, 0x02, 0x03} // same bits 47:36 as g1
	r1, b1 := MTAHash(g1)
	r2, b2 := MTAHash(collide)
	assert.Equal(t, [2]int{r1, b1}, [2]int{r2, b2})
	joined := []netif.HWAddr{g1}
	assert.True(t, Wanted(g1, joined, 0))
	assert.False(t, Wanted(collide, joined, 0), "past the hash but not joined")
	assert.True(t, Wanted(collide, joined, netif.IFF_ALLMULTI))
	assert.True(t, Wanted(collide, nil, netif.IFF_PROMISC))
	assert.True(t, Wanted(netif.Broadcast, nil, 0))
	assert.True(t, Wanted(netif.HWAddr{0x52, 0x54, 0, 0x12, 0x34, 0x56}, nil, 0), "unicast is the device's business")

	assert.Equal(t, uint32(0), RCTLFilterBits(netif.IFF_UP))
	assert.Equal(t, uint32(RCTL_MPE), RCTLFilterBits(netif.IFF_ALLMULTI))
	assert.Equal(t, uint32(RCTL_UPE|RCTL_MPE), RCTLFilterBits(netif.IFF_PROMISC|netif.IFF_UP))
}
