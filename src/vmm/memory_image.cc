#include "vmm/memory_image.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <string_view>

#include "base/atomic_file.h"
#include "base/file_extents.h"
#include "base/sys.h"

namespace haven::vmm {
namespace {

constexpr uint64_t kPageSize = 4096;
constexpr uint64_t kBlock = 64 * 1024;           // the unit checked for zeros
constexpr uint64_t kMaxWrite = 8 * 1024 * 1024;  // contiguous data is written in runs this long

constexpr uint64_t kPagePresent = 1ull << 63;  // /proc/self/pagemap (Linux's pagemap.rst)
constexpr uint64_t kPageSwapped = 1ull << 62;

// Per page of `region`: whether it may hold data. An anonymous page the guest never touched
// is neither present nor swapped out (pagemap tells both apart from a page in swap, which
// mincore would call "not resident"). File-backed pages all may: a page not in the page
// cache still holds the file's data. Without pagemap, every page is read.
Result<std::vector<unsigned char>> pages_with_data(const memory::Region& region) {
  size_t count = region.size() / kPageSize;
  std::vector<unsigned char> pages(count, 1);
  if (!region.anonymous) return pages;
  auto pagemap = sys::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (!pagemap) return pages;
  std::vector<uint64_t> entries(std::min<size_t>(count, 65536));
  auto first = reinterpret_cast<uintptr_t>(region.host.data()) / kPageSize;
  for (size_t done = 0; done < count;) {
    size_t batch = std::min(entries.size(), count - done);
    auto bytes = std::span(reinterpret_cast<uint8_t*>(entries.data()), batch * sizeof(uint64_t));
    if (!sys::read_at(pagemap->get(), bytes, (first + done) * sizeof(uint64_t)))
      return std::vector<unsigned char>(count, 1);
    for (size_t i = 0; i < batch; ++i)
      pages[done + i] = (entries[i] & (kPagePresent | kPageSwapped)) ? 1 : 0;
    done += batch;
  }
  return pages;
}

bool any_resident(const std::vector<unsigned char>& pages, uint64_t offset, uint64_t length) {
  for (uint64_t page = offset / kPageSize; page < (offset + length) / kPageSize; ++page)
    if (pages[page] & 1) return true;
  return false;
}

// The mark after the regions: magic, then the snapshot's id (32 hex digits), then zeros.
constexpr std::string_view kMarkMagic = "haven-memory-v1:";
constexpr size_t kMarkBytes = 64;

std::array<uint8_t, kMarkBytes> mark_of(const std::string& snapshot_id) {
  std::array<uint8_t, kMarkBytes> mark{};
  std::string text = std::string(kMarkMagic) + snapshot_id;
  std::copy_n(text.begin(), std::min(text.size(), mark.size()), mark.begin());
  return mark;
}

}  // namespace

Result<MemoryImage> write_memory_image(const memory::GuestMemory& memory, const std::string& path,
                                       const std::string& snapshot_id) {
  std::string temporary = path + ".tmp";
  ::unlink(temporary.c_str());
  auto fd = TRY(sys::open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  MemoryImage image;
  uint64_t file_offset = 0;
  for (const memory::Region& region : memory.regions()) {
    image.regions.push_back({region.start.value(), region.size(), file_offset});
    auto pages = TRY(pages_with_data(region));
    uint64_t run_start = 0, run_length = 0;
    auto flush = [&]() -> Result<void> {
      if (run_length == 0) return {};
      TRY(with_context(
          sys::write_at(fd.get(),
                        std::span<const uint8_t>(region.host.data() + run_start, run_length),
                        file_offset + run_start),
          "{}", temporary));
      image.data_bytes += run_length;
      run_length = 0;
      return {};
    };
    for (uint64_t offset = 0; offset < region.size(); offset += kBlock) {
      uint64_t length = std::min(kBlock, region.size() - offset);
      bool data = any_resident(pages, offset, length) &&
                  !all_zero(std::span(region.host.data() + offset, length));
      if (!data || run_length >= kMaxWrite) TRY(flush());
      if (!data) continue;
      if (run_length == 0) run_start = offset;
      run_length += length;
    }
    TRY(flush());
    file_offset += region.size();
  }
  TRY(with_context(sys::write_at(fd.get(), mark_of(snapshot_id), file_offset), "{}", temporary));
  if (::fdatasync(fd.get()) != 0) return errno_error("fdatasync {}", temporary);
  if (::rename(temporary.c_str(), path.c_str()) != 0)
    return errno_error("rename {} to {}", temporary, path);
  TRY(fsync_parent_directory(path));
  return image;
}

Result<memory::GuestMemory> map_memory_image(const std::string& path,
                                             std::span<const SnapshotRegion> regions,
                                             const std::string& snapshot_id) {
  // Never through a link: a snapshot directory is somebody else's, and a link there would map
  // a host file the VMM can read into the guest.
  auto fd = TRY(sys::open_data_file(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return errno_error("stat {}", path);
  std::vector<memory::RegionSpec> specs;
  std::vector<uint64_t> offsets;
  for (const SnapshotRegion& region : regions) {
    if (region.file_offset + region.size < region.file_offset ||
        region.file_offset + region.size > static_cast<uint64_t>(st.st_size))
      return make_error("{}: {} bytes, too short for the region at {:#x} (+{:#x})", path,
                        st.st_size, region.guest_address, region.size);
    specs.push_back({memory::GuestAddr(region.guest_address), region.size});
    offsets.push_back(region.file_offset);
  }
  if (!snapshot_id.empty()) {
    uint64_t end = 0;
    for (const SnapshotRegion& region : regions)
      end = std::max(end, region.file_offset + region.size);  // bounded above
    std::array<uint8_t, kMarkBytes> found{};
    if (end > static_cast<uint64_t>(st.st_size) ||
        static_cast<uint64_t>(st.st_size) - end < kMarkBytes ||
        !sys::read_at(fd.get(), found, end) || found != mark_of(snapshot_id))
      return make_error(
          "{} is not the memory of snapshot {} (its parts do not belong together: was another "
          "snapshot written into the same directory?)",
          path, snapshot_id);
  }
  return with_context(memory::GuestMemory::map_file(specs, fd.get(), offsets), "{}", path);
}

}  // namespace haven::vmm
