#include "go_asm.h"
#include "textflag.h"

// apEntry: an AP in 64-bit mode, from the trampoline, on no stack.
TEXT ·apEntry(SB),NOSPLIT|NOFRAME,$0
	MOVL	$0x10, AX
	MOVW	AX, DS
	MOVW	AX, ES
	MOVW	AX, SS
	XORL	AX, AX
	MOVW	AX, FS
	MOVW	AX, GS
	MOVQ	·apStack(SB), SP
	MOVQ	·apTLS(SB), AX
	MOVQ	AX, DX
	SHRQ	$32, DX
	MOVL	$0xC0000100, CX
	WRMSR
	CALL	·apMain(SB)
hang:
	CLI
	HLT
	JMP	hang

// func apEntryAddr() uintptr
TEXT ·apEntryAddr(SB),NOSPLIT,$0-8
	LEAQ	·apEntry(SB), AX
	MOVQ	AX, ret+0(FP)
	RET

// func cas32(addr uintptr, old, new uint32) bool
TEXT ·cas32(SB),NOSPLIT,$0-17
	MOVQ	addr+0(FP), BX
	MOVL	old+8(FP), AX
	MOVL	new+12(FP), CX
	LOCK
	CMPXCHGL	CX, 0(BX)
	SETEQ	ret+16(FP)
	RET
