// The bottom of the block stack: opening an image, and the I/O it prepares in an io_uring.

#include "block/image_file.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/falloc.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "base/sys.h"
#include "base/uring.h"

namespace haven::block {
namespace {

class ImageFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    m_path = ::testing::TempDir() + "haven-image-file-XXXXXX";
    int fd = ::mkstemp(m_path.data());
    ASSERT_GE(fd, 0);
    ::close(fd);
  }
  void TearDown() override { ::unlink(m_path.c_str()); }
  void resize(uint64_t bytes) { ASSERT_EQ(::truncate(m_path.c_str(), bytes), 0); }

  // Runs `io` on the image through a fresh ring; the completion's result, or -EIO (with a
  // failure) when the ring itself fails.
  int run(const ImageFile& image, const Io& io, std::vector<iovec> data = {}) {
    auto ring = Uring::create(4);
    if (!ring || !(*ring)->enable()) {
      ADD_FAILURE() << "no io_uring";
      return -EIO;
    }
    io_uring_sqe* sqe = io_uring_get_sqe((*ring)->get());
    image.prepare(sqe, io, data);
    io_uring_cqe* cqe = nullptr;
    if (io_uring_submit_and_wait((*ring)->get(), 1) != 1 ||
        io_uring_peek_cqe((*ring)->get(), &cqe) != 0 || !cqe) {
      ADD_FAILURE() << "no completion";
      return -EIO;
    }
    int result = cqe->res;
    io_uring_cqe_seen((*ring)->get(), cqe);
    return result;
  }
  // Whether this kernel and file system punch holes through io_uring (not 9p, vfat, kernels
  // before 5.6).
  bool punches_holes(const ImageFile& image) {
    std::unique_ptr<io_uring_probe, void (*)(io_uring_probe*)> probe(io_uring_get_probe(),
                                                                     io_uring_free_probe);
    if (!probe || !io_uring_opcode_supported(probe.get(), IORING_OP_FALLOCATE)) return false;
    return ::fallocate(image.fd(), FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE, 0, 512) == 0;
  }

  std::string m_path;
};

TEST_F(ImageFileTest, AnEmptyImageIsRefusedAndAPartialSectorIsLeftOut) {
  auto empty = ImageFile::open(m_path, false, false);
  ASSERT_FALSE(empty);
  EXPECT_NE(empty.error().message().find("an empty disk image"), std::string::npos);
  resize(4096 + 100);
  auto image = ImageFile::open(m_path, true, false);
  ASSERT_TRUE(image) << image.error().message();
  EXPECT_EQ(image->bytes(), 4196u);
  EXPECT_EQ(image->sectors(), 8u);
  EXPECT_FALSE(ImageFile::open(m_path + ".missing", false, false));
}

TEST_F(ImageFileTest, ADiskWrittenByOneIsOpenedByNoOtherAndReadersShare) {
  resize(1 << 20);
  {
    auto writer = ImageFile::open(m_path, false, false);
    ASSERT_TRUE(writer) << writer.error().message();
    auto second = ImageFile::open(m_path, false, false);
    ASSERT_FALSE(second);
    EXPECT_NE(second.error().message().find("is in use by pid " + std::to_string(::getpid())),
              std::string::npos)
        << second.error().message();
    auto reader = ImageFile::open(m_path, true, false);
    ASSERT_FALSE(reader);
    EXPECT_NE(reader.error().message().find("is being written by"), std::string::npos)
        << reader.error().message();
  }
  auto reader = ImageFile::open(m_path, true, false);
  ASSERT_TRUE(reader) << reader.error().message();
  auto another_reader = ImageFile::open(m_path, true, false);
  EXPECT_TRUE(another_reader) << another_reader.error().message();
  EXPECT_FALSE(ImageFile::open(m_path, false, false));
}

