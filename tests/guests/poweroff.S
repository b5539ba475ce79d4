/* Tiny guest that powers the machine off at once, through the ACPI sleep control register
 * (SLP_TYP = 5 for S5, plus SLP_EN) of Haven's hardware-reduced FADT. Its first exit is the
 * guest's third instruction, so haven-vmm's start-to-exit time measures how long Haven takes
 * to reach a guest, plus tear-down (bench/vmm_startup). */
#include "pvh_note.inc"
.code32
.text
.globl pvh_entry
pvh_entry:
  mov $0x600, %dx
  mov $0x34, %al
  out %al, %dx
1:hlt
  jmp 1b
