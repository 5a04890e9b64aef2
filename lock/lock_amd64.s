#include "textflag.h"

// func pause()
TEXT ·pause(SB),NOSPLIT,$0-0
	PAUSE
	RET

// func framePointer() uintptr
// With no frame of its own, BP is still the caller's frame pointer.
TEXT ·framePointer(SB),NOSPLIT,$0-8
	MOVQ BP, ret+0(FP)
	RET
