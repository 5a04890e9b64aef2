// Trap, interrupt and SYSCALL entry, and the return to a thread.
//
// Every path saves the complete state of the interrupted thread into its
// Thread (CPU.cur): general registers and the interrupt frame in Frame
// order, FPU/SSE state with FXSAVE64. Then it marks the CPU as in the
// kernel, points FS at the CPU's fake-g TLS, switches to the CPU's kernel
// stack and calls Go (trap). When trap returns, resumeCur restores whatever
// thread CPU.cur names now and IRETQs to it: that is the only way out, so
// the saved RFLAGS (and its IF) always comes back as it was saved.

#include "go_asm.h"
#include "textflag.h"

#define FS_BASE_MSR 0xC0000100

#define PUSH_GPRS \
	PUSHQ	DI; PUSHQ	SI; PUSHQ	DX; PUSHQ	CX; PUSHQ	AX; \
	PUSHQ	R8; PUSHQ	R9; PUSHQ	R10; PUSHQ	R11; PUSHQ	BX; \
	PUSHQ	BP; PUSHQ	R12; PUSHQ	R13; PUSHQ	R14; PUSHQ	R15

#define POP_GPRS \
	POPQ	R15; POPQ	R14; POPQ	R13; POPQ	R12; POPQ	BP; \
	POPQ	BX; POPQ	R11; POPQ	R10; POPQ	R9; POPQ	R8; \
	POPQ	AX; POPQ	CX; POPQ	DX; POPQ	SI; POPQ	DI

// intrEntry: from a vector stub, on IST1, with [vector, error, RIP, CS,
// RFLAGS, RSP, SS] at SP. Interrupts are off (interrupt gates).
TEXT ·intrEntry(SB),NOSPLIT|NOFRAME,$0
	CMPQ	CPU_inKernel(GS), $0
	JEQ	fromThread
	JMP	·kfaultEntry(SB)
fromThread:
	PUSH_GPRS
	// Copy the whole frame (Frame__size bytes) into the current thread
	// before anything can reuse IST1.
	MOVQ	SP, SI
	MOVQ	CPU_cur(GS), DI
	MOVQ	$(Frame__size/8), CX
	CLD
	REP;	MOVSQ
	JMP	enterKernel<>(SB)

// syscallEntry is IA32_LSTAR. SYSCALL left RIP in CX, RFLAGS in R11, and
// cleared IF (IA32_FMASK); RSP is still the caller's. Switch at once to the
// current thread's Frame as a push target, so nothing is written below the
// caller's SP (runtime.exitThread frees its stack before exit).
TEXT ·syscallEntry(SB),NOSPLIT|NOFRAME,$0
	MOVQ	SP, CPU_scratch(GS)
	MOVQ	CPU_cur(GS), SP
	ADDQ	$Frame__size, SP
	PUSHQ	$0x10
	PUSHQ	CPU_scratch(GS)
	PUSHQ	R11
	PUSHQ	$0x08
	PUSHQ	CX
	PUSHQ	$0
	PUSHQ	$const_vecSyscall
	PUSH_GPRS
	JMP	enterKernel<>(SB)

TEXT enterKernel<>(SB),NOSPLIT|NOFRAME,$0
	MOVQ	CPU_cur(GS), AX
	MOVQ	Thread_fxp(AX), BX
	FXSAVE64	(BX)
	MOVQ	$1, CPU_inKernel(GS)
	MOVQ	CPU_ktls(GS), AX
	MOVQ	AX, DX
	SHRQ	$32, DX
	MOVL	$FS_BASE_MSR, CX
	WRMSR
	MOVQ	CPU_kstackTop(GS), SP
	CALL	·trap(SB)
	JMP	resumeCur<>(SB)

// resumeCur restores CPU.cur and returns to it. Interrupts are off until
// IRETQ reloads the thread's RFLAGS.
TEXT resumeCur<>(SB),NOSPLIT|NOFRAME,$0
	MOVQ	CPU_cur(GS), AX
	MOVQ	Thread_fxp(AX), BX
	FXRSTOR64	(BX)
	MOVQ	Thread_fsbase(AX), BX
	MOVQ	AX, SP
	MOVQ	BX, AX
	MOVQ	BX, DX
	SHRQ	$32, DX
	MOVL	$FS_BASE_MSR, CX
	WRMSR
	MOVQ	$0, CPU_inKernel(GS)
	POP_GPRS
	ADDQ	$16, SP
	IRETQ

