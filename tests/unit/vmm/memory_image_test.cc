#include "vmm/memory_image.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <vector>

#include "base/sys.h"
#include "base/units.h"

namespace haven::vmm {
namespace {

const std::string kId = "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a";

using memory::GuestAddr;
using memory::GuestMemory;

constexpr uint64_t kPage = 4096;
constexpr uint64_t kHigh = 4 * GiB;  // the second region, above a PCI hole

std::vector<uint8_t> pattern(size_t size, uint8_t seed) {
  std::vector<uint8_t> bytes(size);
  for (size_t i = 0; i < size; ++i) bytes[i] = static_cast<uint8_t>(seed ^ (i * 13));
  return bytes;
}

// Whether two guest memories hold the same regions and bytes.
void expect_same_memory(const GuestMemory& a, const GuestMemory& b) {
  ASSERT_EQ(a.regions().size(), b.regions().size());
  for (size_t i = 0; i < a.regions().size(); ++i) {
    const memory::Region &ra = a.regions()[i], &rb = b.regions()[i];
    ASSERT_EQ(ra.start, rb.start);
    ASSERT_EQ(ra.size(), rb.size());
    EXPECT_TRUE(std::equal(ra.host.data(), ra.host.data() + ra.size(), rb.host.data()))
        << "region " << i << " differs";
  }
}

class MemoryImageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string dir = ::testing::TempDir() + "haven-memory-image-XXXXXX";
    ASSERT_NE(::mkdtemp(dir.data()), nullptr);
    m_dir = dir;
    m_path = m_dir + "/memory";
    // 16 MiB low and 1 MiB high; a few pages of data, a run longer than one write, a page
    // the guest touched but left zero, and untouched pages everywhere else.
    const memory::RegionSpec specs[] = {{GuestAddr(0), 16 * MiB}, {GuestAddr(kHigh), MiB}};
    auto created = GuestMemory::create(specs);
    ASSERT_TRUE(created) << created.error().message();
    m_memory = std::make_unique<GuestMemory>(std::move(*created));
    ASSERT_TRUE(m_memory->write_bytes(GuestAddr(0x1000), pattern(kPage, 1)));
    ASSERT_TRUE(m_memory->fill(GuestAddr(4 * MiB), 9 * MiB, 0xab));
    ASSERT_TRUE(m_memory->fill(GuestAddr(2 * MiB), kPage, 0));
    ASSERT_TRUE(m_memory->write_bytes(GuestAddr(kHigh + MiB - kPage), pattern(kPage, 2)));
    ASSERT_TRUE(m_memory->write<uint64_t>(GuestAddr(kHigh + 5), 0x1122334455667788));
  }
  void TearDown() override { std::filesystem::remove_all(m_dir); }

  static struct stat stat_of(const std::string& path) {
    struct stat st {};
    EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
    return st;
  }

  std::string m_dir;
  std::string m_path;
  std::unique_ptr<GuestMemory> m_memory;
};

TEST_F(MemoryImageTest, WritesEveryRegionInOrderWithHolesForZeros) {
  auto image = write_memory_image(*m_memory, m_path, kId);
  ASSERT_TRUE(image) << image.error().message();
  ASSERT_EQ(image->regions.size(), 2u);
  EXPECT_EQ(image->regions[0].guest_address, 0u);
  EXPECT_EQ(image->regions[0].size, 16 * MiB);
  EXPECT_EQ(image->regions[0].file_offset, 0u);
  EXPECT_EQ(image->regions[1].guest_address, kHigh);
  EXPECT_EQ(image->regions[1].size, MiB);
  EXPECT_EQ(image->regions[1].file_offset, 16 * MiB);
  // Data is written in blocks around what the guest wrote, never the untouched or zero pages.
  EXPECT_GE(image->data_bytes, 9 * MiB + 3 * kPage);
  EXPECT_LE(image->data_bytes, 10 * MiB);

  struct stat st = stat_of(m_path);
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), 17 * MiB + 64) << "the regions, then the mark";
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_LT(static_cast<uint64_t>(st.st_blocks) * 512, 11 * MiB)
      << "the untouched memory became " << st.st_blocks * 512 << " bytes on disk";
  EXPECT_FALSE(std::filesystem::exists(m_path + ".tmp"));

  auto fd = sys::open(m_path, O_RDONLY);
  ASSERT_TRUE(fd);
  std::vector<uint8_t> page(kPage);
  ASSERT_TRUE(sys::read_at(fd->get(), page, 0x1000));
  EXPECT_EQ(page, pattern(kPage, 1));
  ASSERT_TRUE(sys::read_at(fd->get(), page, 17 * MiB - kPage));
  EXPECT_EQ(page, pattern(kPage, 2)) << "the high region follows the low one in the file";
}

// RAM another snapshot saved is refused; a snapshot from before the mark checks none.
TEST_F(MemoryImageTest, AnImageOfAnotherSnapshotIsRefused) {
  auto image = write_memory_image(*m_memory, m_path, kId).value();
  const std::string other = "0123456789abcdef0123456789abcdef";
  auto refused = map_memory_image(m_path, image.regions, other);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message().find("do not belong together"), std::string::npos)
      << refused.error().message();
  EXPECT_TRUE(map_memory_image(m_path, image.regions, ""));
  ASSERT_EQ(::truncate(m_path.c_str(), 17 * MiB), 0);  // as written before the mark
  EXPECT_FALSE(map_memory_image(m_path, image.regions, kId));
  EXPECT_TRUE(map_memory_image(m_path, image.regions, ""));
}

