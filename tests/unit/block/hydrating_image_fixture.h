#pragma once

// What the HydratingImage tests share: a fake backup to restore from and the fixture.

#include "block/hydrating_image.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "base/sys.h"

namespace haven::block::hydration_test {

inline constexpr uint32_t kGranularity = 4096;
inline constexpr uint64_t kTail = 1000;                       // the last block is short
inline constexpr uint64_t kDisk = 16 * kGranularity + kTail;  // 17 blocks
inline constexpr uint64_t kBlocks = 17;
inline constexpr const char* kSource = "repo-1/snapshot-7";

// The source never holds 0 (a sparse image's bytes) nor 252..255 (what the guest writes).
inline uint8_t source_byte(uint64_t offset) {
  return static_cast<uint8_t>(offset % 251 + 1);
}

// The backup being restored: counts the fetches of each block, fails those it is told to.
class FakeSource {
 public:
  explicit FakeSource(uint64_t disk_bytes) : m_bytes(disk_bytes), m_fetches(blocks(disk_bytes)) {
    for (uint64_t i = 0; i < disk_bytes; ++i) m_bytes[i] = source_byte(i);
  }

  HydratingImage::Fetch fetch() {
    return [this](uint64_t index, std::span<uint8_t> data) -> Result<void> {
      if (m_on_fetch) m_on_fetch(index);
      std::lock_guard lock(m_mutex);
      uint64_t offset = index * kGranularity;
      if (index >= m_fetches.size() ||
          data.size() != std::min<uint64_t>(kGranularity, m_bytes.size() - offset)) {
        ADD_FAILURE() << "fetch of block " << index << " with " << data.size() << " bytes";
        return make_error("bad fetch");
      }
      ++m_fetches[index];
      if (m_failing.contains(index)) return make_error("block {}: chunk unreadable", index);
      std::copy_n(m_bytes.begin() + static_cast<std::ptrdiff_t>(offset), data.size(), data.begin());
      return {};
    };
  }

  int fetches(uint64_t index) {
    std::lock_guard lock(m_mutex);
    return m_fetches[index];
  }
  int total_fetches() {
    std::lock_guard lock(m_mutex);
    int total = 0;
    for (int count : m_fetches) total += count;
    return total;
  }
  void fail(std::set<uint64_t> blocks) {
    std::lock_guard lock(m_mutex);
    m_failing = std::move(blocks);
  }
  // Called first in every fetch, outside the source's lock; set before the image runs.
  void on_fetch(std::function<void(uint64_t)> hook) { m_on_fetch = std::move(hook); }
  const std::vector<uint8_t>& bytes() const { return m_bytes; }
  // Makes block `index` all zeros (a hole in the backup); before the image runs.
  void zero(uint64_t index) {
    uint64_t offset = index * kGranularity;
    std::fill_n(m_bytes.begin() + static_cast<std::ptrdiff_t>(offset),
                std::min<uint64_t>(kGranularity, m_bytes.size() - offset), 0);
  }

 private:
  static uint64_t blocks(uint64_t disk_bytes) {
    return (disk_bytes + kGranularity - 1) / kGranularity;
  }

  std::vector<uint8_t> m_bytes;
  std::mutex m_mutex;
  std::vector<int> m_fetches;
  std::set<uint64_t> m_failing;
  std::function<void(uint64_t)> m_on_fetch;
};

class HydratingImageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/haven-hydrate-test.XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    m_dir = dir;
    m_image = m_dir + "/disk.img";
  }
  void TearDown() override { std::system(("rm -rf " + m_dir).c_str()); }

  HydratingImage::Options options(uint64_t disk_bytes = kDisk) const {
    return {.image = m_image,
            .disk_bytes = disk_bytes,
            .granularity = kGranularity,
            .source = kSource,
            .persistent = true};
  }
  std::unique_ptr<HydratingImage> open(FakeSource& source, const HydratingImage::Options& opts) {
    auto image = HydratingImage::open(opts, source.fetch());
    EXPECT_TRUE(image) << image.error().message();
    return image ? std::move(*image) : nullptr;
  }
  std::unique_ptr<HydratingImage> open(FakeSource& source) { return open(source, options()); }

  std::vector<uint8_t> image_bytes() const {
    auto bytes = sys::read_file(m_image, 64 << 20);
    EXPECT_TRUE(bytes) << bytes.error().message();
    return bytes ? std::move(*bytes) : std::vector<uint8_t>{};
  }
  std::vector<uint8_t> image_bytes(uint64_t offset, uint64_t length) const {
    auto all = image_bytes();
    if (offset + length > all.size()) return {};
    return {all.begin() + static_cast<std::ptrdiff_t>(offset),
            all.begin() + static_cast<std::ptrdiff_t>(offset + length)};
  }
  static std::vector<uint8_t> source_bytes(uint64_t offset, uint64_t length) {
    std::vector<uint8_t> bytes(length);
    for (uint64_t i = 0; i < length; ++i) bytes[i] = source_byte(offset + i);
    return bytes;
  }

  // What the device does for a guest write: prepare with overwrite, write the image, settle.
  Result<void> guest_write(HydratingImage& image, uint64_t offset, uint64_t length, uint8_t value) {
    TRY(image.prepare(offset, length, true));
    auto fd = TRY(sys::open(m_image, O_WRONLY | O_CLOEXEC));
    std::vector<uint8_t> data(length, value);
    TRY(sys::write_at(fd.get(), data, offset));
    image.settle(offset, length);
    return {};
  }

  // Runs the background pass to its end.
  static HydrationProgress hydrate(HydratingImage& image) { return wait(start(image)); }
  // Starts the background pass; the future is ready when it ends.
  static std::future<HydrationProgress> start(HydratingImage& image) {
    auto done = std::make_shared<std::promise<HydrationProgress>>();
    auto ended = done->get_future();
    image.start_hydration([done](const HydrationProgress& progress) { done->set_value(progress); });
    return ended;
  }
  static HydrationProgress wait(std::future<HydrationProgress> ended) {
    if (ended.wait_for(std::chrono::seconds(20)) != std::future_status::ready) {
      std::fputs("the background pass never ended\n", stderr);
      std::abort();
    }
    return ended.get();
  }

  bool state_file_exists() const {
    return ::access(HydratingImage::state_path(m_image).c_str(), F_OK) == 0;
  }

  std::string m_dir, m_image;
};

}  // namespace haven::block::hydration_test
