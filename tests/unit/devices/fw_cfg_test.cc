#include "devices/firmware/fw_cfg.h"

#include <gtest/gtest.h>

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace haven::devices::firmware {
namespace {

using memory::GuestAddr;

// QEMU docs/specs/fw_cfg.rst: port offsets from 0x510 and the DMA control bits.
constexpr uint64_t kSelector = 0, kData = 1, kDmaHigh = 4, kDmaLow = 8;
constexpr uint32_t kDmaError = 0x01, kDmaRead = 0x02, kDmaSkip = 0x04, kDmaSelect = 0x08,
                   kDmaWrite = 0x10;
constexpr uint64_t kRamSize = 1 << 20;
constexpr uint64_t kDescriptor = 0x1000, kBuffer = 0x2000;

std::vector<uint8_t> bytes_of(std::string_view text) {
  return {text.begin(), text.end()};
}

uint32_t be32(const uint8_t* bytes) {
  return uint32_t{bytes[0]} << 24 | uint32_t{bytes[1]} << 16 | uint32_t{bytes[2]} << 8 | bytes[3];
}

class FwCfgTest : public ::testing::Test {
 protected:
  void SetUp() override {
    memory::RegionSpec spec{GuestAddr(0), kRamSize};
    m_memory.emplace(memory::GuestMemory::create(std::span(&spec, 1)).value());
    m_fw_cfg.emplace(*m_memory);
  }

  void select(uint16_t key) {
    const uint8_t bytes[2] = {static_cast<uint8_t>(key), static_cast<uint8_t>(key >> 8)};
    m_fw_cfg->write(kSelector, bytes);
  }
  uint8_t read_byte(uint64_t offset = kData) {
    uint8_t value = 0xaa;
    m_fw_cfg->read(offset, std::span(&value, 1));
    return value;
  }
  std::vector<uint8_t> read_bytes(size_t count) {
    std::vector<uint8_t> out;
    for (size_t i = 0; i < count; ++i) out.push_back(read_byte());
    return out;
  }
  std::vector<uint8_t> read_item(uint16_t key, size_t count) {
    select(key);
    return read_bytes(count);
  }
  // A 32-bit port write whose bytes are `value` big-endian, as firmware writes the DMA address
  // (SeaBIOS: outl(cpu_to_be32(...)); the device's DMA register is big-endian).
  void write_be32(uint64_t offset, uint32_t value) {
    const uint8_t bytes[4] = {static_cast<uint8_t>(value >> 24), static_cast<uint8_t>(value >> 16),
                              static_cast<uint8_t>(value >> 8), static_cast<uint8_t>(value)};
    m_fw_cfg->write(offset, bytes);
  }
  // FWCfgDmaAccess, big-endian: u32 control, u32 length, u64 address.
  void put_descriptor(uint64_t at, uint32_t control, uint32_t length, uint64_t address) {
    std::array<uint8_t, 16> raw{};
    for (int i = 0; i < 4; ++i) raw[i] = static_cast<uint8_t>(control >> (24 - 8 * i));
    for (int i = 0; i < 4; ++i) raw[4 + i] = static_cast<uint8_t>(length >> (24 - 8 * i));
    for (int i = 0; i < 8; ++i) raw[8 + i] = static_cast<uint8_t>(address >> (56 - 8 * i));
    ASSERT_TRUE(m_memory->write_bytes(GuestAddr(at), raw));
  }
  void trigger(uint64_t descriptor) {
    write_be32(kDmaHigh, static_cast<uint32_t>(descriptor >> 32));
    write_be32(kDmaLow, static_cast<uint32_t>(descriptor));
  }
  // Runs one transfer described at kDescriptor; returns the control word written back.
  uint32_t dma(uint32_t control, uint32_t length, uint64_t address) {
    put_descriptor(kDescriptor, control, length, address);
    trigger(kDescriptor);
    return guest_be32(kDescriptor);
  }
  uint32_t guest_be32(uint64_t at) {
    std::array<uint8_t, 4> raw{};
    EXPECT_TRUE(m_memory->read_bytes(GuestAddr(at), raw));
    return be32(raw.data());
  }
  std::vector<uint8_t> guest_bytes(uint64_t at, size_t count) {
    std::vector<uint8_t> out(count);
    EXPECT_TRUE(m_memory->read_bytes(GuestAddr(at), out));
    return out;
  }
  void fill_guest(uint64_t at, size_t count, uint8_t value) {
    ASSERT_TRUE(m_memory->fill(GuestAddr(at), count, value));
  }

  std::optional<memory::GuestMemory> m_memory;
  std::optional<FwCfg> m_fw_cfg;
};

TEST_F(FwCfgTest, SignatureAndIdThroughThePorts) {
  EXPECT_EQ(read_item(FwCfg::kSignatureKey, 4), bytes_of("QEMU"));
  // ID bit 0: the traditional interface, bit 1: DMA. Both firmwares use DMA only when bit 1 is
  // set.
  EXPECT_EQ(read_item(FwCfg::kIdKey, 4), (std::vector<uint8_t>{3, 0, 0, 0}));
  EXPECT_EQ(read_item(FwCfg::kSignatureKey, 1), bytes_of("Q")) << "selecting rewinds";
  EXPECT_EQ(read_bytes(3), bytes_of("EMU"));
}

TEST_F(FwCfgTest, TheSignatureIsSelectedAtPowerOn) {
  EXPECT_EQ(read_bytes(4), bytes_of("QEMU"));
}

TEST_F(FwCfgTest, EitherPortOfThePairReadsTheDataStream) {
  select(FwCfg::kSignatureKey);
  EXPECT_EQ(read_byte(0), 'Q');
  EXPECT_EQ(read_byte(1), 'E');
  EXPECT_EQ(read_byte(2), 0xff) << "0x512 is not a data port";
}

TEST_F(FwCfgTest, ItemsReadZerosPastTheirEndAndUnknownKeysReadZeros) {
  m_fw_cfg->add_item(FwCfg::kCpuCountKey, le_bytes(4, 2));
  EXPECT_EQ(read_item(FwCfg::kCpuCountKey, 5), (std::vector<uint8_t>{4, 0, 0, 0, 0}));
  EXPECT_EQ(read_item(0x1234, 4), (std::vector<uint8_t>(4, 0)));
}

TEST_F(FwCfgTest, OnlyA16BitWriteAtTheSelectorSelects) {
  m_fw_cfg->add_item(0x05, {0x11});
  select(0x05);
  const uint8_t byte = FwCfg::kSignatureKey;
  m_fw_cfg->write(kSelector, std::span(&byte, 1));  // a retired data write: ignored
  m_fw_cfg->write(kData, std::span(&byte, 1));
  EXPECT_EQ(read_byte(), 0x11);
}

TEST_F(FwCfgTest, TheRetiredWriteFlagInTheKeyIsIgnored) {
  m_fw_cfg->add_item(0x05, {0x11});
  select(0x4005);  // FW_CFG_WRITE_CHANNEL, as QEMU ignores it
  EXPECT_EQ(read_byte(), 0x11);
}

TEST_F(FwCfgTest, TheFileDirectoryListsEveryFileBigEndian) {
  ASSERT_TRUE(m_fw_cfg->add_file("etc/e820", std::vector<uint8_t>(40, 1)));
  ASSERT_TRUE(m_fw_cfg->add_file("bootorder", bytes_of("/rom@genroms/x\n")));
  EXPECT_EQ(m_fw_cfg->file_key("etc/e820"), 0x20);
  EXPECT_EQ(m_fw_cfg->file_key("bootorder"), 0x21);
  EXPECT_FALSE(m_fw_cfg->file_key("etc/missing"));

  // FWCfgFiles: u32 count, then FWCfgFile {u32 size, u16 select, u16 reserved, char name[56]}.
  auto directory = read_item(FwCfg::kFileDirectoryKey, 4 + 2 * 64 + 8);
  EXPECT_EQ(be32(directory.data()), 2u);
  const uint8_t* first = directory.data() + 4;
  EXPECT_EQ(be32(first), 40u);
  EXPECT_EQ(first[4] << 8 | first[5], 0x20);
  EXPECT_EQ(first[6] | first[7], 0);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(first + 8)), "etc/e820");
  EXPECT_EQ(first[8 + 8], 0) << "NUL-padded";
  EXPECT_EQ(first[63], 0);
  const uint8_t* second = first + 64;
  EXPECT_EQ(be32(second), 15u);
  EXPECT_EQ(second[4] << 8 | second[5], 0x21);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(second + 8)), "bootorder");
  for (size_t i = 4 + 2 * 64; i < directory.size(); ++i)
    EXPECT_EQ(directory[i], 0) << "past the directory's end, at " << i;
}

