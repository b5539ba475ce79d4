#include "block/image_file.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/stat.h>

#include <chrono>
#include <thread>

#include "base/file_lock.h"
#include "base/log.h"
#include "base/sys.h"

namespace haven::block {

Result<bool> ImageFile::lock(int fd, bool readonly, const std::string& path) {
  auto mode = readonly ? sys::LockMode::shared : sys::LockMode::exclusive;
  bool locked = TRY(sys::try_lock_where_supported(fd, mode, path));
  // systemd-udevd takes a shared lock on a whole-disk block device for a moment after it was
  // written and closed (a guest's reboot, a stop and start): waited out, up to 2 s.
  if (!locked && S_ISBLK(TRY(sys::stat_fd(fd, path)).st_mode)) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (!locked && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      locked = TRY(sys::try_lock_where_supported(fd, mode, path));
    }
  }
  return locked;
}

Result<ImageFile> ImageFile::open(const std::string& path, bool readonly, bool direct) {
  int flags = (readonly ? O_RDONLY : O_RDWR) | (direct ? O_DIRECT : 0) | O_CLOEXEC;
  auto fd = TRY(sys::open_data_file(path, flags, true));
  // One writer and no readers beside it, or readers only: two guests writing one disk corrupt
  // its file system, and a guest reading a disk another writes sees it torn.
  if (!TRY(lock(fd.get(), readonly, path))) {
    std::string holders = sys::describe_lock_holders(fd.get());
    if (readonly)
      return make_error("{} is being written by {}; a guest cannot read a disk another one writes",
                        path, holders);
    return make_error("{} is in use by {}; a disk is written by one guest at a time", path,
                      holders);
  }
  uint64_t bytes = TRY(sys::image_size(fd.get(), path));
  if (bytes < kSectorSize) return make_error("{}: an empty disk image", path);
  if (bytes % kSectorSize)
    log::warn("{}: size {} is not a multiple of 512; the guest sees {} bytes", path, bytes,
              bytes / kSectorSize * kSectorSize);
  return ImageFile(Key(), path, std::move(fd), bytes);
}

void ImageFile::prepare(io_uring_sqe* sqe, const Io& io, std::span<const iovec> data) const {
  auto count = static_cast<unsigned>(data.size());
  switch (io.kind) {
    case Io::Kind::read:
      io_uring_prep_readv(sqe, m_fd.get(), data.data(), count, io.offset);
      break;
    case Io::Kind::write:
      io_uring_prep_writev(sqe, m_fd.get(), data.data(), count, io.offset);
      break;
    case Io::Kind::flush:
      io_uring_prep_fsync(sqe, m_fd.get(), IORING_FSYNC_DATASYNC);
      break;
    case Io::Kind::discard:
    case Io::Kind::write_zeroes: {
      bool hole = io.kind == Io::Kind::discard || io.unmap;
      int mode = FALLOC_FL_KEEP_SIZE | (hole ? FALLOC_FL_PUNCH_HOLE : FALLOC_FL_ZERO_RANGE);
      io_uring_prep_fallocate(sqe, m_fd.get(), mode, io.offset, io.length);
      break;
    }
  }
}

}  // namespace haven::block
