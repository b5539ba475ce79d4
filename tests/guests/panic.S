/* Tiny guest that reports a kernel panic through the pvpanic port (0x505, bit 0), as Linux's
 * pvpanic driver does. Haven must exit with its "guest panicked" status. */
#include "pvh_note.inc"
.code32
.text
.globl pvh_entry
pvh_entry:
  mov $0x505, %dx
  mov $1, %al
  out %al, %dx
1:hlt
  jmp 1b
