/* Tiny guest that prints a ready line on the serial port and then sleeps for ever with
 * interrupts off (the in-kernel irqchip parks the vCPU in HLT): a running guest that costs no
 * CPU, for tests of what manages guests (havend) rather than of the guest itself. */
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
  cli
1:hlt
  jmp 1b
message:
  .asciz "HAVEN-TINY-GUEST-READY\n"
