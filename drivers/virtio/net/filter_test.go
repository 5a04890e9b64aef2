package vtnet

import (
	"testing"

	netif "github.com/smpgo/smpgo/net/if"
	"github.com/stretchr/testify/assert"
)

// VIRTIO_NET_CTRL_MAC_TABLE_SET's data: le32 count and addresses, the
// unicast table then the multicast one.
func TestMACTableSet(t *testing.T) {
	g1 := netif.HWAddr{0x01, 0x00, 0x5e, 0x01, 0x02, 0x03}
	g2 := netif.HWAddr{0x01, 0x00, 0x5e, 0x09, 0x08, 0xc8}
	assert.Equal(t, []byte{0, 0, 0, 0, 0, 0, 0, 0}, MACTableSet(nil, nil))
	assert.Equal(t, []byte{0, 0, 0, 0, 2, 0, 0, 0, 0x01, 0x00, 0x5e, 0x01, 0x02, 0x03, 0x01, 0x00, 0x5e, 0x09, 0x08, 0xc8},
		MACTableSet(nil, []netif.HWAddr{g1, g2}))
	u := netif.HWAddr{0x52, 0x54, 0, 1, 2, 3}
	assert.Equal(t, []byte{1, 0, 0, 0, 0x52, 0x54, 0, 1, 2, 3, 1, 0, 0, 0, 0x01, 0x00, 0x5e, 0x01, 0x02, 0x03},
		MACTableSet([]netif.HWAddr{u}, []netif.HWAddr{g1}))
}

// The flags map to PROMISC and ALLMULTI; groups go in the table, past
// MaxFilterGroups ALLMULTI stands in for it.
func TestPlanFilter(t *testing.T) {
	g := []netif.HWAddr{{0x01, 0x00, 0x5e, 1, 2, 3}}
	assert.Equal(t, Filter{Groups: g}, PlanFilter(netif.IFF_UP, g))
	assert.Equal(t, Filter{Promisc: true, Groups: g}, PlanFilter(netif.IFF_PROMISC, g))
	assert.Equal(t, Filter{AllMulti: true}, PlanFilter(netif.IFF_ALLMULTI, nil))
	many := make([]netif.HWAddr, MaxFilterGroups+1)
	for i := range many {
		many[i] = netif.HWAddr{0x01, 0x00, 0x5e, 0, byte(i >> 8), byte(i)}
	}
	p := PlanFilter(0, many)
	assert.True(t, p.AllMulti)
	assert.True(t, p.Overflow)
	assert.Empty(t, p.Groups)
	assert.Len(t, PlanFilter(0, many[:MaxFilterGroups]).Groups, MaxFilterGroups)
	assert.False(t, PlanFilter(0, many[:MaxFilterGroups]).AllMulti)
}
