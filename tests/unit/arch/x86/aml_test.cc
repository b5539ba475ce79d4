#include "arch/x86/acpi/aml.h"

#include <gtest/gtest.h>

namespace haven::arch::x86::acpi::aml {
namespace {

TEST(Aml, PkgLengthUsesOneToFourBytes) {
  // One byte up to 63 (the length counts its own byte).
  EXPECT_EQ(pkg_length(10), (Bytes{11}));
  EXPECT_EQ(pkg_length(62), (Bytes{63}));
  // Two bytes: low nibble in the lead byte, bits 6-7 = 1 extra byte.
  Bytes two = pkg_length(100);  // 102 = 0x66
  ASSERT_EQ(two.size(), 2u);
  EXPECT_EQ(two[0], 0x40 | (102 & 0xf));
  EXPECT_EQ(two[1], 102 >> 4);
  EXPECT_EQ(pkg_length(5000).size(), 3u);
  EXPECT_EQ(pkg_length(2000000).size(), 4u);
}

TEST(Aml, IntegersUseTheSmallestEncoding) {
  EXPECT_EQ(integer(0), (Bytes{0x00}));     // ZeroOp
  EXPECT_EQ(integer(1), (Bytes{0x01}));     // OneOp
  EXPECT_EQ(integer(5), (Bytes{0x0a, 5}));  // BytePrefix
  EXPECT_EQ(integer(0x1234), (Bytes{0x0b, 0x34, 0x12}));
  EXPECT_EQ(integer(0x12345678), (Bytes{0x0c, 0x78, 0x56, 0x34, 0x12}));
  EXPECT_EQ(integer(0x100000000ull).size(), 9u);  // QWordPrefix
}

TEST(Aml, NamesArePaddedAndRooted) {
  EXPECT_EQ(name_string("_S5_"), (Bytes{'_', 'S', '5', '_'}));
  EXPECT_EQ(name_string("COM"), (Bytes{'C', 'O', 'M', '_'}));
  EXPECT_EQ(name_string("\\_SB_"), (Bytes{'\\', '_', 'S', 'B', '_'}));
}

TEST(Aml, EisaIdCompressesPnp0501) {
  // "PNP0501" -> 0x0105D041 stored little-endian after a DWordPrefix.
  EXPECT_EQ(eisa_id("PNP0501"), (Bytes{0x0c, 0x41, 0xd0, 0x05, 0x01}));
}

TEST(Aml, StringsAreNulTerminated) {
  EXPECT_EQ(string("ab"), (Bytes{0x0d, 'a', 'b', 0}));
}

TEST(Aml, ResourceTemplateEndsWithAnEndTag) {
  Bytes buffer = resource_template({io_port(0x3f8, 8), irq_no_flags(4)});
  ASSERT_GE(buffer.size(), 2u);
  EXPECT_EQ(buffer[0], 0x11);                  // BufferOp
  EXPECT_EQ(buffer[buffer.size() - 2], 0x79);  // end tag
}

TEST(Aml, MethodCarriesItsArgumentCountAndBody) {
  // Method (_EVT, 1) { Notify (PWRB, 0x80) }: MethodOp, PkgLength, name, flags, body.
  Bytes body = notify("PWRB", 0x80);
  EXPECT_EQ(body, (Bytes{0x86, 'P', 'W', 'R', 'B', 0x0a, 0x80}));
  Bytes method_bytes = method("_EVT", 1, {body});
  Bytes expected{0x14, static_cast<uint8_t>(1 + 4 + 1 + body.size()), '_', 'E', 'V', 'T', 0x01};
  expected.insert(expected.end(), body.begin(), body.end());
  EXPECT_EQ(method_bytes, expected);
}

TEST(Aml, EdgeInterruptIsAnExtendedDescriptor) {
  // Large item 0x89, length 6, consumer + edge + active high + exclusive, one GSI (10).
  EXPECT_EQ(edge_interrupt(10), (Bytes{0x89, 6, 0, 0x03, 1, 10, 0, 0, 0}));
}

}  // namespace
}  // namespace haven::arch::x86::acpi::aml

namespace haven::arch::x86::acpi::aml {
namespace {

TEST(Aml, AddressSpaceDescriptorsCarryMinMaxAndLength) {
  Bytes bus = word_bus_number(0, 0);
  ASSERT_EQ(bus.size(), 3u + 13u);
  EXPECT_EQ(bus[0], 0x88);
  EXPECT_EQ(bus[1], 13);  // length of what follows the 3-byte header
  EXPECT_EQ(bus[3], 2);   // bus number range
  EXPECT_EQ(bus[14] | bus[15] << 8, 1) << "length of 0..0 is one bus";
  Bytes io = word_io(0x0d00, 0xffff);
  EXPECT_EQ(io[3], 1);
  EXPECT_EQ(io[8] | io[9] << 8, 0x0d00);
  EXPECT_EQ(io[10] | io[11] << 8, 0xffff);
  EXPECT_EQ(io[14] | io[15] << 8, 0xf300);
  Bytes memory = dword_memory(0xc0000000, 0xfebfffff);
  ASSERT_EQ(memory.size(), 3u + 23u);
  EXPECT_EQ(memory[0], 0x87);
  uint32_t length = memory[22] | memory[23] << 8 | memory[24] << 16 | uint32_t{memory[25]} << 24;
  EXPECT_EQ(length, 0x3ec00000u);
  EXPECT_EQ(qword_memory(1ull << 40, (1ull << 41) - 1).size(), 3u + 43u);
}

}  // namespace
}  // namespace haven::arch::x86::acpi::aml
