// Package netif is the network-interface layer: the contract between NIC
// drivers (drivers/e1000, drivers/virtio/net, the in-memory link, loopback)
// and the protocol stack (net/inet), after FreeBSD's struct ifnet
// (sys/net/if_var.h, if.c) and Watson's notes on its locking in "Introduction
// to Multithreading and Multiprocessing in the FreeBSD SMPng Network Stack"
// (EuroBSDCon 2005).
//
// # The contract
//
// A driver fills a [Config] (name prefix, MAC address, MTU, queue counts,
// flags, capabilities) and calls [Attach] with its [Driver]; it gets an
// [*Interface] whose name gets a unit number ("em" → "em0").
//
// Transmit: the stack calls [Interface.Transmit], which picks a transmit
// queue from the packet's flow id and calls [Driver.Transmit]. A driver
// that cannot take the packet (ring full) returns [ErrQueueFull] without
// keeping it: that is the back-pressure signal, counted as a drop on the
// queue, and the packet is freed (TCP recovers the loss; nothing waits in
// the stack). On success the driver owns the chain and frees it when the
// hardware is done with it. Drivers must not sleep in Transmit.
//
// Receive: the driver passes each good frame to [Interface.Input] with its
// receive queue number. Input counts it and calls the stack's input
// function (installed with [Interface.SetInput]) in the driver's context:
// the stack then either processes it at once (direct dispatch, the default)
// or queues it to a netisr worker. Drivers must not hold their own locks
// across Input, because the stack may transmit from inside it (an ARP
// reply, a TCP ACK) and the lock order is protocol locks before driver
// locks. Bad frames are counted with [Interface.CountRx] and never passed
// up.
//
// Link state: drivers report carrier changes with [Interface.SetLinkState];
// listeners registered with [Interface.OnLinkState] (the stack, to send a
// gratuitous ARP or restart DHCP) run in the reporting goroutine.
//
// Giant: a driver that is not MPSAFE sets [IFF_NEEDSGIANT]. Its Transmit
// is then never called from the stack's context: Interface.Transmit puts the
// packet on a bounded per-interface queue that a worker goroutine drains
// with [Giant] held, so the stack never acquires Giant under its own locks
// (the seeds' IFF_NEEDSGIANT deferral). The driver's receive path is
// expected to run with Giant held already (its interrupt thread takes it).
//
// # Counters
//
// Each receive and transmit queue has its own counters (packets, bytes,
// drops, errors), updated atomically on cache-line-separated slots so that
// queues served by different CPUs do not share lines; [Interface.Stats]
// sums them on read.
//
// # Locking
//
// Fields marked (c) are constant after Attach; (a) are atomics; (l) are
// guarded by Interface.mu, a leaf lock never held across calls into the
// driver or the stack. The interface list is guarded by listMu (a leaf).
package netif
