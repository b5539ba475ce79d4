/* Tiny guest that prints a ready line, then echoes what arrives on its serial port with
 * lower-case letters turned upper-case (so an echo is told apart from the input). It polls the
 * line status register, so it keeps a CPU busy: for short console tests only. */
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
.code32
.text
.globl pvh_entry
pvh_entry:
  mov $message, %esi
next:
  lodsb
  test %al, %al
  jz echo
  put
  jmp next
echo:
  mov $0x3fd, %dx          /* line status register */
1:in %dx, %al
  test $0x01, %al          /* data ready */
  jz 1b
  mov $0x3f8, %dx
  in %dx, %al
  cmp $'a', %al
  jb 2f
  cmp $'z', %al
  ja 2f
  sub $0x20, %al
2:put
  jmp echo
message:
  .asciz "HAVEN-TINY-GUEST-READY\n"
