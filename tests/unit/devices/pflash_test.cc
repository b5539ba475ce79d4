#include "devices/firmware/pflash.h"

#include <gtest/gtest.h>

#include <optional>
#include <utility>
#include <vector>

namespace haven::devices::firmware {
namespace {

// Intel command set as OVMF's QemuFlash.c names it.
constexpr uint8_t kReadArray = 0xff, kClearStatus = 0x50, kReadStatus = 0x70, kWriteByte = 0x10,
                  kBlockErase = 0x20, kEraseConfirm = 0xd0, kCfiQuery = 0x98;
constexpr uint8_t kReady = 0x80, kEraseError = 0x20, kProgramError = 0x10;
constexpr size_t kChipSize = 32 * Pflash::kSectorSize;  // 128 KiB

// A chip over a varstore-like array whose first 16 bytes are zero (a firmware volume header's
// ZeroVector), then bytes that are a function of their offset. The guest reads the view (the
// read-only memory slot); the test records what the chip asked to make durable.
class PflashTest : public ::testing::Test {
 protected:
  PflashTest() : m_array(kChipSize) {
    for (size_t i = 16; i < m_array.size(); ++i) m_array[i] = static_cast<uint8_t>(0x80 + i % 61);
    m_original = m_array;
    m_view = m_array;
  }
  void make(bool writable = true) {
    m_flash.emplace(m_array, m_view, writable, [this](uint64_t offset, uint64_t length) {
      m_persisted.emplace_back(offset, length);
    });
  }
  // A guest read: from the memory slot, which never exits to the device.
  uint8_t guest_read(uint64_t offset) { return m_view.at(offset); }
  // A read that reaches the device (the slot is not mapped there).
  uint8_t device_read(uint64_t offset) {
    uint8_t value = 0xaa;
    m_flash->read(offset, std::span(&value, 1));
    return value;
  }
  void write(uint64_t offset, uint8_t value) { m_flash->write(offset, std::span(&value, 1)); }
  // Bytes where the view differs from the array.
  std::vector<size_t> view_differs() {
    std::vector<size_t> at;
    for (size_t i = 0; i < m_view.size(); ++i)
      if (m_view[i] != m_array[i]) at.push_back(i);
    return at;
  }