TEST_F(ImageFileTest, EachRequestBecomesItsSystemCall) {
  resize(1 << 20);
  auto image = ImageFile::open(m_path, false, false);
  ASSERT_TRUE(image) << image.error().message();
  auto prepared = [&](const Io& io) {
    io_uring_sqe sqe{};
    image->prepare(&sqe, io, {});
    return sqe;
  };
  EXPECT_EQ(prepared({Io::Kind::read, 0, 512}).opcode, IORING_OP_READV);
  EXPECT_EQ(prepared({Io::Kind::write, 0, 512}).opcode, IORING_OP_WRITEV);
  io_uring_sqe flush = prepared({Io::Kind::flush, 0, 0});
  EXPECT_EQ(flush.opcode, IORING_OP_FSYNC);
  EXPECT_EQ(flush.fsync_flags, IORING_FSYNC_DATASYNC);
  // liburing puts fallocate's mode in the SQE's length.
  io_uring_sqe zeroes = prepared({Io::Kind::write_zeroes, 4096, 8192});
  EXPECT_EQ(zeroes.opcode, IORING_OP_FALLOCATE);
  EXPECT_EQ(zeroes.len, unsigned{FALLOC_FL_KEEP_SIZE | FALLOC_FL_ZERO_RANGE});
  EXPECT_EQ(zeroes.off, 4096u);
  EXPECT_EQ(zeroes.addr, 8192u);
  io_uring_sqe unmapping = prepared({Io::Kind::write_zeroes, 4096, 8192, true});
  EXPECT_EQ(unmapping.len, unsigned{FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE});
  io_uring_sqe discard = prepared({Io::Kind::discard, 0, 4096});
  EXPECT_EQ(discard.len, unsigned{FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE});
  EXPECT_TRUE(ImageFile::retry_as_hole({Io::Kind::write_zeroes, 0, 512}, -EOPNOTSUPP));
  EXPECT_FALSE(ImageFile::retry_as_hole({Io::Kind::write_zeroes, 0, 512, true}, -EOPNOTSUPP));
  EXPECT_FALSE(ImageFile::retry_as_hole({Io::Kind::discard, 0, 512}, -EOPNOTSUPP));
  EXPECT_FALSE(ImageFile::retry_as_hole({Io::Kind::write_zeroes, 0, 512}, -EIO));
}

TEST_F(ImageFileTest, ReadsWritesFlushesAndZeroes) {
  resize(1 << 20);
  auto image = ImageFile::open(m_path, false, false);
  ASSERT_TRUE(image) << image.error().message();
  if (!punches_holes(*image)) GTEST_SKIP() << "no hole punching through io_uring here";
  std::vector<uint8_t> out(4096, 0xab), in(4096, 0);
  EXPECT_EQ(run(*image, {Io::Kind::write, 8192, 4096}, {{out.data(), out.size()}}), 4096);
  EXPECT_EQ(run(*image, {Io::Kind::flush, 0, 0}), 0);
  EXPECT_EQ(run(*image, {Io::Kind::read, 8192, 4096}, {{in.data(), in.size()}}), 4096);
  EXPECT_EQ(in, out);
  EXPECT_EQ(ImageFile::expected({Io::Kind::read, 8192, 4096}), 4096u);
  EXPECT_EQ(ImageFile::expected({Io::Kind::discard, 8192, 4096}), 0u);
  // Zeroing in place, or (where the file system cannot: tmpfs) a hole instead.
  Io zeroes{Io::Kind::write_zeroes, 8192, 4096};
  int result = run(*image, zeroes);
  if (ImageFile::retry_as_hole(zeroes, result)) {
    zeroes.unmap = true;
    EXPECT_FALSE(ImageFile::retry_as_hole(zeroes, result)) << "a hole is tried once";
    result = run(*image, zeroes);
  }
  EXPECT_EQ(result, 0);
  EXPECT_EQ(run(*image, {Io::Kind::read, 8192, 4096}, {{in.data(), in.size()}}), 4096);
  EXPECT_EQ(in, std::vector<uint8_t>(4096, 0));
  EXPECT_EQ(run(*image, {Io::Kind::write, 0, 4096}, {{out.data(), out.size()}}), 4096);
  EXPECT_EQ(run(*image, {Io::Kind::discard, 0, 4096}), 0);
  EXPECT_EQ(run(*image, {Io::Kind::read, 0, 4096}, {{in.data(), in.size()}}), 4096);
  EXPECT_EQ(in, std::vector<uint8_t>(4096, 0)) << "a punched hole reads as zeros";
}

TEST_F(ImageFileTest, AReadOnlyImageFailsAWrite) {
  resize(1 << 16);
  auto image = ImageFile::open(m_path, true, false);
  ASSERT_TRUE(image);
  std::vector<uint8_t> out(512, 1);
  EXPECT_EQ(run(*image, {Io::Kind::write, 0, 512}, {{out.data(), out.size()}}), -EBADF);
}

}  // namespace
}  // namespace haven::block
