package qemu

import (
	"fmt"
	"strconv"
)

// RemoteDistance is the distance written with -numa dist between any
// two different nodes (ACPI SLIT units; a node's distance to itself is
// QEMU's default, 10).
const RemoteDistance = 20

// NUMANode is one node of a NUMA split: its CPUs are FirstCPU up to
// FirstCPU+CPUs-1 (none when CPUs is 0).
type NUMANode struct {
	FirstCPU, CPUs int
	MemMiB         int
}

// SplitNUMA divides cpus CPUs and memMiB MiB over nodes NUMA nodes. CPUs
// are split as evenly as possible, the first nodes taking the remainder,
// so some nodes may have none. Memory must split into a whole, even
// number of MiB per node.
func SplitNUMA(nodes, cpus, memMiB int) ([]NUMANode, error) {
	if nodes < 1 || nodes > MaxNUMA {
		return nil, fmt.Errorf("qemu: -numa %d: want 1 to %d nodes", nodes, MaxNUMA)
	}
	if memMiB%nodes != 0 || (memMiB/nodes)%2 != 0 {
		return nil, fmt.Errorf("qemu: -numa %d: %d MiB does not split into %d nodes of a whole, even number of MiB", nodes, memMiB, nodes)
	}
	per, extra := cpus/nodes, cpus%nodes
	out := make([]NUMANode, nodes)
	next := 0
	for i := range out {
		n := per
		if i < extra {
			n++
		}
		out[i] = NUMANode{FirstCPU: next, CPUs: n, MemMiB: memMiB / nodes}
		next += n
	}
	return out, nil
}

// numaArgs returns the -object, -numa node and -numa dist arguments for
// nodes.
func numaArgs(nodes []NUMANode) []string {
	var args []string
	for i, n := range nodes {
		args = append(args, "-object", fmt.Sprintf("memory-backend-ram,id=m%d,size=%dM", i, n.MemMiB))
	}
	for i, n := range nodes {
		node := "node,nodeid=" + strconv.Itoa(i)
		switch {
		case n.CPUs == 1:
			node += fmt.Sprintf(",cpus=%d", n.FirstCPU)
		case n.CPUs > 1:
			node += fmt.Sprintf(",cpus=%d-%d", n.FirstCPU, n.FirstCPU+n.CPUs-1)
		}
		node += fmt.Sprintf(",memdev=m%d", i)
		args = append(args, "-numa", node)
	}
	for i := range nodes {
		for j := range nodes {
			if i != j {
				args = append(args, "-numa", fmt.Sprintf("dist,src=%d,dst=%d,val=%d", i, j, RemoteDistance))
			}
		}
	}
	return args
}