TEST_F(FwCfgTest, AFileReadsThroughTheKeyItGot) {
  ASSERT_TRUE(m_fw_cfg->add_file("etc/sercon-port", le_bytes(0x3f8, 2)));
  auto key = m_fw_cfg->file_key("etc/sercon-port");
  ASSERT_TRUE(key);
  EXPECT_EQ(read_item(*key, 4), (std::vector<uint8_t>{0xf8, 0x03, 0, 0}));
}

TEST_F(FwCfgTest, FileNamesAreOneTo55CharactersAndUnique) {
  EXPECT_FALSE(m_fw_cfg->add_file("", {1}));
  EXPECT_TRUE(m_fw_cfg->add_file(std::string(FwCfg::kMaxFileName, 'a'), {1}))
      << "55 characters and the NUL fill the directory's 56 bytes";
  auto long_name = m_fw_cfg->add_file(std::string(FwCfg::kMaxFileName + 1, 'b'), {1});
  ASSERT_FALSE(long_name);
  EXPECT_NE(long_name.error().message().find("1 to 55 characters"), std::string::npos)
      << long_name.error().message();
  EXPECT_FALSE(m_fw_cfg->add_file(std::string("etc\0x", 5), {1}));
  ASSERT_TRUE(m_fw_cfg->add_file("etc/x", {1}));
  auto twice = m_fw_cfg->add_file("etc/x", {2});
  ASSERT_FALSE(twice);
  EXPECT_EQ(twice.error().message(), "fw_cfg: file 'etc/x' added twice");
  EXPECT_EQ(read_item(*m_fw_cfg->file_key("etc/x"), 1), std::vector<uint8_t>{1});
  EXPECT_EQ(be32(read_item(FwCfg::kFileDirectoryKey, 4).data()), 2u) << "refused files unlisted";
}

