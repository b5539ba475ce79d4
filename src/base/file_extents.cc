#include "base/file_extents.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "base/sys.h"

namespace haven {

Result<std::vector<Extent>> data_extents(int fd, uint64_t size, bool is_file,
                                         const std::string& path) {
  if (!is_file) return std::vector<Extent>{{0, size}};
  std::vector<Extent> extents;
  off_t at = 0;
  while (static_cast<uint64_t>(at) < size) {
    off_t data = ::lseek(fd, at, SEEK_DATA);
    if (data < 0) {
      if (errno == ENXIO) break;                                   // only a hole remains
      if (errno == EINVAL) return std::vector<Extent>{{0, size}};  // no SEEK_DATA here
      return errno_error("seek data in {}", path);
    }
    if (static_cast<uint64_t>(data) >= size) break;  // data only past `size`
    off_t hole = ::lseek(fd, data, SEEK_HOLE);
    if (hole < 0) return errno_error("seek hole in {}", path);
    extents.push_back({static_cast<uint64_t>(data), std::min<uint64_t>(hole, size)});
    at = hole;
  }
  return extents;
}

bool all_zero(std::span<const uint8_t> data) {
  size_t words = data.size() / 8;
  const uint8_t* p = data.data();
  for (size_t i = 0; i < words; ++i) {
    uint64_t word;
    std::memcpy(&word, p + 8 * i, 8);
    if (word) return false;
  }
  for (size_t i = words * 8; i < data.size(); ++i)
    if (p[i]) return false;
  return true;
}

Result<uint64_t> copy_sparse_file(const std::string& from, const std::string& to,
                                  SourceLinks links) {
  int flags = O_RDONLY | (links == SourceLinks::refuse ? O_NOFOLLOW : 0);
  auto opened = sys::open(from, flags);
  if (!opened && links == SourceLinks::refuse && opened.error().code() == ELOOP)
    return make_error("{} is a symbolic link: not copied", from);
  auto source = TRY(std::move(opened));
  struct stat st {};
  if (::fstat(source.get(), &st) != 0) return errno_error("stat {}", from);
  if (!S_ISREG(st.st_mode)) return make_error("{} is not a regular file", from);
  auto target = TRY(sys::open(to, O_WRONLY | O_CREAT | O_EXCL, 0600));
  auto size = static_cast<uint64_t>(st.st_size);
  uint64_t copied = 0;
  if (::ioctl(target.get(), FICLONE, source.get()) != 0) {
    if (::ftruncate(target.get(), static_cast<off_t>(size)) != 0)
      return errno_error("truncate {}", to);
    auto extents = TRY(data_extents(source.get(), size, true, from));
    for (const Extent& extent : extents) {
      auto in = static_cast<off_t>(extent.start), out = in;
      while (static_cast<uint64_t>(in) < extent.end) {
        ssize_t n = ::copy_file_range(source.get(), &in, target.get(), &out,
                                      extent.end - static_cast<uint64_t>(in), 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return errno_error("copy {} to {}", from, to);
        if (n == 0) return make_error("copy {} to {}: the source shrank", from, to);
        copied += static_cast<uint64_t>(n);
      }
    }
  }
  if (::fsync(target.get()) != 0) return errno_error("fsync {}", to);
  return copied;
}

}  // namespace haven
