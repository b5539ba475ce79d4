#pragma once

// The bottom of a disk's block stack (stack.h): the image file or block device itself, read and
// written through the device's io_uring. Reads and writes move the guest's buffers, a flush is
// an fdatasync, a discard punches a hole, a write-zeroes zeroes the range (or punches a hole,
// where the guest allows it or the file system cannot zero a range: tmpfs).

#include <liburing.h>
#include <sys/uio.h>

#include <cerrno>
#include <cstdint>
#include <span>
#include <string>

#include "base/error.h"
#include "base/unique_fd.h"
#include "block/layer.h"

namespace haven::block {

class ImageFile {
 public:
  static constexpr uint32_t kSectorSize = 512;

  // Opens `path` read-only or read-write, with O_DIRECT when asked, and locks it (flock): shared
  // when read-only, exclusive otherwise, so no two guests write one disk and none reads a disk
  // another writes; the error names the holder. Refuses an image smaller
  // than a sector; one whose size is not a multiple of 512 is shown to the guest rounded down
  // (with a warning).
  static Result<ImageFile> open(const std::string& path, bool readonly, bool direct);
  // The lock open() takes, on `fd` open on `path`: false when another holds a conflicting one
  // (a block device's is waited for up to 2 s: udev's); true unlocked where the file system has
  // no locks. havend probes with it before starting a guest.
  static Result<bool> lock(int fd, bool readonly, const std::string& path);

  const std::string& path() const { return m_path; }
  int fd() const { return m_fd.get(); }
  // The file's (or device's) size in bytes, and what the guest sees of it: whole sectors.
  uint64_t bytes() const { return m_bytes; }
  uint64_t sectors() const { return m_bytes / kSectorSize; }

  // Fills `sqe` with the I/O of `io`; `data` are the guest's buffers of a read or a write (they
  // must stay valid until the completion).
  void prepare(io_uring_sqe* sqe, const Io& io, std::span<const iovec> data) const;
  // The completion's result that means `io` succeeded.
  static uint64_t expected(const Io& io) {
    return io.kind == Io::Kind::read || io.kind == Io::Kind::write ? io.length : 0;
  }
  // Whether `io` failed only because the file system cannot zero a range in place (tmpfs): it
  // is then prepared again with `unmap` set, since a punched hole also reads as zeros.
  static bool retry_as_hole(const Io& io, int result) {
    return result == -EOPNOTSUPP && io.kind == Io::Kind::write_zeroes && !io.unmap;
  }

 private:
  struct Key {
    explicit Key() = default;
  };

 public:
  // Only open() can make the key: it checks the size.
  ImageFile(Key, std::string path, UniqueFd fd, uint64_t bytes)
      : m_path(std::move(path)), m_fd(std::move(fd)), m_bytes(bytes) {}

 private:
  std::string m_path;
  UniqueFd m_fd;
  uint64_t m_bytes;
};

}  // namespace haven::block
