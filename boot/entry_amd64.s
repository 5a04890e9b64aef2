// Multiboot entry: 32-bit protected mode → 64-bit long mode → Go (start64).
// See boot.go for the fixed addresses (go_asm.h constants) and the rules
// this code follows.

#include "go_asm.h"
#include "textflag.h"

#define MULTIBOOT2_MAGIC 0x36D76289

// func entry32()
//
// Machine state at entry (Multiboot §3.2, Multiboot2 §3.3): EAX magic
// (0x2BADB002 from a multiboot 1 loader, 0x36D76289 from a multiboot2
// one), EBX the boot information, CS/DS flat 32-bit, paging off,
// interrupts off, ESP undefined.
TEXT ·entry32(SB),NOSPLIT|NOFRAME,$0
	CLI
	CLD
	// The stack is the top of the image's header page (boot/image): the
	// only memory sure to hold neither the boot information nor anything
	// else the loader left.
	MOVL	$const_earlySP32, SP
	MOVL	AX, DX	// boot magic

	// Multiboot2: copy the boot information (self-contained, total_size
	// bytes) into mb2Info before anything below overwrites low memory
	// (the loader may have put it at 1 MiB, where the early page tables
	// go). Its address comes from getPC plus the LEAL displacement: in
	// 32-bit mode the RIP-relative LEAL yields target - next instruction.
	// TestEntryCopy checks this against the binary.
	CMPL	AX, $MULTIBOOT2_MAGIC
	JNE	nocopy
	MOVL	(BX), CX	// total_size
	CMPL	CX, $const_mb2InfoSize
	JHI	nocopy
	BYTE	$0xE8; LONG	$0	// CALL to the next instruction
	POPQ	DI	// DI = address of the POP
	LEAL	·mb2Info(SB), AX	// AX = mb2Info - (POP + 1 + 6)
	ADDL	DI, AX
	ADDL	$7, AX	// POP(1) + LEAL(6)
	MOVL	AX, DI
	MOVL	BX, SI
	MOVL	AX, BX	// from now on the copy is the boot information
	REP;	MOVSB
nocopy:

	// Clear PML4, PDPT, PD and the GDT page (0x100000..0x107000).
	MOVL	$const_earlyPML4, DI
	XORL	AX, AX
	MOVL	$(7*4096/4), CX
	REP;	STOSL

	MOVL	$const_earlyMagic, DI
	MOVL	DX, (DI)
	MOVL	$const_earlyInfo, DI
	MOVL	BX, (DI)

	// PML4[0] → PDPT; PDPT[0..3] → PD pages (present, writable).
	MOVL	$const_earlyPML4, DI
	MOVL	$(const_earlyPDPT|3), AX
	MOVL	AX, (DI)
	MOVL	$const_earlyPDPT, DI
	MOVL	$(const_earlyPD|3), AX
	MOVL	$4, CX
pdpt:
	MOVL	AX, (DI)
	ADDL	$4096, AX
	ADDL	$8, DI
	DECL	CX
	JNE	pdpt

	// PD: 2048 entries of 2 MiB pages (present, writable, PS): 0..4 GiB.
	MOVL	$const_earlyPD, DI
	MOVL	$0x83, AX
	MOVL	$2048, CX
pd:
	MOVL	AX, (DI)
	ADDL	$0x200000, AX
	ADDL	$8, DI
	DECL	CX
	JNE	pd

	// GDT: null; 0x08 64-bit code (L=1, P, DPL0, accessed); 0x10 data.
	MOVL	$const_earlyGDT, DI
	MOVL	$0x0000FFFF, 8(DI)
	MOVL	$0x00AF9B00, 12(DI)
	MOVL	$0x0000FFFF, 16(DI)
	MOVL	$0x00CF9300, 20(DI)
	MOVL	$const_earlyGDTR, DI
	MOVW	$23, (DI)
	MOVL	$const_earlyGDT, 2(DI)
	MOVL	$0, 6(DI)
	LGDT	(DI)

	// CR4: PAE (5), OSFXSR (9), OSXMMEXCPT (10).
	MOVL	$0x620, AX
	MOVL	AX, CR4
	MOVL	$const_earlyPML4, AX
	MOVL	AX, CR3

	// EFER: SCE, LME, NXE.
	MOVL	$0xC0000080, CX
	RDMSR
	ORL	$0x901, AX
	WRMSR

	// CR0: PG, WP (ring 0 honours read-only pages), PE, MP; clear EM
	// (2) and TS (3) so SSE works.
	MOVL	CR0, AX
	ORL	$0x80010003, AX
	ANDL	$0xFFFFFFF3, AX
	MOVL	AX, CR0

	// Far return into the 64-bit code segment. The target is computed
	// from EIP (getPC): here + 8 bytes = POPL(1) ADDL imm8(3) PUSHL imm8(2)
	// PUSHL(1) RETF(1). TestEntryLayout checks this against the binary.
	BYTE	$0xE8; LONG	$0	// CALL to the next instruction
	POPQ	BX
	ADDL	$8, BX
	PUSHQ	$0x08
	PUSHQ	BX
	BYTE	$0xCB	// RETF (32-bit far return)

	// 64-bit mode from here.
	MOVL	$0x10, AX
	MOVW	AX, DS
	MOVW	AX, ES
	MOVW	AX, SS
	XORL	AX, AX
	MOVW	AX, FS
	MOVW	AX, GS

	LEAQ	·earlyStack(SB), BX
	LEAQ	const_earlyStackSize(BX), SP

	// Fake g for the Go prologue checks: stack.lo, stack.hi,
	// stackguard0, stackguard1 (runtime2.go: type g struct).
	LEAQ	·earlyG(SB), DI
	MOVQ	BX, 0(DI)
	MOVQ	SP, 8(DI)
	LEAQ	4096(BX), AX
	MOVQ	AX, 16(DI)
	MOVQ	AX, 24(DI)
	LEAQ	·earlyTLS(SB), SI
	MOVQ	DI, 0(SI)
	LEAQ	8(SI), AX
	MOVQ	AX, DX
	SHRQ	$32, DX
	MOVL	$0xC0000100, CX	// IA32_FS_BASE
	WRMSR

	CALL	·start64(SB)
hang:
	CLI
	HLT
	JMP	hang

// func stackLo() uintptr
TEXT ·stackLo(SB),NOSPLIT,$0-8
	LEAQ	·earlyStack(SB), AX
	MOVQ	AX, ret+0(FP)
	RET
