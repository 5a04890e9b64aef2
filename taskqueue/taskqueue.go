// Package taskqueue runs deferred work in kernel threads: FreeBSD's
// taskqueue(9) on smpgo's execution model. A Queue has a pool of N
// threads (goroutines locked to their own kernel threads, optionally
// pinned to a CPU) that run enqueued Tasks in FIFO order.
//
// Coalescing: enqueueing a task that is already queued only raises its
// pending count; it runs once, and its function receives the count. A
// task enqueued again while it runs is queued again and runs once more
// afterwards (with a pool of several threads it may then start on another
// thread while the first run finishes, as in FreeBSD).
//
// Drain waits until a task is neither queued nor running; DrainAll until
// the queue is empty and no thread runs anything. Timeout tasks
// (TimeoutTask) are enqueued by a callout after a delay; the callout runs
// under the queue's mutex, so CancelTimeout, called with it held,
// cancels exactly (FreeBSD's taskqueue_enqueue_timeout).
//
// Context: Enqueue takes the queue's sleep mutex (goroutine context). A
// filter in trap context schedules a software interrupt (ithread.SWI)
// whose handler enqueues.
package taskqueue

import (
	"fmt"
	"runtime"
	"sync"

	"github.com/smpgo/smpgo/callout"
	"github.com/smpgo/smpgo/kern"
	"github.com/smpgo/smpgo/lock"
)

// Task is a unit of deferred work. Initialise with Init; do not copy.
type Task struct {
	fn      func(pending int) // (c)
	pending int               // (q.mu) enqueues since it was last taken; > 0 while queued
	running int               // (q.mu) threads running it
	next    *Task             // (q.mu)
	q       *Queue            // (q.mu) the queue it was last enqueued on
}

// Init sets t's function (TASK_INIT). fn receives how many times the task
// was enqueued since it last ran.
func (t *Task) Init(fn func(pending int)) { *t = Task{fn: fn} }

// Queue is a task queue with its thread pool.
type Queue struct {
	name    string // (c)
	cpu     int    // (c) -1: threads run anywhere
	threads int    // (c)

	mu         lock.Mutex
	head, tail *Task     // (mu)
	work       lock.Cond // threads wait for tasks
	idle       lock.Cond // Drain waits
	active     int       // (mu) tasks running
	drainers   int       // (mu)

	// Statistics (mu).
	enqueues, coalesced, runs, cancels, drainWaits, maxQueued, queued int64
}

var (
	regMu  sync.Mutex
	queues []*Queue // (regMu)
)

// New starts a queue with nthreads threads, pinned to CPU cpu (-1: any).
func New(name string, nthreads, cpu int) (*Queue, error) {
	if nthreads < 1 {
		return nil, fmt.Errorf("taskqueue %s: %d threads", name, nthreads)
	}
	if cpu < -1 || cpu >= kern.NumCPU() {
		return nil, fmt.Errorf("taskqueue %s: no CPU %d", name, cpu)
	}
	q := &Queue{name: name, cpu: cpu, threads: nthreads}
	q.mu.Init("taskqueue")
	var wg sync.WaitGroup
	for i := 0; i < nthreads; i++ {
		wg.Add(1)
		go q.thread(&wg)
	}
	wg.Wait()
	regMu.Lock()
	queues = append(queues, q)
	regMu.Unlock()
	return q, nil
}

// Name returns the queue's name.
func (q *Queue) Name() string { return q.name }

func (q *Queue) thread(started *sync.WaitGroup) {
	runtime.LockOSThread()
	if q.cpu >= 0 {
		kern.PinToCPU(q.cpu)
	}
	started.Done()
	q.mu.Lock()
	for {
		t := q.head
		if t == nil {
			q.work.Wait(&q.mu)
			continue
		}
		q.head = t.next
		if q.head == nil {
			q.tail = nil
		}
		t.next = nil
		n := t.pending
		t.pending = 0
		t.running++
		q.active++
		q.queued--
		q.mu.Unlock()
		t.fn(n)
		q.mu.Lock()
		t.running--
		q.active--
		q.runs++
		if q.drainers > 0 {
			q.idle.Broadcast()
		}
	}
}

// Enqueue queues t, or, if it is queued already, raises its pending
// count (taskqueue_enqueue). It reports whether t was already queued.
func (q *Queue) Enqueue(t *Task) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.enqueueLocked(t)
}