TEST_F(FwCfgTest, TheDmaRegisterReadsTheSignatureQemuCfg) {
  // QEMU docs/specs/fw_cfg.rst: reading the DMA address register returns "QEMU CFG" (a 64-bit
  // big-endian signature), by which a guest can detect the DMA interface.
  std::array<uint8_t, 4> first{}, second{};
  m_fw_cfg->read(kDmaHigh, first);
  m_fw_cfg->read(kDmaLow, second);
  EXPECT_EQ(std::string(first.begin(), first.end()) + std::string(second.begin(), second.end()),
            "QEMU CFG");
  std::string bytes;
  for (uint64_t offset = 4; offset < 12; ++offset) bytes += static_cast<char>(read_byte(offset));
  EXPECT_EQ(bytes, "QEMU CFG");
}

TEST_F(FwCfgTest, DmaSelectsAndReadsIntoGuestMemory) {
  ASSERT_TRUE(m_fw_cfg->add_file("etc/table-loader", bytes_of("0123456789")));
  uint16_t key = *m_fw_cfg->file_key("etc/table-loader");
  fill_guest(kBuffer, 16, 0xaa);
  EXPECT_EQ(dma(uint32_t{key} << 16 | kDmaSelect | kDmaRead, 10, kBuffer), 0u)
      << "control 0: done, no error";
  EXPECT_EQ(guest_bytes(kBuffer, 11), bytes_of("0123456789\xaa"));
  // A read without select carries on where the last one stopped.
  EXPECT_EQ(dma(kDmaRead, 1, kBuffer + 0x100), 0u);
  EXPECT_EQ(guest_bytes(kBuffer + 0x100, 1), std::vector<uint8_t>{0});
}

