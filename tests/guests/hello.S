/* Tiny guest that prints a line on the serial port (polling the UART's line status register
 * for THRE like a real driver) and powers off. */
#include "pvh_note.inc"
.code32
.text
.globl pvh_entry
pvh_entry:
  mov $message, %esi
next:
  lodsb
  test %al, %al
  jz done
  mov %al, %ah
  mov $0x3fd, %dx          /* line status register */
wait:
  in %dx, %al
  test $0x20, %al          /* transmit holding register empty */
  jz wait
  mov $0x3f8, %dx
  mov %ah, %al
  out %al, %dx
  jmp next
done:
  mov $0x600, %dx
  mov $0x34, %al
  out %al, %dx
1:hlt
  jmp 1b
message:
  .asciz "HAVEN-TINY-GUEST-HELLO\n"