func (q *Queue) enqueueLocked(t *Task) bool {
	if t.fn == nil {
		panic("taskqueue: Enqueue of a task without Init")
	}
	q.enqueues++
	if t.pending > 0 {
		if t.q != q {
			panic("taskqueue: task queued on another queue")
		}
		t.pending++
		q.coalesced++
		return true
	}
	t.q = q
	t.pending = 1
	if q.tail == nil {
		q.head = t
	} else {
		q.tail.next = t
	}
	q.tail = t
	q.queued++
	q.maxQueued = max(q.maxQueued, q.queued)
	q.work.Signal()
	return false
}

// Cancel removes t from the queue if it is queued and returns the pending
// count it dropped, and whether t is running now (taskqueue_cancel's
// EBUSY): Cancel does not wait for it.
func (q *Queue) Cancel(t *Task) (pending int, running bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.cancelLocked(t)
}

func (q *Queue) cancelLocked(t *Task) (pending int, running bool) {
	if t.pending > 0 && t.q == q {
		pending = t.pending
		var prev *Task
		for p := q.head; p != nil; prev, p = p, p.next {
			if p == t {
				if prev == nil {
					q.head = t.next
				} else {
					prev.next = t.next
				}
				if q.tail == t {
					q.tail = prev
				}
				break
			}
		}
		t.next = nil
		t.pending = 0
		q.queued--
		q.cancels++
	}
	return pending, t.running > 0
}

// Drain waits until t is neither queued nor running on q
// (taskqueue_drain).
func (q *Queue) Drain(t *Task) {
	q.mu.Lock()
	for (t.pending > 0 && t.q == q) || t.running > 0 {
		q.waitIdleLocked()
	}
	q.mu.Unlock()
}

// DrainAll waits until q is empty and no task runs (taskqueue_drain_all);
// tasks enqueued meanwhile are waited for too.
func (q *Queue) DrainAll() {
	q.mu.Lock()
	for q.head != nil || q.active > 0 {
		q.waitIdleLocked()
	}
	q.mu.Unlock()
}

func (q *Queue) waitIdleLocked() {
	q.drainers++
	q.drainWaits++
	q.idle.Wait(&q.mu)
	q.drainers--
}

// TimeoutTask is a task enqueued after a delay (struct timeout_task).
type TimeoutTask struct {
	Task
	c callout.Callout
	q *Queue
}

// InitTimeout prepares tt to run fn on q (TIMEOUT_TASK_INIT).
func (q *Queue) InitTimeout(tt *TimeoutTask, fn func(pending int)) {
	tt.Task.Init(fn)
	tt.q = q
	tt.c.Init(&q.mu) // the callout enqueues with the queue's mutex held
}

// EnqueueTimeout enqueues tt after ticks ticks (at once if ticks <= 0);
// a timeout already armed is rescheduled. It reports whether it was armed
// (taskqueue_enqueue_timeout).
func (q *Queue) EnqueueTimeout(tt *TimeoutTask, ticks int) bool {
	if tt.q != q {
		panic("taskqueue: EnqueueTimeout on another queue than InitTimeout's")
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if ticks <= 0 {
		armed := tt.c.Stop()
		q.enqueueLocked(&tt.Task)
		return armed
	}
	return tt.c.Reset(ticks, func() { q.enqueueLocked(&tt.Task) })
}

// CancelTimeout disarms tt's timeout and removes it from the queue; it
// returns the pending count dropped (an armed timeout counts one) and
// whether the task is running (taskqueue_cancel_timeout).
func (q *Queue) CancelTimeout(tt *TimeoutTask) (pending int, running bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	armed := tt.c.Stop() // under q.mu: a due timeout waiting for it is cancelled too
	pending, running = q.cancelLocked(&tt.Task)
	if armed {
		pending++
	}
	return pending, running
}

// DrainTimeout waits for tt's timeout (cancelled if armed) and the task
// (taskqueue_drain_timeout).
func (q *Queue) DrainTimeout(tt *TimeoutTask) {
	tt.c.Drain()
	q.Drain(&tt.Task)
}

// Stats are a queue's counters.
type Stats struct {
	Name                          string
	Threads, CPU                  int
	Queued, Running               int64
	Enqueues, Coalesced, Runs     int64
	Cancels, DrainWaits, MaxQueue int64
}

// Stats returns q's counters.
func (q *Queue) Stats() Stats {
	q.mu.Lock()
	defer q.mu.Unlock()
	return Stats{Name: q.name, Threads: q.threads, CPU: q.cpu, Queued: q.queued, Running: int64(q.active),
		Enqueues: q.enqueues, Coalesced: q.coalesced, Runs: q.runs, Cancels: q.cancels,
		DrainWaits: q.drainWaits, MaxQueue: q.maxQueued}
}

// Queues returns every queue.
func Queues() []*Queue {
	regMu.Lock()
	defer regMu.Unlock()
	return append([]*Queue(nil), queues...)
}
