#include "textflag.h"
#include "go_asm.h"

// The vDSO's functions (vdso.go). The runtime calls them with the C ABI
// (System V AMD64 psABI §3.2): arguments in DI, SI, the result in AX, on
// its g0 stack, 16-byte aligned. They may clobber AX, CX, DX, SI, DI,
// R8-R11 and the flags, and keep BX, BP, R12-R15 (the runtime holds m in
// BX, its own SP in R12 and g in R14 across the call). They use no red
// zone: an interrupt in ring 0 pushes its frame on the current stack.

#define SYS_clock_gettime 228
#define CLOCK_REALTIME 0
#define CLOCK_MONOTONIC 1

// func vdsoClockGettime(clk int32 /* DI */, ts *[2]int64 /* SI */) int64 /* AX */
//
// CLOCK_MONOTONIC and CLOCK_REALTIME from the TSC, read exactly as
// nanotime (timecounter.go) reads it: windupSeq even (no windup running),
// the current hands with a non-zero generation whose counter is the TSC,
// the counter read, and then the same hands, generation and windupSeq
// again: the reading was taken while those hands were current, so it is
// the time the kernel's nanotime would have returned. Anything else (a
// windup, another counter, other clock ids) makes the system call, whose
// answer is the kernel's own.
TEXT ·vdsoClockGettime(SB),NOSPLIT|NOFRAME,$0
	CMPL	DI, $CLOCK_MONOTONIC
	JEQ	read
	CMPL	DI, $CLOCK_REALTIME
	JNE	syscall
read:
	MOVQ	·windupSeq(SB), R8	// atomic.Uint64: the value at offset 0
	TESTQ	$1, R8
	JNE	syscall	// a windup is running
	MOVQ	·curHands(SB), R9
	TESTQ	R9, R9
	JEQ	syscall	// before the boot's calibration
	MOVL	timehands_gen(R9), R10
	TESTL	R10, R10
	JEQ	syscall	// being rewritten
	MOVQ	timehands_tc(R9), AX
	LEAQ	·tscCounter(SB), CX
	CMPQ	AX, CX
	JNE	syscall	// HPET, PM timer, ...: the kernel reads those
	RDTSC
	SHLQ	$32, DX
	ORQ	DX, AX
	SUBQ	timehands_count(R9), AX	// counts since the base (the TSC is 64 bits wide)
	MULQ	timehands_mult(R9)	// DX:AX = counts * mult (32.32 ns per count)
	ADDQ	timehands_frac(R9), AX
	ADCQ	$0, DX
	SHRQ	$32, DX, AX	// AX = bits 32..95: whole ns
	ADDQ	timehands_ns(R9), AX
	// Still the current hands, not rewritten, no windup since: the
	// reading stands.
	CMPQ	R9, ·curHands(SB)
	JNE	syscall
	CMPL	R10, timehands_gen(R9)
	JNE	syscall
	CMPQ	R8, ·windupSeq(SB)
	JNE	syscall
	CMPL	DI, $CLOCK_REALTIME
	JNE	split
	ADDQ	·realOffset(SB), AX
split:
	// ns/1e9 and ns%1e9 truncated as Go's int64 division (syscall.go).
	CQO
	MOVQ	$1000000000, CX
	IDIVQ	CX
	MOVQ	AX, 0(SI)
	MOVQ	DX, 8(SI)
	XORL	AX, AX
	RET
syscall:
	MOVL	$SYS_clock_gettime, AX	// DI, SI are the caller's still
	SYSCALL
	RET

// func vdsoGettimeofday(tv *[2]int64 /* DI */, tz *[2]int32 /* SI */) int64 /* AX */
//
// CLOCK_REALTIME in seconds and microseconds: the timespec is read into
// tv (a timeval is the same two words) and its ns made µs. The time zone,
// when asked for, is UTC with no DST, as Linux answers.
TEXT ·vdsoGettimeofday(SB),NOSPLIT|NOFRAME,$0
	TESTQ	SI, SI
	JEQ	time
	MOVQ	$0, 0(SI)	// tz_minuteswest, tz_dsttime
time:
	TESTQ	DI, DI
	JEQ	done
	MOVQ	DI, SI
	MOVL	$CLOCK_REALTIME, DI
	PUSHQ	SI	// 8 bytes of the caller's stack, below its SP
	CALL	·vdsoClockGettime(SB)
	POPQ	SI
	TESTQ	AX, AX
	JNE	out	// -errno
	MOVQ	8(SI), AX
	XORL	DX, DX
	MOVQ	$1000, CX
	DIVQ	CX	// 0 <= ns < 1e9
	MOVQ	AX, 8(SI)
done:
	XORL	AX, AX
out:
	RET

// func vdsoClockGettimeAddr() uintptr
TEXT ·vdsoClockGettimeAddr(SB),NOSPLIT,$0-8
	LEAQ	·vdsoClockGettime(SB), AX
	MOVQ	AX, ret+0(FP)
	RET

// func vdsoGettimeofdayAddr() uintptr
TEXT ·vdsoGettimeofdayAddr(SB),NOSPLIT,$0-8
	LEAQ	·vdsoGettimeofday(SB), AX
	MOVQ	AX, ret+0(FP)
	RET

// func vdsoCallClockGettime(clk int32, ts *[2]int64) int64
//
// Calls the function as the runtime does, for the self-tests and
// benchmarks: the C ABI call on this goroutine's stack (the function
// uses 16 bytes of it at most). BX, BP, R12-R15 survive the call.
TEXT ·vdsoCallClockGettime(SB),NOSPLIT,$0-24
	MOVL	clk+0(FP), DI
	MOVQ	ts+8(FP), SI
	CALL	·vdsoClockGettime(SB)
	MOVQ	AX, ret+16(FP)
	RET

// func vdsoCallGettimeofday(tv *[2]int64, tz *[2]int32) int64
TEXT ·vdsoCallGettimeofday(SB),NOSPLIT,$0-24
	MOVQ	tv+0(FP), DI
	MOVQ	tz+8(FP), SI
	CALL	·vdsoGettimeofday(SB)
	MOVQ	AX, ret+16(FP)
	RET
