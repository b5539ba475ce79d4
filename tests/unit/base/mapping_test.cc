#include "base/mapping.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <type_traits>

#include "base/unique_fd.h"

namespace haven {
namespace {

const size_t kPage = static_cast<size_t>(::sysconf(_SC_PAGESIZE));

// mincore() fails with ENOMEM for a range that is not (entirely) mapped.
bool is_mapped(const void* address, size_t size) {
  unsigned char residency[16];
  EXPECT_LE(size / kPage, sizeof(residency));
  return ::mincore(const_cast<void*>(address), size, residency) == 0;
}

static_assert(!std::is_copy_constructible_v<Mapping>);
static_assert(!std::is_copy_assignable_v<Mapping>);

TEST(Mapping, AnonymousIsZeroFilledAndWritable) {
  auto mapping = Mapping::anonymous(2 * kPage);
  ASSERT_TRUE(mapping) << mapping.error().message();
  ASSERT_NE(mapping->data(), nullptr);
  EXPECT_EQ(mapping->size(), 2 * kPage);
  EXPECT_EQ(mapping->bytes().data(), mapping->data());
  EXPECT_EQ(mapping->bytes().size(), 2 * kPage);
  EXPECT_TRUE(std::all_of(mapping->bytes().begin(), mapping->bytes().end(),
                          [](uint8_t byte) { return byte == 0; }));
  mapping->data()[0] = 0xab;
  mapping->data()[2 * kPage - 1] = 0xcd;
  EXPECT_EQ(mapping->bytes()[0], 0xab);
  EXPECT_EQ(mapping->bytes()[2 * kPage - 1], 0xcd);
}

TEST(Mapping, UnmapsOnDestruction) {
  uint8_t* data = nullptr;
  {
    auto mapping = Mapping::anonymous(kPage);
    ASSERT_TRUE(mapping);
    data = mapping->data();
    EXPECT_TRUE(is_mapped(data, kPage));
  }
  EXPECT_FALSE(is_mapped(data, kPage));
  EXPECT_EQ(errno, ENOMEM);
}

TEST(Mapping, MoveConstructionTransfersTheRange) {
  auto mapping = Mapping::anonymous(kPage);
  ASSERT_TRUE(mapping);
  uint8_t* data = mapping->data();
  {
    Mapping moved(std::move(*mapping));
    EXPECT_EQ(mapping->data(), nullptr);  // NOLINT(bugprone-use-after-move)
    EXPECT_EQ(mapping->size(), 0u);
    EXPECT_TRUE(mapping->bytes().empty());
    EXPECT_EQ(moved.data(), data);
    EXPECT_EQ(moved.size(), kPage);
    EXPECT_TRUE(is_mapped(data, kPage));
  }
  EXPECT_FALSE(is_mapped(data, kPage)) << "the new owner unmaps";
}

TEST(Mapping, MoveAssignmentUnmapsTheOldRange) {
  auto first = Mapping::anonymous(kPage);
  auto second = Mapping::anonymous(2 * kPage);
  ASSERT_TRUE(first);
  ASSERT_TRUE(second);
  uint8_t* old_data = first->data();
  uint8_t* new_data = second->data();
  *first = std::move(*second);
  EXPECT_FALSE(is_mapped(old_data, kPage));
  EXPECT_TRUE(is_mapped(new_data, 2 * kPage));
  EXPECT_EQ(first->data(), new_data);
  EXPECT_EQ(first->size(), 2 * kPage);
  EXPECT_EQ(second->data(), nullptr);  // NOLINT(bugprone-use-after-move)

  Mapping& alias = *first;
  *first = std::move(alias);  // self-move keeps the range
  EXPECT_EQ(first->data(), new_data);
  EXPECT_TRUE(is_mapped(new_data, 2 * kPage));
}

TEST(Mapping, DefaultConstructedIsEmpty) {
  Mapping mapping;
  EXPECT_EQ(mapping.data(), nullptr);
  EXPECT_EQ(mapping.size(), 0u);
  EXPECT_TRUE(mapping.bytes().empty());
}

TEST(Mapping, OfFdSharesTheFilesContents) {
  UniqueFd fd(::memfd_create("haven-mapping-test", MFD_CLOEXEC));
  ASSERT_TRUE(fd) << std::strerror(errno);
  ASSERT_EQ(::ftruncate(fd.get(), static_cast<off_t>(2 * kPage)), 0);
  const char text[] = "second page";
  ASSERT_EQ(::pwrite(fd.get(), text, sizeof(text), static_cast<off_t>(kPage)),
            static_cast<ssize_t>(sizeof(text)));

  auto mapping = Mapping::of_fd(fd.get(), kPage, PROT_READ | PROT_WRITE, MAP_SHARED,
                                static_cast<off_t>(kPage));
  ASSERT_TRUE(mapping) << mapping.error().message();
  EXPECT_EQ(mapping->size(), kPage);
  EXPECT_STREQ(reinterpret_cast<const char*>(mapping->data()), text);

  mapping->data()[0] = 'S';  // MAP_SHARED: the write reaches the file
  char first = 0;
  ASSERT_EQ(::pread(fd.get(), &first, 1, static_cast<off_t>(kPage)), 1);
  EXPECT_EQ(first, 'S');
}

TEST(Mapping, FailuresNameTheCallAndErrno) {
  auto empty = Mapping::anonymous(0);
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().code(), EINVAL);
  EXPECT_EQ(empty.error().message(), "mmap of 0 anonymous bytes: Invalid argument");

  auto bad_fd = Mapping::of_fd(-1, kPage, PROT_READ, MAP_SHARED);
  ASSERT_FALSE(bad_fd);
  EXPECT_EQ(bad_fd.error().code(), EBADF);
  EXPECT_EQ(bad_fd.error().message(),
            "mmap of " + std::to_string(kPage) + " bytes of fd -1: Bad file descriptor");
}

}  // namespace
}  // namespace haven
