// Package mbuf holds network packets as chains of buffers, after FreeBSD's
// mbufs (sys/sys/mbuf.h, sys/kern/uipc_mbuf.c; McKusick et al., "The Design
// and Implementation of the FreeBSD Operating System", 2nd ed., §12.3).
//
// A packet is a chain of [Mbuf]s linked through Next; the first carries the
// packet header ([PktHdr]: total length, receiving interface, flow hash,
// checksum-offload flags). Each mbuf's data lives either in its own inline
// array of [MSIZE] bytes (small packets and protocol headers, with headroom
// for prepending lower-layer headers) or in external storage ([Ext]): a
// reference-counted buffer that several mbufs may share read-only (a TCP
// retransmission shares the send buffer's clusters) and that carries a free
// callback and an optional physical address, so drivers hand receive
// buffers to the stack and take transmit buffers from it without copying.
//
// Clusters come from a [Storage] ([SetStorage]); the default is the Go heap,
// and the kernel installs a UMA zone. Zone memory is invisible to the
// garbage collector, so it only ever holds packet bytes: the Mbuf and Ext
// structures, which link chains and hold the callbacks, are Go heap objects.
//
// # Ownership and locking
//
// An mbuf chain has exactly one owner at a time and is not safe for
// concurrent use; ownership moves with the chain (a driver's Transmit takes
// it, the stack's input path takes what a driver passes up). Only the
// reference count of shared external storage is atomic. Data in shared
// storage is read-only: check [Mbuf.Writable] or call [Mbuf.MakeWritable]
// before changing bytes in place. Freeing an mbuf twice panics.
//
// Counters of mbufs, clusters and external buffers in use ([ReadStats]) let
// tests check that a workload returns them to their baseline.
package mbuf