TEST_F(FwCfgTest, OnlyTheWriteOfTheLowHalfStartsATransfer) {
  m_fw_cfg->add_item(0x05, {0x42});
  put_descriptor(kDescriptor, 0x05u << 16 | kDmaSelect | kDmaRead, 1, kBuffer);
  write_be32(kDmaHigh, 0);
  EXPECT_EQ(guest_be32(kDescriptor), 0x05u << 16 | kDmaSelect | kDmaRead) << "not yet";
  write_be32(kDmaLow, kDescriptor);
  EXPECT_EQ(guest_be32(kDescriptor), 0u);
  EXPECT_EQ(guest_bytes(kBuffer, 1), std::vector<uint8_t>{0x42});
}

TEST_F(FwCfgTest, TheHighHalfAppliesToOneTransferOnly) {
  // As QEMU's fw_cfg_dma_transfer, which clears the address register when it starts: a high
  // half left from an earlier transfer must not redirect the next one.
  m_fw_cfg->add_item(0x05, {0x42});
  put_descriptor(kDescriptor, 0x05u << 16 | kDmaSelect | kDmaRead, 1, kBuffer);
  write_be32(kDmaHigh, 1);  // 4 GiB + kDescriptor: outside RAM, nothing happens
  write_be32(kDmaLow, kDescriptor);
  EXPECT_EQ(guest_be32(kDescriptor), 0x05u << 16 | kDmaSelect | kDmaRead);
  write_be32(kDmaLow, kDescriptor);
  EXPECT_EQ(guest_be32(kDescriptor), 0u);
}

TEST_F(FwCfgTest, DmaSkipMovesTheOffset) {
  ASSERT_TRUE(m_fw_cfg->add_file("etc/x", bytes_of("abcdef")));
  uint16_t key = *m_fw_cfg->file_key("etc/x");
  EXPECT_EQ(dma(uint32_t{key} << 16 | kDmaSelect | kDmaSkip, 2, 0), 0u);
  EXPECT_EQ(dma(kDmaRead, 3, kBuffer), 0u);
  EXPECT_EQ(guest_bytes(kBuffer, 3), bytes_of("cde"));
  EXPECT_EQ(read_byte(), 'f') << "the port reads from the same offset";
  EXPECT_EQ(dma(kDmaSkip, 100, 0), 0u) << "skipping past the end is fine";
  EXPECT_EQ(read_byte(), 0);
}

TEST_F(FwCfgTest, APortReadAndDmaShareTheOffset) {
  ASSERT_TRUE(m_fw_cfg->add_file("etc/x", bytes_of("abcdef")));
  select(*m_fw_cfg->file_key("etc/x"));
  EXPECT_EQ(read_bytes(2), bytes_of("ab"));
  EXPECT_EQ(dma(kDmaRead, 2, kBuffer), 0u);
  EXPECT_EQ(guest_bytes(kBuffer, 2), bytes_of("cd"));
}

