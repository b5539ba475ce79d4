/* Tiny guest that triple-faults: with an empty IDT, a breakpoint raises #GP, then #DF, then
 * shutdown. Haven must report a crash with the vCPU's registers and exit non-zero. */
#include "pvh_note.inc"
.code32
.text
.globl pvh_entry
pvh_entry:
  lidt empty_idt
  int3
1:hlt
  jmp 1b
.p2align 3
empty_idt:
  .word 0
  .long 0
