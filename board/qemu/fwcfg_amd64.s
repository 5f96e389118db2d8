// 16-bit port output for the fw_cfg selector.

//go:build tamago

#include "textflag.h"

// func outw(port uint16, val uint16)
TEXT ·outw(SB),NOSPLIT,$0-4
	MOVW	port+0(FP), DX
	MOVW	val+2(FP), AX
	BYTE	$0x66; BYTE $0xef	// out dx, ax
	RET