// func resumeFirst()
// Leaves kern.Boot's stack for good: resumes CPU.cur.
TEXT ·resumeFirst(SB),NOSPLIT|NOFRAME,$0
	JMP	resumeCur<>(SB)

// kfaultEntry: a fault or NMI while the kernel itself was running (or any
// #DF/NMI/#MC). Save the registers on this IST stack and report, unless
// it is a page fault on reserved, not yet backed memory (trap-context code
// touching a fresh Go heap page), which is backed and resumed.
TEXT ·kfaultEntry(SB),NOSPLIT|NOFRAME,$0
	PUSH_GPRS
	MOVQ	SP, R12
	MOVQ	CPU_ktls(GS), AX
	MOVQ	AX, DX
	SHRQ	$32, DX
	MOVL	$FS_BASE_MSR, CX
	WRMSR
	MOVQ	$1, CPU_inKernel(GS)
	ANDQ	$~15, SP
	SUBQ	$32, SP
	MOVQ	R12, 0(SP)  // argument
	MOVQ	R12, 24(SP) // ours: ABI0 keeps no register across the call
	CALL	·kernelFault(SB)
	MOVBLZX	8(SP), AX
	TESTQ	AX, AX
	JEQ	stop
	// A demand-zero page fault in trap context, now backed: resume the
	// faulting instruction (its state is the frame on this IST stack).
	MOVQ	24(SP), SP
	POP_GPRS
	ADDQ	$16, SP
	IRETQ
	// Otherwise kernelFault returns only for an NMI stop request: halt
	// for good.
stop:
	CLI
	HLT
	JMP	stop

// func idleLoop()
// The idle threads' code: halt until an interrupt. STI's one-instruction
// shadow makes STI;HLT atomic against a wake-up interrupt.
TEXT ·idleLoop(SB),NOSPLIT|NOFRAME,$0
again:
	STI
	HLT
	JMP	again

// func idleLoopAddr() uintptr
TEXT ·idleLoopAddr(SB),NOSPLIT,$0-8
	LEAQ	·idleLoop(SB), AX
	MOVQ	AX, ret+0(FP)
	RET

// func rt0Addr() uintptr: the stock runtime's Linux entry point.
TEXT ·rt0Addr(SB),NOSPLIT,$0-8
	LEAQ	_rt0_amd64_linux(SB), AX
	MOVQ	AX, ret+0(FP)
	RET

// func syscallEntryAddr() uintptr
TEXT ·syscallEntryAddr(SB),NOSPLIT,$0-8
	LEAQ	·syscallEntry(SB), AX
	MOVQ	AX, ret+0(FP)
	RET

// func thisCPU() int
TEXT ·thisCPU(SB),NOSPLIT,$0-8
	MOVQ	CPU_id(GS), AX
	MOVQ	AX, ret+0(FP)
	RET

// func loadDescriptors(gdtr, idtr uintptr)
TEXT ·loadDescriptors(SB),NOSPLIT,$0-16
	MOVQ	gdtr+0(FP), AX
	LGDT	(AX)
	MOVQ	idtr+8(FP), AX
	LIDT	(AX)
	MOVL	$0x10, AX
	MOVW	AX, DS
	MOVW	AX, ES
	MOVW	AX, SS
	// Reload CS with a far return to the next instruction.
	LEAQ	reloaded<>(SB), AX
	PUSHQ	$0x08
	PUSHQ	AX
	RETFQ

TEXT reloaded<>(SB),NOSPLIT|NOFRAME,$0
	MOVW	$0x18, AX
	LTR	AX
	RET

// func kernelEnd() uintptr: end of the kernel image (BSS included).
TEXT ·kernelEnd(SB),NOSPLIT,$0-8
	LEAQ	runtime·end(SB), AX
	MOVQ	AX, ret+0(FP)
	RET

// func textStart() uintptr: the linker's start of the text.
TEXT ·textStart(SB),NOSPLIT,$0-8
	LEAQ	runtime·text(SB), AX
	MOVQ	AX, ret+0(FP)
	RET

// func textEnd() uintptr: the linker's end of the text.
TEXT ·textEnd(SB),NOSPLIT,$0-8
	LEAQ	runtime·etext(SB), AX
	MOVQ	AX, ret+0(FP)
	RET
