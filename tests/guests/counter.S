/* Tiny guest that counts for ever: "COUNT <memory> <register>\n" on the serial port, both in
 * hex, then a busy delay, then the next. The count lives both in memory and in %ebx, so a
 * snapshot restored with the wrong memory or the wrong registers prints two different numbers
 * (or starts again from 1), which the snapshot tests look for. */
#include "pvh_note.inc"
/* put: writes %al once the transmit holding register is empty (a macro: PVH gives no stack). */
.macro put
  mov %al, %ah
  mov $0x3fd, %dx
88:in %dx, %al
  test $0x20, %al
  jz 88b
  mov $0x3f8, %dx
  mov %ah, %al
  out %al, %dx
.endm
/* hex: writes \reg as 8 hex digits (clobbers %eax, %ecx, %edx, %edi). */
.macro hex reg
  mov \reg, %edi
  mov $8, %ecx
89:rol $4, %edi
  mov %edi, %eax
  and $0xf, %eax
  mov digits(%eax), %al
  put
  dec %ecx
  jnz 89b
.endm
.code32
.text
.globl pvh_entry
pvh_entry:
  xor %ebx, %ebx
  movl $0, count
tick:
  inc %ebx
  incl count
  mov $prefix, %esi
1:lodsb
  test %al, %al
  jz 2f
  put
  jmp 1b
2:mov count, %esi
  hex %esi
  mov $' ', %al
  put
  hex %ebx
  mov $'\n', %al
  put
  mov $200000, %ecx
3:dec %ecx
  jnz 3b
  jmp tick
prefix:
  .asciz "COUNT "
digits:
  .ascii "0123456789abcdef"
.balign 4
count:
  .long 0