TEST_F(FwCfgTest, ADmaReadLongerThanTheItemZeroFills) {
  m_fw_cfg->add_item(0x05, {1, 2, 3});
  fill_guest(kBuffer, 0x100, 0xaa);
  EXPECT_EQ(dma(0x05u << 16 | kDmaSelect | kDmaRead, 0x80, kBuffer), 0u);
  auto got = guest_bytes(kBuffer, 0x100);
  EXPECT_EQ(got[0], 1);
  EXPECT_EQ(got[2], 3);
  for (size_t i = 3; i < 0x80; ++i) EXPECT_EQ(got[i], 0) << i;
  for (size_t i = 0x80; i < 0x100; ++i) EXPECT_EQ(got[i], 0xaa) << "past the length, at " << i;
}

TEST_F(FwCfgTest, ADmaReadOfAnUnknownKeyZeroFills) {
  fill_guest(kBuffer, 8, 0xaa);
  EXPECT_EQ(dma(0x1234u << 16 | kDmaSelect | kDmaRead, 8, kBuffer), 0u);
  EXPECT_EQ(guest_bytes(kBuffer, 8), std::vector<uint8_t>(8, 0));
}

TEST_F(FwCfgTest, ALongDmaReadCrossesItsCopyChunks) {
  std::vector<uint8_t> big(200 * 1024);
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<uint8_t>(i * 7 + i / 251);
  ASSERT_TRUE(m_fw_cfg->add_file("etc/acpi/tables", big));
  uint16_t key = *m_fw_cfg->file_key("etc/acpi/tables");
  EXPECT_EQ(dma(uint32_t{key} << 16 | kDmaSelect | kDmaRead, 300 * 1024, 0x10000), 0u);
  EXPECT_EQ(guest_bytes(0x10000, big.size()), big);
  EXPECT_EQ(guest_bytes(0x10000 + big.size(), 100 * 1024), std::vector<uint8_t>(100 * 1024, 0));
}

TEST_F(FwCfgTest, DmaWritesFailWithTheErrorBit) {
  ASSERT_TRUE(m_fw_cfg->add_file("etc/x", bytes_of("abc")));
  uint16_t key = *m_fw_cfg->file_key("etc/x");
  fill_guest(kBuffer, 3, 'z');
  EXPECT_EQ(dma(uint32_t{key} << 16 | kDmaSelect | kDmaWrite, 3, kBuffer), kDmaError);
  EXPECT_EQ(read_item(key, 3), bytes_of("abc")) << "no item is writable";
}

TEST_F(FwCfgTest, ABufferOutsideGuestRamFailsWithTheErrorBit) {
  m_fw_cfg->add_item(0x05, {1, 2, 3, 4});
  EXPECT_EQ(dma(0x05u << 16 | kDmaSelect | kDmaRead, 4, 2 * kRamSize), kDmaError);
  EXPECT_EQ(dma(0x05u << 16 | kDmaSelect | kDmaRead, 4, kRamSize - 2), kDmaError)
      << "straddling the end of RAM";
  EXPECT_EQ(dma(0x05u << 16 | kDmaSelect | kDmaRead, 8, kRamSize - 6), kDmaError)
      << "the zero fill past the item straddling the end";
  EXPECT_EQ(dma(0x05u << 16 | kDmaSelect | kDmaRead, 16, ~uint64_t{0} - 7), kDmaError)
      << "an address that wraps";
  EXPECT_EQ(dma(0x05u << 16 | kDmaSelect | kDmaRead, 4, kRamSize - 4), 0u) << "just inside";
}

TEST_F(FwCfgTest, ADescriptorOutsideGuestRamDoesNothing) {
  // Nowhere to report the error: the transfer is dropped (and nothing outside RAM is touched,
  // which ASan checks).
  m_fw_cfg->add_item(0x05, {0x42});
  fill_guest(kBuffer, 1, 0xaa);
  trigger(2 * kRamSize);
  trigger(kRamSize - 8);  // the descriptor's 16 bytes straddle the end
  put_descriptor(kRamSize - 16, 0x05u << 16 | kDmaSelect | kDmaRead, 1, kBuffer);
  trigger(kRamSize - 16);  // just inside: works
  EXPECT_EQ(guest_be32(kRamSize - 16), 0u);
  EXPECT_EQ(guest_bytes(kBuffer, 1), std::vector<uint8_t>{0x42});
}

