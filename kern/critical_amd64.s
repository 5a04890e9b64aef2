#include "go_asm.h"
#include "textflag.h"

// func ownerTLS() uint64: the g pointer of the calling goroutine (TLS slot
// -8(FS) on linux/amd64).
TEXT ·ownerTLS(SB),NOSPLIT,$0-8
	MOVQ	(TLS), AX
	MOVQ	AX, ret+0(FP)
	RET

// func curThreadAddr() uintptr
TEXT ·curThreadAddr(SB),NOSPLIT,$0-8
	MOVQ	CPU_cur(GS), AX
	MOVQ	AX, ret+0(FP)
	RET

// func critEnter() (cpu int, t uintptr): raise the current thread's
// critical nesting, return this CPU's index and the thread's address.
// The nesting is raised first, so the tick can no longer move the thread
// and the CPU index read after it stays true.
TEXT ·critEnter(SB),NOSPLIT,$0-16
	MOVQ	CPU_cur(GS), AX
	INCL	Thread_critNest(AX)
	MOVQ	AX, t+8(FP)
	MOVQ	CPU_id(GS), AX
	MOVQ	AX, cpu+0(FP)
	RET
