// Port I/O for the QEMU microvm board.

//go:build tamago

#include "textflag.h"

// func inb(port uint16) uint8
TEXT ·inb(SB),NOSPLIT,$0-9
	MOVW	port+0(FP), DX
	BYTE	$0xec	// in al, dx
	MOVB	AL, ret+8(FP)
	RET

// func outb(port uint16, val uint8)
TEXT ·outb(SB),NOSPLIT,$0-3
	MOVW	port+0(FP), DX
	MOVB	val+2(FP), AL
	BYTE	$0xee	// out dx, al
	RET

// func inl(port uint16) uint32
TEXT ·inl(SB),NOSPLIT,$0-12
	MOVW	port+0(FP), DX
	BYTE	$0xed	// in eax, dx
	MOVL	AX, ret+8(FP)
	RET

// func outl(port uint16, val uint32)
TEXT ·outl(SB),NOSPLIT,$0-8
	MOVW	port+0(FP), DX
	MOVL	val+4(FP), AX
	BYTE	$0xef	// out dx, eax
	RET