  std::vector<uint8_t> m_array;
  std::vector<uint8_t> m_original;
  std::vector<uint8_t> m_view;
  std::vector<std::pair<uint64_t, uint64_t>> m_persisted;
  std::optional<Pflash> m_flash;
};

// OVMF's QemuFlashDetected (OvmfPkg/QemuFlashFvbServicesRuntimeDxe/QemuFlash.c), step by step:
// it decides between RAM, ROM and flash by what a byte reads after each command, and uses the
// variable store only when it is flash. Its reads go through the memory slot.
TEST_F(PflashTest, PassesOvmfsDetectionAsFlash) {
  make();
  uint64_t probe = 0;
  for (; probe < Pflash::kSectorSize; ++probe) {
    uint8_t byte = guest_read(probe);
    if (byte != kClearStatus && byte != kReadStatus && byte != 0x00) break;
  }
  ASSERT_EQ(probe, 16u) << "the first byte that is no command and no cleared status";
  uint8_t original = guest_read(probe);
  write(probe, kClearStatus);
  // RAM would read back 0x50; flash is in read-array mode again after clearing its status.
  EXPECT_EQ(guest_read(probe), original);
  write(probe, kReadStatus);
  // ROM would read the original byte, RAM 0x70; flash reads its cleared status.
  EXPECT_EQ(guest_read(probe), 0x00);
  write(probe, kReadArray);
  EXPECT_EQ(guest_read(probe), original);
  EXPECT_TRUE(m_flash->in_read_array_mode());
  EXPECT_EQ(m_array, m_original) << "detection changes nothing";
  EXPECT_EQ(m_view, m_array);
  EXPECT_TRUE(m_persisted.empty());
}

// A command's status shows at the address the command was written to, and only there; read
// array puts the array's byte back (pflash.h).
TEST_F(PflashTest, TheViewShowsTheStatusWhereTheCommandWasWritten) {
  make();
  write(0x1234, kReadStatus);
  EXPECT_EQ(view_differs(), std::vector<size_t>{0x1234});
  EXPECT_EQ(guest_read(0x1234), kReady);
  EXPECT_EQ(device_read(0x4321), kReady) << "the chip itself answers the status anywhere";
  write(0x2000, kReadStatus);
  EXPECT_EQ(view_differs(), std::vector<size_t>{0x2000}) << "the old cell shows data again";
  write(0x2000, kReadArray);
  EXPECT_TRUE(view_differs().empty());
  EXPECT_EQ(device_read(0x2000), m_array[0x2000]);
  for (uint8_t read_array : {0x00, 0xf0}) {
    write(0x10, kReadStatus);
    write(0x10, read_array);
    EXPECT_TRUE(m_flash->in_read_array_mode()) << int{read_array};
    EXPECT_TRUE(view_differs().empty()) << int{read_array};
  }
}

// QemuFlashWrite: for each byte 0x10 then the byte, and 0xff after the last.
TEST_F(PflashTest, ProgramStoresBytesAndPersistsOnTheFinalReadArray) {
  make();
  const uint8_t data[3] = {0x01, 0x02, 0x03};
  for (uint64_t i = 0; i < 3; ++i) {
    write(0x2000 + i, kWriteByte);
    write(0x2000 + i, data[i]);
    EXPECT_EQ(guest_read(0x2000 + i), kReady) << "status reads until the next command";
    EXPECT_EQ(device_read(0x2000 + i), kReady);
  }
  EXPECT_EQ(m_array[0x2000], 0x01);
  EXPECT_EQ(m_array[0x2002], 0x03);
  EXPECT_EQ(guest_read(0x2001), 0x02) << "earlier bytes show their data again";
  EXPECT_TRUE(m_persisted.empty()) << "nothing synced in the middle of a variable write";
  write(0x2002, kReadArray);
  ASSERT_EQ(m_persisted.size(), 1u);
  EXPECT_EQ(m_persisted[0], (std::pair<uint64_t, uint64_t>{0, kChipSize}));
  EXPECT_EQ(guest_read(0x2002), 0x03);
  EXPECT_EQ(m_view, m_array);
  EXPECT_EQ(m_flash->status(), kReady);
  EXPECT_EQ(m_array[0x1fff], m_original[0x1fff]);
  EXPECT_EQ(m_array[0x2003], m_original[0x2003]);
}

TEST_F(PflashTest, ProgrammedDataReplacesTheOldBitsAsQemuDoes) {
  make();
  write(0x10, 0x40);  // the other program command
  write(0x10, 0xff);
  write(0x10, kReadArray);
  EXPECT_EQ(m_array[0x10], 0xff) << "not ANDed with the old value";
  EXPECT_EQ(guest_read(0x10), 0xff);
}

TEST_F(PflashTest, AWideProgramWriteStoresEveryByte) {
  make();
  write(0x30, kWriteByte);
  const uint8_t word[4] = {0xde, 0xad, 0xbe, 0xef};
  m_flash->write(0x30, word);
  write(0x30, kReadArray);
  EXPECT_EQ(std::vector<uint8_t>(m_array.begin() + 0x30, m_array.begin() + 0x34),
            (std::vector<uint8_t>{0xde, 0xad, 0xbe, 0xef}));
  EXPECT_EQ(m_view, m_array);
}

// QemuFlashEraseBlock: 0x20, 0xd0, then 0xff.
TEST_F(PflashTest, EraseFillsThe4KiBSectorWithOnesAndPersistsIt) {
  make();
  write(0x3123, kBlockErase);
  write(0x3123, kEraseConfirm);
  EXPECT_EQ(guest_read(0x3123), kReady) << "status after the erase";
  write(0x3123, kReadArray);
  EXPECT_TRUE(m_flash->in_read_array_mode());
  for (size_t i = 0x3000; i < 0x4000; ++i) ASSERT_EQ(m_array[i], 0xff) << std::hex << i;
  EXPECT_EQ(m_array[0x2fff], m_original[0x2fff]);
  EXPECT_EQ(m_array[0x4000], m_original[0x4000]);
  EXPECT_EQ(m_view, m_array) << "the guest sees the erased sector";
  EXPECT_EQ(m_persisted, (std::vector<std::pair<uint64_t, uint64_t>>{{0x3000, 0x1000}}));
}

TEST_F(PflashTest, AnEraseNotConfirmedChangesNothing) {
  make();
  write(0x3123, kBlockErase);
  write(0x3123, kReadArray);  // not the confirm
  EXPECT_TRUE(m_flash->in_read_array_mode());
  EXPECT_EQ(m_array, m_original);
  EXPECT_EQ(m_view, m_array);
  EXPECT_TRUE(m_persisted.empty());
}

TEST_F(PflashTest, ReadStatusShowsReadyAfterAnOperation) {
  make();
  write(0, kClearStatus);
  write(0, kReadStatus);
  EXPECT_EQ(guest_read(0), 0x00);
  EXPECT_EQ(device_read(0x1234), 0x00) << "any address reads the status";
  write(0, kReadArray);
  write(0x40, kWriteByte);
  write(0x40, 0x55);
  write(0, kReadStatus);
  EXPECT_EQ(guest_read(0), kReady);
}

TEST_F(PflashTest, AReadOnlyChipReportsErrorsAndChangesNothing) {
  make(/*writable=*/false);
  write(0x100, kWriteByte);
  write(0x100, 0x00);
  EXPECT_EQ(guest_read(0x100), kReady | kProgramError);
  write(0x100, kReadArray);
  write(0x5000, kBlockErase);
  write(0x5000, kEraseConfirm);
  EXPECT_EQ(guest_read(0x5000), kReady | kProgramError | kEraseError);
  write(0x5000, kReadArray);
  EXPECT_EQ(m_array, m_original);
  EXPECT_EQ(m_view, m_original);
  write(0, kClearStatus);
  EXPECT_EQ(m_flash->status(), 0x00) << "clear status clears the error bits";
}

TEST_F(PflashTest, CfiQueryAnswersQryAndTheGeometry) {
  make();
  write(0x55, kCfiQuery);
  EXPECT_FALSE(m_flash->in_read_array_mode());
  // Reads that reach the chip answer its CFI table (JESD68.01).
  EXPECT_EQ(device_read(0x10), 'Q');
  EXPECT_EQ(device_read(0x11), 'R');
  EXPECT_EQ(device_read(0x12), 'Y');
  EXPECT_EQ(device_read(0x27), 17) << "2^17 bytes";
  EXPECT_EQ(device_read(0x2d) | device_read(0x2e) << 8, 31) << "32 erase blocks, less one";
  EXPECT_EQ(device_read(0x2f) | device_read(0x30) << 8, 0x10) << "of 16 * 256 bytes";
  EXPECT_EQ(device_read(0x31), 'P');
  // The view shows the query code at the command's address only.
  EXPECT_EQ(view_differs(), std::vector<size_t>{0x55});
  EXPECT_EQ(guest_read(0x55), 0x00);
  write(0, kReadArray);
  EXPECT_TRUE(m_flash->in_read_array_mode());
  EXPECT_EQ(device_read(0x10), m_original[0x10]);
  EXPECT_TRUE(view_differs().empty());
}

TEST_F(PflashTest, ReadIdAnswersZeros) {
  make();
  write(0x20, 0x90);
  EXPECT_EQ(device_read(0), 0x00);
  EXPECT_EQ(device_read(1), 0x00);
  EXPECT_EQ(guest_read(0x20), 0x00);
  write(0, kReadArray);
  EXPECT_EQ(device_read(0x20), m_original[0x20]);
  EXPECT_TRUE(view_differs().empty());
}

TEST_F(PflashTest, BlockLockCommandsAreAcceptedAndLockNothing) {
  make();
  write(0x1000, 0x60);
  write(0x1000, 0x01);  // set block lock
  EXPECT_TRUE(m_flash->in_read_array_mode());
  write(0x1000, kWriteByte);
  write(0x1000, 0x77);
  write(0x1000, kReadArray);
  EXPECT_EQ(m_array[0x1000], 0x77);
  EXPECT_EQ(guest_read(0x1000), 0x77);
}

// Offsets come from the guest: past the array nothing is written, to the array or the view.
// (Under ASan, a write past either vector is caught.)
TEST_F(PflashTest, OffsetsPastTheArrayAreHarmless) {
  make();
  EXPECT_EQ(device_read(kChipSize), 0xff) << "read array past the end";
  write(kChipSize, kWriteByte);
  write(kChipSize, 0x00);
  EXPECT_EQ(device_read(kChipSize), kReady | kProgramError);
  write(kChipSize, kReadArray);
  write(kChipSize - 1, kWriteByte);
  const uint8_t two[2] = {1, 2};
  m_flash->write(kChipSize - 1, two);  // straddles the end
  EXPECT_EQ(m_flash->status() & kProgramError, kProgramError);
  write(0, kClearStatus);
  write(kChipSize + Pflash::kSectorSize, kBlockErase);
  write(kChipSize + Pflash::kSectorSize, kEraseConfirm);
  EXPECT_EQ(m_flash->status(), kReady | kEraseError);
  for (uint8_t command : {kCfiQuery, uint8_t{0x90}, kReadStatus, uint8_t{0x60}}) {
    write(~uint64_t{0}, command);
    write(~uint64_t{0}, kReadArray);
  }
  write(~uint64_t{0}, kWriteByte);
  write(~uint64_t{0}, 0x00);
  EXPECT_EQ(m_flash->status() & kProgramError, kProgramError);
  write(0, kReadArray);
  EXPECT_EQ(m_array, m_original);
  EXPECT_EQ(m_view, m_original);
  ASSERT_EQ(m_persisted.size(), 2u) << "the two program cycles ended with read array";
}

TEST_F(PflashTest, SnapshotRestoresTheCommandState) {
  make();
  write(0, kClearStatus);
  write(0x100, kWriteByte);  // the data write is due
  DeviceState saved = DeviceState::parse(m_flash->save_state().dump());

  std::vector<uint8_t> view = m_array;  // a restored guest's slot shows the array
  Pflash restored(m_array, view, true, {});
  auto result = restored.restore_state(saved);
  ASSERT_TRUE(result) << result.error().message();
  EXPECT_FALSE(restored.in_read_array_mode());
  EXPECT_EQ(restored.status(), 0x00);
  EXPECT_EQ(view, m_array) << "no status cell after a restore";
  const uint8_t data = 0x99;
  restored.write(0x100, std::span(&data, 1));
  EXPECT_EQ(m_array[0x100], 0x99) << "the due data write completes the program";
  EXPECT_EQ(restored.status(), kReady);
  EXPECT_EQ(view[0x100], kReady);
  const uint8_t read_array = kReadArray;
  restored.write(0x100, std::span(&read_array, 1));
  EXPECT_EQ(view, m_array);

  DeviceState bad_mode = saved;
  bad_mode["mode"] = 99;
  EXPECT_FALSE(restored.restore_state(bad_mode));
  for (const char* field : {"mode", "data_cycle", "status"}) {
    DeviceState missing = saved;
    missing.erase(field);
    EXPECT_FALSE(restored.restore_state(missing)) << field;
  }
}

TEST_F(PflashTest, ASnapshotInStatusModeAnswersTheStatus) {
  make();
  write(0x10, kReadStatus);
  DeviceState saved = DeviceState::parse(m_flash->save_state().dump());
  std::vector<uint8_t> view = m_array;
  Pflash restored(m_array, view, true, {});
  ASSERT_TRUE(restored.restore_state(saved));
  EXPECT_FALSE(restored.in_read_array_mode());
  uint8_t value = 0;
  restored.read(0x10, std::span(&value, 1));
  EXPECT_EQ(value, kReady);
  const uint8_t read_array = kReadArray;
  restored.write(0x10, std::span(&read_array, 1));
  EXPECT_TRUE(restored.in_read_array_mode());
  EXPECT_EQ(view, m_array);
}

}  // namespace
}  // namespace haven::devices::firmware
