#include "base/file_extents.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <string>
#include <vector>

#include "base/sys.h"
#include "base/units.h"

namespace haven {
namespace {

constexpr uint64_t kBlock = 4096;

std::vector<uint8_t> pattern(size_t size, uint8_t seed) {
  std::vector<uint8_t> bytes(size);
  for (size_t i = 0; i < size; ++i) bytes[i] = static_cast<uint8_t>(seed + i * 7);
  return bytes;
}

struct Piece {
  uint64_t offset;
  std::vector<uint8_t> bytes;
};

class FileExtentsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string dir = ::testing::TempDir() + "haven-extents-XXXXXX";
    ASSERT_NE(::mkdtemp(dir.data()), nullptr);
    m_dir = dir;
  }
  void TearDown() override { std::filesystem::remove_all(m_dir); }

  // A file of `size` bytes holding only `pieces`; the rest is never written (holes).
  std::string make_sparse(const std::string& name, uint64_t size,
                          const std::vector<Piece>& pieces) {
    std::string path = m_dir + "/" + name;
    auto fd = sys::open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
    EXPECT_TRUE(fd) << fd.error().message();
    if (!fd) return path;
    EXPECT_EQ(::ftruncate(fd->get(), static_cast<off_t>(size)), 0);
    for (const Piece& piece : pieces)
      EXPECT_TRUE(sys::write_at(fd->get(), piece.bytes, piece.offset));
    return path;
  }

  // Whether this file system reports holes (SEEK_DATA past a leading hole); without that,
  // every file is one extent of data, which is what data_extents then rightly says.
  bool reports_holes() {
    std::string path = make_sparse("probe", 2 * MiB, {{MiB, pattern(kBlock, 1)}});
    auto fd = sys::open(path, O_RDONLY);
    off_t data = fd ? ::lseek(fd->get(), 0, SEEK_DATA) : -1;
    ::unlink(path.c_str());
    return data > 0;
  }

  static struct stat stat_of(const std::string& path) {
    struct stat st {};
    EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
    return st;
  }

  // Compares the two files a mebibyte at a time.
  static void expect_same_contents(const std::string& a, const std::string& b) {
    auto fa = sys::open(a, O_RDONLY), fb = sys::open(b, O_RDONLY);
    ASSERT_TRUE(fa && fb);
    uint64_t size = static_cast<uint64_t>(stat_of(a).st_size);
    ASSERT_EQ(static_cast<uint64_t>(stat_of(b).st_size), size);
    std::vector<uint8_t> ba(MiB), bb(MiB);
    for (uint64_t at = 0; at < size; at += MiB) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(MiB, size - at));
      ASSERT_TRUE(sys::read_at(fa->get(), std::span(ba).first(n), at));
      ASSERT_TRUE(sys::read_at(fb->get(), std::span(bb).first(n), at));
      ASSERT_TRUE(std::equal(ba.begin(), ba.begin() + static_cast<ptrdiff_t>(n), bb.begin()))
          << "differ in the mebibyte at " << at;
    }
  }

  std::string m_dir;
};

TEST_F(FileExtentsTest, FindsTheDataInTheMiddleOfASparseFile) {
  if (!reports_holes()) GTEST_SKIP() << "the file system under " << m_dir << " reports no holes";
  uint64_t size = 16 * MiB;
  std::string path = make_sparse("sparse", size, {{8 * MiB, pattern(2 * kBlock, 3)}});
  auto fd = sys::open(path, O_RDONLY);
  ASSERT_TRUE(fd);
  auto extents = data_extents(fd->get(), size, true, path);
  ASSERT_TRUE(extents) << extents.error().message();
  ASSERT_EQ(extents->size(), 1u);
  // The file system may round to its block size, but never loses the data or reports the
  // holes around it as data.
  EXPECT_LE((*extents)[0].start, 8 * MiB);
  EXPECT_GE((*extents)[0].end, 8 * MiB + 2 * kBlock);
  EXPECT_LE((*extents)[0].end - (*extents)[0].start, MiB);
}

TEST_F(FileExtentsTest, ExtentsAreSortedAndDisjoint) {
  if (!reports_holes()) GTEST_SKIP() << "the file system under " << m_dir << " reports no holes";
  uint64_t size = 32 * MiB;
  std::string path = make_sparse(
      "three", size,
      {{0, pattern(kBlock, 1)}, {10 * MiB, pattern(kBlock, 2)}, {20 * MiB, pattern(kBlock, 3)}});
  auto fd = sys::open(path, O_RDONLY);
  ASSERT_TRUE(fd);
  auto extents = data_extents(fd->get(), size, true, path).value();
  ASSERT_EQ(extents.size(), 3u);
  EXPECT_EQ(extents[0].start, 0u);
  for (size_t i = 0; i < extents.size(); ++i) {
    EXPECT_LT(extents[i].start, extents[i].end);
    if (i > 0) {
      EXPECT_LT(extents[i - 1].end, extents[i].start);
    }
  }
  EXPECT_LE(extents[1].start, 10 * MiB);
  EXPECT_GE(extents[2].end, 20 * MiB + kBlock);
}

TEST_F(FileExtentsTest, ExtentsStopAtTheGivenSize) {
  if (!reports_holes()) GTEST_SKIP() << "the file system under " << m_dir << " reports no holes";
  std::string path = make_sparse("clipped", 4 * MiB, {{MiB, pattern(MiB, 5)}});
  auto fd = sys::open(path, O_RDONLY);
  ASSERT_TRUE(fd);
  auto extents = data_extents(fd->get(), MiB + 100, true, path).value();
  ASSERT_EQ(extents.size(), 1u);
  EXPECT_EQ(extents[0].end, MiB + 100);
  EXPECT_TRUE(data_extents(fd->get(), MiB, true, path).value().empty())
      << "the first mebibyte is a hole";
}

