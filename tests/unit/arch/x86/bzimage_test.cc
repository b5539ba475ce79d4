#include "arch/x86/bzimage.h"

#include <gtest/gtest.h>

#include "unit/arch/x86/test_images.h"

namespace haven::arch::x86 {
namespace {

using testing::header_of;
using testing::make_bzimage;

std::string error_of(const std::vector<uint8_t>& file) {
  auto image = parse_bzimage(file);
  return image ? std::string("(parsed)") : image.error().message();
}

TEST(BzImage, ParsesAMinimalImage) {
  auto file = make_bzimage(4, 8192);
  ASSERT_TRUE(looks_like_bzimage(file));
  auto image = parse_bzimage(file);
  ASSERT_TRUE(image) << image.error().message();
  EXPECT_EQ(image->header.version, 0x020f);
  EXPECT_EQ(image->kernel.size(), 8192u);
  EXPECT_EQ(image->kernel.data(), file.data() + 5 * 512);
  EXPECT_EQ(image->header_length, 0x268u - 0x1f1u);
}

TEST(BzImage, ZeroSetupSectorsMeansFour) {
  auto file = make_bzimage(4, 4096);
  header_of(file).setup_sects = 0;
  auto image = parse_bzimage(file);
  ASSERT_TRUE(image) << image.error().message();
  EXPECT_EQ(image->kernel.data(), file.data() + 5 * 512);
}

TEST(BzImage, TruncatedAnywhereIsAnErrorNotACrash) {
  auto file = make_bzimage(4, 4096);
  for (size_t size : {size_t{0}, size_t{1}, size_t{0x1f1}, size_t{0x205}, size_t{0x268},
                      size_t{5 * 512}, file.size() - 16, file.size() - 1}) {
    std::vector<uint8_t> cut(file.begin(), file.begin() + static_cast<long>(size));
    EXPECT_FALSE(parse_bzimage(cut)) << "truncated to " << size;
  }
  std::vector<uint8_t> cut(file.begin(), file.end() - 64);
  EXPECT_NE(error_of(cut).find("truncated"), std::string::npos) << error_of(cut);
}

TEST(BzImage, RejectsWrongMagicAndBootFlag) {
  auto file = make_bzimage();
  file[0x202] = 'X';
  EXPECT_FALSE(looks_like_bzimage(file));
  EXPECT_NE(error_of(file).find("HdrS"), std::string::npos);
  file = make_bzimage();
  header_of(file).boot_flag = 0x1234;
  EXPECT_NE(error_of(file).find("0xaa55"), std::string::npos);
}

TEST(BzImage, RejectsOldProtocolsAnd32BitKernels) {
  auto file = make_bzimage();
  header_of(file).version = 0x0206;
  EXPECT_NE(error_of(file).find("2.06"), std::string::npos) << error_of(file);
  file = make_bzimage();
  header_of(file).xloadflags = 0;
  EXPECT_NE(error_of(file).find("64-bit"), std::string::npos);
  file = make_bzimage();
  header_of(file).loadflags = 0;
  EXPECT_NE(error_of(file).find("loads low"), std::string::npos);
}

TEST(BzImage, HostileSizesAreRejected) {
  auto file = make_bzimage(4, 4096);
  header_of(file).setup_sects = 255;  // setup larger than the whole file
  EXPECT_NE(error_of(file).find("setup sectors"), std::string::npos);
  file = make_bzimage(4, 4096);
  header_of(file).syssize = 0xffffffff;  // claims 64 GiB of kernel
  EXPECT_NE(error_of(file).find("truncated"), std::string::npos);
  file = make_bzimage(4, 4096);
  header_of(file).init_size = 16;
  EXPECT_NE(error_of(file).find("init_size"), std::string::npos);
}

TEST(BzImage, ShortJumpOffsetCannotStretchTheHeaderPastItsStruct) {
  auto file = make_bzimage();
  file[0x201] = 0xff;  // header "ends" at 0x301, beyond the struct Haven knows
  auto image = parse_bzimage(file);
  ASSERT_TRUE(image) << image.error().message();
  EXPECT_LE(image->header_length, sizeof(setup_header));
}

}  // namespace
}  // namespace haven::arch::x86