TEST_F(MemoryImageTest, MappedBackItHoldsTheSameBytes) {
  auto image = write_memory_image(*m_memory, m_path, kId);
  ASSERT_TRUE(image) << image.error().message();
  auto mapped = map_memory_image(m_path, image->regions, kId);
  ASSERT_TRUE(mapped) << mapped.error().message();
  expect_same_memory(*m_memory, *mapped);
  EXPECT_FALSE(mapped->regions()[0].anonymous);
  EXPECT_EQ(mapped->read<uint64_t>(GuestAddr(kHigh + 5)).value(), 0x1122334455667788u);
}

TEST_F(MemoryImageTest, TheGuestsWritesNeverReachTheImage) {
  auto image = write_memory_image(*m_memory, m_path, kId).value();
  auto mapped = map_memory_image(m_path, image.regions, kId);
  ASSERT_TRUE(mapped) << mapped.error().message();
  ASSERT_TRUE(mapped->fill(GuestAddr(0x1000), kPage, 0xee));
  ASSERT_TRUE(mapped->write<uint32_t>(GuestAddr(kHigh), 0xfeedface));
  EXPECT_EQ(mapped->read<uint8_t>(GuestAddr(0x1000)).value(), 0xee);

  auto fd = sys::open(m_path, O_RDONLY);
  ASSERT_TRUE(fd);
  std::vector<uint8_t> page(kPage);
  ASSERT_TRUE(sys::read_at(fd->get(), page, 0x1000));
  EXPECT_EQ(page, pattern(kPage, 1));
  auto again = map_memory_image(m_path, image.regions, kId);
  ASSERT_TRUE(again);
  expect_same_memory(*m_memory, *again);
}

// A restored guest's memory (a private file mapping) is snapshotted again.
TEST_F(MemoryImageTest, ARestoredGuestCanBeSnapshottedAgain) {
  auto image = write_memory_image(*m_memory, m_path, kId).value();
  auto mapped = map_memory_image(m_path, image.regions, kId).value();
  ASSERT_TRUE(mapped.write<uint64_t>(GuestAddr(0x3000), 42));
  std::string second = m_dir + "/memory-2";
  auto image2 = write_memory_image(mapped, second, kId);
  ASSERT_TRUE(image2) << image2.error().message();
  auto restored = map_memory_image(second, image2->regions, kId);
  ASSERT_TRUE(restored) << restored.error().message();
  expect_same_memory(mapped, *restored);
  EXPECT_EQ(restored->read<uint64_t>(GuestAddr(0x3000)).value(), 42u);
}

// A new snapshot into the same directory renames a new file over the image: a guest running
// from the old one keeps seeing the old bytes.
TEST_F(MemoryImageTest, ReplacingTheImageLeavesARunningGuestItsCopy) {
  auto image = write_memory_image(*m_memory, m_path, kId).value();
  auto running = map_memory_image(m_path, image.regions, kId).value();
  ASSERT_TRUE(m_memory->fill(GuestAddr(0x1000), kPage, 0x77));
  ASSERT_TRUE(write_memory_image(*m_memory, m_path, kId));
  std::vector<uint8_t> page(kPage);
  ASSERT_TRUE(running.read_bytes(GuestAddr(0x1000), page));
  EXPECT_EQ(page, pattern(kPage, 1));
  auto replaced = map_memory_image(m_path, image.regions, kId).value();
  EXPECT_EQ(replaced.read<uint8_t>(GuestAddr(0x1000)).value(), 0x77);
}

TEST_F(MemoryImageTest, AnImageTooShortForItsRegionsIsRefused) {
  auto image = write_memory_image(*m_memory, m_path, kId).value();
  ASSERT_EQ(::truncate(m_path.c_str(), static_cast<off_t>(16 * MiB + kPage)), 0);
  auto mapped = map_memory_image(m_path, image.regions, kId);
  ASSERT_FALSE(mapped);
  EXPECT_NE(mapped.error().message().find("too short"), std::string::npos)
      << mapped.error().message();
  EXPECT_NE(mapped.error().message().find(m_path), std::string::npos);

  std::vector<SnapshotRegion> wrapping = {{0, 16 * MiB, ~uint64_t{0} - kPage + 1}};
  EXPECT_FALSE(map_memory_image(m_path, wrapping, kId)) << "offset + size wraps around";
  EXPECT_FALSE(map_memory_image(m_dir + "/no-such-image", image.regions, kId));
}

TEST_F(MemoryImageTest, RegionsThatAreNotGuestMemoryAreRefused) {
  auto image = write_memory_image(*m_memory, m_path, kId).value();
  std::vector<SnapshotRegion> unaligned = {{0, 16 * MiB, 100}};
  EXPECT_FALSE(map_memory_image(m_path, unaligned, kId)) << "file offset not page-aligned";
  std::vector<SnapshotRegion> odd_size = {{0, 5000, 0}};
  EXPECT_FALSE(map_memory_image(m_path, odd_size, kId));
  std::vector<SnapshotRegion> overlapping = {{0, 16 * MiB, 0}, {MiB, MiB, 16 * MiB}};
  EXPECT_FALSE(map_memory_image(m_path, overlapping, kId));
}

}  // namespace
}  // namespace haven::vmm