TEST_F(FileExtentsTest, AFileOfHolesHasNoExtents) {
  std::string path = make_sparse("empty", 8 * MiB, {});
  auto fd = sys::open(path, O_RDONLY);
  ASSERT_TRUE(fd);
  auto extents = data_extents(fd->get(), 8 * MiB, true, path);
  ASSERT_TRUE(extents) << extents.error().message();
  if (reports_holes()) {
    EXPECT_TRUE(extents->empty());
  }
  EXPECT_TRUE(data_extents(fd->get(), 0, true, path).value().empty());
}

TEST_F(FileExtentsTest, NotARegularFileIsOneExtent) {
  auto fd = sys::open("/dev/zero", O_RDONLY);
  ASSERT_TRUE(fd);
  auto extents = data_extents(fd->get(), 12345, false, "/dev/zero").value();
  ASSERT_EQ(extents.size(), 1u);
  EXPECT_EQ(extents[0].start, 0u);
  EXPECT_EQ(extents[0].end, 12345u);
}

TEST(AllZero, LooksAtEveryByte) {
  EXPECT_TRUE(all_zero({}));
  // Lengths around the 8-byte words it reads, and a non-zero byte in every position.
  for (size_t size : {1u, 7u, 8u, 9u, 37u, 64u}) {
    std::vector<uint8_t> bytes(size, 0);
    EXPECT_TRUE(all_zero(bytes)) << size;
    for (size_t i = 0; i < size; ++i) {
      bytes[i] = 0x80;
      EXPECT_FALSE(all_zero(bytes)) << "byte " << i << " of " << size;
      bytes[i] = 0;
    }
  }
}

TEST_F(FileExtentsTest, CopyKeepsTheContentsAndTheHoles) {
  uint64_t size = 64 * MiB;
  auto first = pattern(kBlock, 11), second = pattern(3 * kBlock, 12), tail = pattern(100, 13);
  std::string from =
      make_sparse("source", size, {{MiB, first}, {40 * MiB, second}, {size - tail.size(), tail}});
  std::string to = m_dir + "/copy";
  auto copied = copy_sparse_file(from, to);
  ASSERT_TRUE(copied) << copied.error().message();
  expect_same_contents(from, to);
  struct stat st = stat_of(to);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  if (reports_holes()) {
    EXPECT_LT(static_cast<uint64_t>(st.st_blocks) * 512, 4 * MiB)
        << "the copy of a mostly empty file allocated " << st.st_blocks * 512 << " bytes";
  }
  // A reflink shares blocks and copies nothing; otherwise only the data is copied.
  if (*copied != 0 && reports_holes()) {
    EXPECT_GE(*copied, first.size() + second.size() + tail.size());
    EXPECT_LE(*copied, 4 * MiB);
  }
}

TEST_F(FileExtentsTest, CopyReturnsTheBytesCopiedWithoutAReflink) {
  std::string from = make_sparse("dense", 10000, {{0, pattern(10000, 21)}});
  std::string to = m_dir + "/dense-copy";
  // Whether this file system can share blocks at all: then the copy is a reflink.
  std::string probe = m_dir + "/probe-clone";
  bool reflinks = false;
  {
    auto source = sys::open(from, O_RDONLY);
    auto target = sys::open(probe, O_WRONLY | O_CREAT | O_EXCL, 0600);
    ASSERT_TRUE(source && target);
    reflinks = ::ioctl(target->get(), FICLONE, source->get()) == 0;
  }
  auto copied = copy_sparse_file(from, to);
  ASSERT_TRUE(copied) << copied.error().message();
  EXPECT_EQ(*copied, reflinks ? 0u : 10000u);
  expect_same_contents(from, to);
}

TEST_F(FileExtentsTest, CopyOfAnEmptyFileIsEmpty) {
  std::string from = make_sparse("nothing", 0, {});
  std::string to = m_dir + "/nothing-copy";
  auto copied = copy_sparse_file(from, to);
  ASSERT_TRUE(copied) << copied.error().message();
  EXPECT_EQ(*copied, 0u);
  EXPECT_EQ(stat_of(to).st_size, 0);
}

TEST_F(FileExtentsTest, CopyRefusesAnExistingTarget) {
  std::string from = make_sparse("source", MiB, {{0, pattern(kBlock, 31)}});
  std::string to = make_sparse("taken", 3, {{0, {'o', 'l', 'd'}}});
  auto copied = copy_sparse_file(from, to);
  ASSERT_FALSE(copied);
  EXPECT_EQ(copied.error().code(), EEXIST);
  EXPECT_NE(copied.error().message().find(to), std::string::npos) << copied.error().message();
  EXPECT_EQ(sys::read_file(to, 100).value(), (std::vector<uint8_t>{'o', 'l', 'd'}))
      << "the existing file is left alone";
}

TEST_F(FileExtentsTest, CopyRefusesAMissingSourceOrADirectory) {
  auto missing = copy_sparse_file(m_dir + "/no-such-file", m_dir + "/a");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ENOENT);
  auto directory = copy_sparse_file(m_dir, m_dir + "/b");
  ASSERT_FALSE(directory);
  EXPECT_NE(directory.error().message().find("not a regular file"), std::string::npos)
      << directory.error().message();
  EXPECT_FALSE(std::filesystem::exists(m_dir + "/a"));
  EXPECT_FALSE(std::filesystem::exists(m_dir + "/b"));
}

}  // namespace
}  // namespace haven
