package inet

import (
	netif "github.com/smpgo/smpgo/net/if"
	"github.com/smpgo/smpgo/net/mbuf"
)

// loopDriver is lo0: transmitted packets come back as received ones
// (if_simloop). Delivery goes through a queue and a goroutine, never
// re-entering the stack from inside its own output path, where locks are
// held.
type loopDriver struct {
	ifp  *netif.Interface
	ch   chan *mbuf.Mbuf
	done chan struct{}
}

const loopQueueLen = 1024

func newLoopback(st *Stack) (*ifState, error) {
	d := &loopDriver{ch: make(chan *mbuf.Mbuf, loopQueueLen), done: make(chan struct{})}
	ifp, err := netif.Attach(netif.Config{Name: "lo", Type: netif.IFT_LOOP, MTU: 16384,
		Flags: netif.IFF_LOOPBACK | netif.IFF_MULTICAST}, d)
	if err != nil {
		return nil, err
	}
	d.ifp = ifp
	if err := st.AddInterface(ifp); err != nil {
		return nil, err
	}
	ifp.SetLinkState(netif.LINK_STATE_UP)
	st.closeWg.Add(1)
	go func() {
		defer st.closeWg.Done()
		d.run()
	}()
	return st.ifState(ifp.Index()), nil
}

// Transmit implements netif.Driver.
func (d *loopDriver) Transmit(_ int, m *mbuf.Mbuf) error {
	select {
	case <-d.done:
		return netif.ErrDetached
	default:
	}
	select {
	case d.ch <- m:
		return nil
	default:
		return netif.ErrQueueFull
	}
}

// SetFlags implements netif.FlagsSetter: taking lo0 down stops delivery.
func (d *loopDriver) SetFlags(f netif.Flags) error {
	if f&netif.IFF_UP == 0 {
		select {
		case <-d.done:
		default:
			close(d.done)
		}
	}
	return nil
}

func (d *loopDriver) run() {
	for {
		select {
		case <-d.done:
			for {
				select {
				case m := <-d.ch:
					m.FreeChain()
				default:
					return
				}
			}
		case m := <-d.ch:
			m.Pkt.Flags |= mbuf.M_LOOP
			d.ifp.Input(0, m)
		}
	}
}
