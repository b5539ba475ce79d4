#include "arch/x86/mptable.h"

#include "arch/x86/byte_writer.h"
#include "arch/x86/layout.h"

namespace haven::arch::x86 {
namespace {

constexpr uint8_t kSpecRevision = 4;  // MP spec 1.4
constexpr uint8_t kLapicVersion = 0x14;
constexpr uint8_t kIoapicVersion = 0x11;
constexpr uint8_t kEntryProcessor = 0;
constexpr uint8_t kEntryBus = 1;
constexpr uint8_t kEntryIoapic = 2;
constexpr uint8_t kEntryIoInterrupt = 3;
constexpr uint8_t kEntryLocalInterrupt = 4;
constexpr uint8_t kInterruptInt = 0;
constexpr uint8_t kInterruptNmi = 1;
constexpr uint8_t kInterruptExtInt = 3;
constexpr uint8_t kCpuEnabled = 1;
constexpr uint8_t kCpuBootProcessor = 2;
constexpr uint8_t kIsaBus = 0;
constexpr uint8_t kIsaIrqs = 16;
constexpr size_t kFloatingPointerSize = 16;
constexpr size_t kTableChecksumOffset = 7;
constexpr size_t kPointerChecksumOffset = 10;
constexpr size_t kTableLengthOffset = 4;
constexpr size_t kTableEntryCountOffset = 34;

void processor(ByteWriter& w, uint8_t apic_id, bool boot) {
  w.u8(kEntryProcessor);
  w.u8(apic_id);
  w.u8(kLapicVersion);
  w.u8(kCpuEnabled | (boot ? kCpuBootProcessor : 0));
  w.u32(0x600);  // CPU signature: family 6
  w.u32(0x201);  // feature flags: FPU, APIC
  w.zeros(8);
}

void interrupt(ByteWriter& w, uint8_t entry_type, uint8_t interrupt_type, uint8_t source_irq,
               uint8_t destination_apic, uint8_t destination_pin) {
  w.u8(entry_type);
  w.u8(interrupt_type);
  w.u16(0);  // polarity and trigger conform to the bus
  w.u8(kIsaBus);
  w.u8(source_irq);
  w.u8(destination_apic);
  w.u8(destination_pin);
}

}  // namespace

std::vector<uint8_t> build_mptable(uint64_t base_address, uint32_t vcpu_count) {
  const auto ioapic_id = static_cast<uint8_t>(vcpu_count);
  ByteWriter table;
  table.text("PCMP", 4);
  table.u16(0);  // length, patched below
  table.u8(kSpecRevision);
  table.u8(0);  // checksum
  table.text("HAVEN", 8);
  table.text("HAVEN VM", 12);
  table.u32(0);  // no OEM table
  table.u16(0);
  table.u16(0);  // entry count, patched below
  table.u32(static_cast<uint32_t>(kLapicAddress));
  table.u16(0);  // no extended table
  table.u8(0);
  table.u8(0);

  uint16_t entries = 0;
  for (uint32_t cpu = 0; cpu < vcpu_count; ++cpu, ++entries)
    processor(table, static_cast<uint8_t>(cpu), cpu == 0);
  table.u8(kEntryBus);
  table.u8(kIsaBus);
  table.text("ISA", 6);
  ++entries;
  table.u8(kEntryIoapic);
  table.u8(ioapic_id);
  table.u8(kIoapicVersion);
  table.u8(1);  // enabled
  table.u32(static_cast<uint32_t>(kIoapicAddress));
  ++entries;
  // ISA IRQ n on IOAPIC pin n: KVM's default GSI routing, which MADT's lack of overrides
  // also describes (PC chipsets put the PIT on pin 2; KVM keeps it on pin 0).
  for (uint8_t irq = 0; irq < kIsaIrqs; ++irq, ++entries)
    interrupt(table, kEntryIoInterrupt, kInterruptInt, irq, ioapic_id, irq);
  interrupt(table, kEntryLocalInterrupt, kInterruptExtInt, 0, 0xff, 0);
  interrupt(table, kEntryLocalInterrupt, kInterruptNmi, 0, 0xff, 1);
  entries += 2;

  table.patch_u16(kTableLengthOffset, static_cast<uint16_t>(table.size()));
  table.patch_u16(kTableEntryCountOffset, entries);
  table.patch_u8(kTableChecksumOffset, checksum_byte(table.bytes()));

  ByteWriter blob;
  blob.text("_MP_", 4);
  blob.u32(static_cast<uint32_t>(base_address + kFloatingPointerSize));
  blob.u8(1);  // length in 16-byte units
  blob.u8(kSpecRevision);
  blob.u8(0);     // checksum
  blob.zeros(5);  // feature bytes: configuration table present, no IMCR
  blob.patch_u8(kPointerChecksumOffset, checksum_byte(blob.bytes()));
  blob.append(table.bytes());
  return blob.take();
}

}  // namespace haven::arch::x86
