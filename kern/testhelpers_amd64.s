#include "textflag.h"

// func divide(a, b int64) int64: a raw IDIVQ, so b == 0 raises #DE (the Go
// compiler's own check never lets Go code do that).
TEXT ·divide(SB),NOSPLIT,$0-24
	MOVQ	a+0(FP), AX
	MOVQ	b+8(FP), CX
	CQO
	IDIVQ	CX
	MOVQ	AX, ret+16(FP)
	RET

// func ud2()
TEXT ·ud2(SB),NOSPLIT,$0-0
	BYTE	$0x0F; BYTE $0x0B
	RET

// func rawSyscall(nr, a0, a1 uintptr) uintptr
TEXT ·rawSyscall(SB),NOSPLIT,$0-32
	MOVQ	nr+0(FP), AX
	MOVQ	a0+8(FP), DI
	MOVQ	a1+16(FP), SI
	SYSCALL
	MOVQ	AX, ret+24(FP)
	RET
