// Writes seed inputs for the boot_media fuzz target into a directory: the unit tests'
// synthetic media (tests/unit/firmware/test_media.h), each at most 64 KiB: MBR disks, a FAT
// floppy, GPT disks with valid CRCs (512- and 4096-byte sectors), El Torito ISOs for BIOS, UEFI
// and both, and a hybrid ISO. Starting from valid media, the fuzzer spends its runs in the
// parsers' structure instead of guessing signatures and CRCs.
//
//   haven_boot_media_fuzz_seeds DIR
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <utility>

#include "unit/firmware/test_media.h"

using namespace haven::firmware;
using namespace haven::firmware::testing;

namespace {

bool write_seed(const std::string& dir, const std::string& name, std::span<const uint8_t> data) {
  std::string path = dir + "/" + name;
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  bool ok = ::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size());
  return ::close(fd) == 0 && ok;
}

Bytes hybrid_iso() {
  Bytes iso = make_iso({{0x00}, {0xEF, 0, true, 21}}, 32);
  write_mbr(iso, {{0x00, 0, 64, true}, {0xEF, 80, 16}});
  return iso;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: haven_boot_media_fuzz_seeds DIR\n");
    return 2;
  }
  const std::pair<const char*, Bytes> seeds[] = {
      {"mbr-esp", make_mbr_disk(8192, {{0xEF, 2, 8}, {0x83, 10, 6, true}})},
      {"mbr-no-signature", make_mbr_disk(1024, {}, true, false)},
      {"fat-floppy", make_fat_floppy(8192)},
      {"gpt-esp-bios-boot",
       make_gpt_disk(128, {{kEfiSystemPartition, 34, 60}, {kBiosBootPartition, 61, 70}}, 512,
                     true)},
      {"gpt-4k", make_gpt_disk(12, {{kEfiSystemPartition, 6, 6}}, 4096)},
      {"iso-bios", make_iso({{0x00, 2}})},
      {"iso-uefi", make_iso({{0xEF}})},
      {"iso-bios-uefi", make_iso({{0x00}, {0xEF, 0, true, 21}})},
      {"iso-hybrid", hybrid_iso()},
  };
  bool ok = true;
  for (const auto& [name, bytes] : seeds) {
    if (bytes.size() > 64 * 1024) {
      std::fprintf(stderr, "haven_boot_media_fuzz_seeds: %s is over 64 KiB\n", name);
      return 1;
    }
    ok = ok && write_seed(argv[1], std::string("boot-media-") + name, bytes);
  }
  if (!ok) {
    std::perror((std::string("haven_boot_media_fuzz_seeds: writing into ") + argv[1]).c_str());
    return 1;
  }
  return 0;
}
