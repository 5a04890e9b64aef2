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
