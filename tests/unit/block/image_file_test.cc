// The bottom of the block stack: opening an image, and the I/O it prepares in an io_uring.

#include "block/image_file.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

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

  // Runs `io` on the image through a fresh ring; returns the completion's result.
  int run(const ImageFile& image, const Io& io, std::vector<iovec> data = {}) {
    auto ring = Uring::create(4);
    EXPECT_TRUE(ring);
    EXPECT_TRUE((*ring)->enable());
    io_uring_sqe* sqe = io_uring_get_sqe((*ring)->get());
    image.prepare(sqe, io, data);
    EXPECT_EQ(io_uring_submit_and_wait((*ring)->get(), 1), 1);
    io_uring_cqe* cqe = nullptr;
    EXPECT_EQ(io_uring_peek_cqe((*ring)->get(), &cqe), 0);
    int result = cqe->res;
    io_uring_cqe_seen((*ring)->get(), cqe);
    return result;
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

TEST_F(ImageFileTest, ReadsWritesFlushesAndZeroes) {
  resize(1 << 20);
  auto image = ImageFile::open(m_path, false, false);
  ASSERT_TRUE(image) << image.error().message();
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
