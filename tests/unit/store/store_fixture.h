#pragma once

// A scratch directory with a repository and disk images in it, for the store's tests.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "base/sys.h"
#include "store/repository.h"

namespace haven::store::testing {

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "haven-store-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    m_dir = pattern;
  }
  void TearDown() override {
    // Append-only repositories leave immutable files behind: clear that first.
    for (const auto& entry : std::filesystem::recursive_directory_iterator(m_dir))
      if (entry.is_regular_file()) (void)sys::set_immutable(entry.path().string(), false);
    std::filesystem::remove_all(m_dir);
  }

  std::string path(const std::string& name) const { return m_dir + "/" + name; }

  // Cheap scrypt costs: tests check behaviour, not strength.
  static InitOptions options(bool encrypt, uint32_t chunk_size = 4096) {
    InitOptions init;
    init.encrypt = encrypt;
    init.passphrase = encrypt ? "test passphrase" : "";
    init.chunk_size = chunk_size;
    init.kdf = {1024, 8, 1};
    return init;
  }
  std::unique_ptr<Repository> make_repo(bool encrypt = false, uint32_t chunk_size = 4096) {
    EXPECT_TRUE(Repository::init(path("repo"), options(encrypt, chunk_size)));
    return open_repo();
  }
  std::unique_ptr<Repository> open_repo(std::string passphrase = "test passphrase") {
    auto repo = Repository::open(path("repo"), [=]() -> Result<std::string> { return passphrase; });
    EXPECT_TRUE(repo) << repo.error().message();
    return repo ? std::move(*repo) : nullptr;
  }

  static std::vector<uint8_t> random_data(size_t size, uint32_t seed) {
    std::mt19937 random(seed);
    std::vector<uint8_t> data(size);
    for (auto& byte : data) byte = static_cast<uint8_t>(random());
    return data;
  }
  void write_file(const std::string& file, const std::vector<uint8_t>& data) {
    int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::write(fd, data.data(), data.size()), static_cast<ssize_t>(data.size()));
    ::close(fd);
  }
  std::vector<uint8_t> read_file(const std::string& file) {
    std::vector<uint8_t> data(std::filesystem::file_size(file));
    int fd = ::open(file.c_str(), O_RDONLY);
    EXPECT_EQ(::read(fd, data.data(), data.size()), static_cast<ssize_t>(data.size()));
    ::close(fd);
    return data;
  }
  std::vector<std::string> files_in(const std::string& sub) {
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(path(sub)))
      if (entry.is_regular_file()) names.push_back(entry.path().string());
    return names;
  }

  std::string m_dir;
};

}  // namespace haven::store::testing