TEST_F(FwCfgTest, RefreshReplacesAFileWhenSelectedIfTheSizeMatches) {
  ASSERT_TRUE(m_fw_cfg->add_file("etc/acpi/tables", bytes_of("old!")));
  uint16_t key = *m_fw_cfg->file_key("etc/acpi/tables");
  std::string next = "new!";
  int calls = 0;
  ASSERT_TRUE(m_fw_cfg->set_refresh("etc/acpi/tables", [&] {
    ++calls;
    return bytes_of(next);
  }));
  EXPECT_EQ(calls, 0) << "made when firmware selects it, not before";
  EXPECT_EQ(read_item(key, 4), bytes_of("new!"));
  EXPECT_EQ(calls, 1);
  next = "longer";  // the directory already told firmware the size: keep the old contents
  EXPECT_EQ(read_item(key, 6), (std::vector<uint8_t>{'n', 'e', 'w', '!', 0, 0}));
  next = "dma!";
  EXPECT_EQ(dma(uint32_t{key} << 16 | kDmaSelect | kDmaRead, 4, kBuffer), 0u);
  EXPECT_EQ(guest_bytes(kBuffer, 4), bytes_of("dma!"));
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(be32(read_item(FwCfg::kFileDirectoryKey, 8).data() + 4), 4u);
}

TEST_F(FwCfgTest, RefreshNeedsAnExistingFile) {
  auto result = m_fw_cfg->set_refresh("etc/none", [] { return std::vector<uint8_t>{}; });
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().message(), "fw_cfg: no file 'etc/none'");
}

TEST_F(FwCfgTest, SnapshotKeepsTheSelectionTheOffsetAndTheDmaHighHalf) {
  ASSERT_TRUE(m_fw_cfg->add_file("etc/x", bytes_of("abcdef")));
  select(*m_fw_cfg->file_key("etc/x"));
  EXPECT_EQ(read_bytes(2), bytes_of("ab"));
  write_be32(kDmaHigh, 1);
  DeviceState saved = DeviceState::parse(m_fw_cfg->save_state().dump());

  FwCfg restored(*m_memory);
  ASSERT_TRUE(restored.add_file("etc/x", bytes_of("abcdef")));
  auto result = restored.restore_state(saved);
  ASSERT_TRUE(result) << result.error().message();
  uint8_t next = 0;
  restored.read(kData, std::span(&next, 1));
  EXPECT_EQ(next, 'c');
  // The saved high half still applies: 4 GiB + kDescriptor is outside RAM, nothing happens.
  put_descriptor(kDescriptor, kDmaRead, 1, kBuffer);
  const uint8_t low[4] = {0, 0, 0x10, 0x00};
  restored.write(kDmaLow, low);
  EXPECT_EQ(guest_be32(kDescriptor), kDmaRead);

  for (const char* field : {"key", "offset", "dma_address"}) {
    DeviceState broken = saved;
    broken.erase(field);
    EXPECT_FALSE(restored.restore_state(broken)) << field;
  }
  DeviceState broken = saved;
  broken["key"] = 0x10000;
  EXPECT_FALSE(restored.restore_state(broken));
}

TEST(FwCfgBytes, LittleEndianItems) {
  EXPECT_EQ(le_bytes(0x12345678, 4), (std::vector<uint8_t>{0x78, 0x56, 0x34, 0x12}));
  EXPECT_EQ(le_bytes(0x3f8, 2), (std::vector<uint8_t>{0xf8, 0x03}));
  EXPECT_EQ(le_bytes(0x1122334455667788, 8),
            (std::vector<uint8_t>{0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11}));
}

}  // namespace
}  // namespace haven::devices::firmware
