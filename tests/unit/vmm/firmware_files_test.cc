// The firmware files on the host: OVMF's variable store made for a guest (prepare_nvram) and
// where Haven finds the firmware images (find_firmware_files), in a scratch directory.
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "base/sys.h"
#include "vmm/firmware_boot.h"

namespace haven::vmm {
namespace {

// A scratch directory for files, removed afterwards.
class TempDir : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string dir = ::testing::TempDir() + "haven-firmware-XXXXXX";
    ASSERT_NE(::mkdtemp(dir.data()), nullptr);
    m_dir = dir;
  }
  void TearDown() override { std::filesystem::remove_all(m_dir); }
  void write(const std::string& path, const std::vector<uint8_t>& bytes) {
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
    ASSERT_TRUE(out.good()) << path;
  }
  std::vector<uint8_t> read(const std::string& path) {
    return sys::read_file(path, 1 << 20).value();
  }
  std::string m_dir;
};

class PrepareNvram : public TempDir {
 protected:
  void SetUp() override {
    TempDir::SetUp();
    m_template = m_dir + "/OVMF_VARS_4M.fd";
    m_store = m_dir + "/guest.fd";
    std::vector<uint8_t> bytes(8192);
    for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i * 13);
    write(m_template, bytes);
  }
  std::string m_template, m_store;
};

TEST_F(PrepareNvram, CreatesTheStoreFromTheTemplate) {
  auto result = prepare_nvram(m_store, m_template);
  ASSERT_TRUE(result) << result.error().message();
  EXPECT_EQ(read(m_store), read(m_template));
  struct stat info {};
  ASSERT_EQ(::stat(m_store.c_str(), &info), 0);
  EXPECT_TRUE(S_ISREG(info.st_mode));
  EXPECT_EQ(info.st_mode & 0022, 0u)
      << "writable by its owner only: " << std::oct << (info.st_mode & 0777);
  EXPECT_EQ(info.st_mode & 0600, 0600u);
  std::vector<std::string> left;
  for (const auto& entry : std::filesystem::directory_iterator(m_dir))
    left.push_back(entry.path().filename());
  EXPECT_EQ(left.size(), 2u) << "no temporary file left beside it";
}

TEST_F(PrepareNvram, KeepsAnExistingStoreOfTheSameSize) {
  std::vector<uint8_t> variables(8192, 0x5a);  // what the guest saved last time
  write(m_store, variables);
  auto result = prepare_nvram(m_store, m_template);
  ASSERT_TRUE(result) << result.error().message();
  EXPECT_EQ(read(m_store), variables);
}

TEST_F(PrepareNvram, RefusesAStoreOfAnotherSize) {
  std::vector<uint8_t> other(4096, 0x5a);  // e.g. a 2 MiB OVMF build's store for a 4 MiB one
  write(m_store, other);
  auto result = prepare_nvram(m_store, m_template);
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message().find("another firmware build"), std::string::npos)
      << result.error().message();
  EXPECT_NE(result.error().message().find(m_store), std::string::npos);
  EXPECT_EQ(read(m_store), other) << "left alone";
}

TEST_F(PrepareNvram, RefusesADirectoryAndAMissingTemplate) {
  std::filesystem::create_directory(m_store);
  auto result = prepare_nvram(m_store, m_template);
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message().find("not a regular file"), std::string::npos)
      << result.error().message();
  EXPECT_FALSE(prepare_nvram(m_dir + "/new.fd", m_dir + "/no-template.fd"));
  EXPECT_FALSE(std::filesystem::exists(m_dir + "/new.fd"));
  EXPECT_FALSE(prepare_nvram(m_dir + "/no/such/dir/new.fd", m_template));
}

// Firmware files from a directory the test controls (HAVEN_FIRMWARE_DIR replaces /usr/share).
class FindFirmwareFiles : public TempDir {
 protected:
  void SetUp() override {
    TempDir::SetUp();
    if (const char* old = std::getenv("HAVEN_FIRMWARE_DIR")) m_saved = old;
    ::setenv("HAVEN_FIRMWARE_DIR", m_dir.c_str(), 1);
  }
  void TearDown() override {
    if (m_saved)
      ::setenv("HAVEN_FIRMWARE_DIR", m_saved->c_str(), 1);
    else
      ::unsetenv("HAVEN_FIRMWARE_DIR");
    TempDir::TearDown();
  }
  std::optional<std::string> m_saved;
};

TEST_F(FindFirmwareFiles, AMissingSeaBiosNamesItsPackage) {
  auto files = find_firmware_files(Firmware::bios);
  ASSERT_FALSE(files);
  EXPECT_EQ(files.error().message(),
            "firmware file " + m_dir +
                "/seabios/bios-256k.bin is missing (install Debian's 'seabios' package: apt-get "
                "install seabios)");
  write(m_dir + "/seabios/bios-256k.bin", std::vector<uint8_t>(4096));
  files = find_firmware_files(Firmware::bios);
  ASSERT_TRUE(files) << files.error().message();
  EXPECT_EQ(files->code, m_dir + "/seabios/bios-256k.bin");
  EXPECT_TRUE(files->vars_template.empty());
}

TEST_F(FindFirmwareFiles, UefiNeedsOvmfsCodeAndVariableTemplate) {
  auto files = find_firmware_files(Firmware::uefi);
  ASSERT_FALSE(files);
  EXPECT_NE(files.error().message().find("OVMF/OVMF_CODE_4M.fd is missing"), std::string::npos)
      << files.error().message();
  EXPECT_NE(files.error().message().find("apt-get install ovmf"), std::string::npos);
  write(m_dir + "/OVMF/OVMF_CODE_4M.fd", std::vector<uint8_t>(4096));
  files = find_firmware_files(Firmware::uefi);
  ASSERT_FALSE(files);
  EXPECT_NE(files.error().message().find("OVMF/OVMF_VARS_4M.fd is missing"), std::string::npos)
      << files.error().message();
  write(m_dir + "/OVMF/OVMF_VARS_4M.fd", std::vector<uint8_t>(4096));
  files = find_firmware_files(Firmware::uefi);
  ASSERT_TRUE(files) << files.error().message();
  EXPECT_EQ(files->code, m_dir + "/OVMF/OVMF_CODE_4M.fd");
  EXPECT_EQ(files->vars_template, m_dir + "/OVMF/OVMF_VARS_4M.fd");
}

TEST_F(FindFirmwareFiles, ADirectoryInPlaceOfAFileIsMissing) {
  std::filesystem::create_directories(m_dir + "/seabios/bios-256k.bin");
  auto files = find_firmware_files(Firmware::bios);
  ASSERT_FALSE(files);
  EXPECT_NE(files.error().message().find("is missing"), std::string::npos);
}

TEST_F(FindFirmwareFiles, AnEmptyVariableMeansUsrShareAndNoFirmwareIsAnError) {
  ::setenv("HAVEN_FIRMWARE_DIR", "", 1);
  auto files = find_firmware_files(Firmware::bios);
  if (files)
    EXPECT_EQ(files->code, "/usr/share/seabios/bios-256k.bin");
  else
    EXPECT_NE(files.error().message().find("/usr/share/seabios/bios-256k.bin"), std::string::npos)
        << files.error().message();
  EXPECT_FALSE(find_firmware_files(Firmware::none));
}

}  // namespace
}  // namespace haven::vmm
