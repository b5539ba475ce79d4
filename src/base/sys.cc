#include "base/sys.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <memory>

namespace haven::sys {

Result<UniqueFd> open(const std::string& path, int flags, mode_t mode) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  if (fd < 0) return errno_error("open {}", path);
  return UniqueFd(fd);
}

Result<int> ioctl(int fd, unsigned long request, unsigned long arg, const char* name) {
  int ret;
  do {
    ret = ::ioctl(fd, request, arg);
  } while (ret < 0 && errno == EINTR);
  if (ret < 0) return errno_error("{}", name);
  return ret;
}

namespace {

const char* kind_of_file(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  return "not a file";
}

}  // namespace

Result<UniqueFd> open_data_file(const std::string& path, int flags, bool block_devices) {
  UniqueFd fd = TRY(open(path, flags | O_NONBLOCK));
  struct stat st = TRY(stat_fd(fd.get(), path));
  if (!S_ISREG(st.st_mode) && !(block_devices && S_ISBLK(st.st_mode)))
    return make_error("{} is {}, not a regular file{}", path, kind_of_file(st.st_mode),
                      block_devices ? " or a block device" : "");
  if (!(flags & O_NONBLOCK)) {
    int now = ::fcntl(fd.get(), F_GETFL);
    if (now < 0 || ::fcntl(fd.get(), F_SETFL, now & ~O_NONBLOCK) != 0)
      return errno_error("fcntl {}", path);
  }
  return fd;
}

Result<std::vector<uint8_t>> read_file(const std::string& path, size_t max_size) {
  UniqueFd fd = TRY(open_data_file(path, O_RDONLY));
  struct stat st = TRY(stat_fd(fd.get(), path));
  if (static_cast<uint64_t>(st.st_size) > max_size)
    return make_error("{}: {} bytes is larger than the limit of {} bytes", path, st.st_size,
                      max_size);
  std::vector<uint8_t> data(static_cast<size_t>(st.st_size));
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::pread(fd.get(), data.data() + done, data.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_error("read {}", path);
    if (n == 0) return make_error("{}: file shrank while being read", path);
    done += static_cast<size_t>(n);
  }
  return data;
}

Result<void> random_bytes(std::span<uint8_t> out) {
  while (!out.empty()) {
    ssize_t got = ::getrandom(out.data(), out.size(), 0);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return errno_error("getrandom");
    out = out.subspan(static_cast<size_t>(got));
  }
  return {};
}

Result<uint64_t> host_memory() {
  std::string meminfo = TRY(read_until_end("/proc/meminfo", 1 << 16));
  size_t at = meminfo.find("MemTotal:");
  if (at == std::string::npos) return make_error("/proc/meminfo: no MemTotal");
  char* end = nullptr;
  unsigned long long kib = std::strtoull(meminfo.c_str() + at + 9, &end, 10);
  if (end == meminfo.c_str() + at + 9 || kib == 0)
    return make_error("/proc/meminfo: MemTotal is not a number");
  return static_cast<uint64_t>(kib) * 1024;
}

Result<std::string> read_until_end(const std::string& path, size_t max_size) {
  UniqueFd fd = TRY(open(path, O_RDONLY | O_CLOEXEC));
  std::string data;
  char buffer[4096];
  for (;;) {
    ssize_t n = ::read(fd.get(), buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_error("read {}", path);
    if (n == 0) return data;
    if (data.size() + static_cast<size_t>(n) > max_size)
      return make_error("{}: more than the limit of {} bytes", path, max_size);
    data.append(buffer, static_cast<size_t>(n));
  }
}

Result<void> read_at(int fd, std::span<uint8_t> data, uint64_t offset) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n =
        ::pread(fd, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_error("read at {}", offset + done);
    if (n == 0)
      return make_error("end of file at {} ({} of {} bytes read)", offset + done, done,
                        data.size());
    done += static_cast<size_t>(n);
  }
  return {};
}

Result<void> write_at(int fd, std::span<const uint8_t> data, uint64_t offset) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n =
        ::pwrite(fd, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_error("write at {}", offset + done);
    done += static_cast<size_t>(n);
  }
  return {};
}

Result<void> write_all(int fd, std::span<const uint8_t> data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_error("write to fd {}", fd);
    data = data.subspan(static_cast<size_t>(n));
  }
  return {};
}

Result<size_t> read_some_at(int fd, std::span<uint8_t> data, uint64_t offset) {
  for (;;) {
    ssize_t n = ::pread(fd, data.data(), data.size(), static_cast<off_t>(offset));
    if (n >= 0) return static_cast<size_t>(n);
    if (errno != EINTR) return errno_error("read from fd {} at {}", fd, offset);
  }
}

Result<size_t> read_some(int fd, std::span<uint8_t> data) {
  for (;;) {
    ssize_t n = ::read(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_error("read from fd {}", fd);
    return static_cast<size_t>(n);
  }
}

Result<UniqueFd> eventfd(unsigned initial, int flags) {
  int fd = ::eventfd(initial, flags | EFD_CLOEXEC);
  if (fd < 0) return errno_error("eventfd");
  return UniqueFd(fd);
}

namespace {

Result<UniqueFd> armed_timerfd(std::chrono::nanoseconds delay, std::chrono::nanoseconds interval) {
  int fd = ::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (fd < 0) return errno_error("timerfd_create");
  UniqueFd timer(fd);
  auto to_timespec = [](int64_t ns) {
    return timespec{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
  };
  itimerspec when{};
  when.it_value = to_timespec(std::max<int64_t>(delay.count(), 1));  // 0 would disarm it
  when.it_interval = to_timespec(interval.count());
  if (::timerfd_settime(timer.get(), 0, &when, nullptr) != 0) return errno_error("timerfd_settime");
  return timer;
}

}  // namespace

Result<UniqueFd> timerfd_once(std::chrono::nanoseconds delay) {
  return armed_timerfd(delay, std::chrono::nanoseconds(0));
}

Result<UniqueFd> timerfd_periodic(std::chrono::nanoseconds interval) {
  return armed_timerfd(interval, interval);
}

Result<void> make_directory(const std::string& path, mode_t mode) {
  if (::mkdir(path.c_str(), mode) != 0) return errno_error("mkdir {}", path);
  return {};
}

Result<void> ensure_directory(const std::string& path, mode_t mode) {
  if (::mkdir(path.c_str(), mode) != 0 && errno != EEXIST) return errno_error("mkdir {}", path);
  return {};
}

Result<struct stat> stat_fd(int fd, const std::string& path) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return errno_error("stat {}", path);
  return st;
}

Result<struct stat> stat_path(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return errno_error("stat {}", path);
  return st;
}

Result<bool> exists(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) return true;
  if (errno == ENOENT) return false;
  return errno_error("stat {}", path);
}

Result<void> resize(int fd, uint64_t bytes, const std::string& path) {
  if (::ftruncate(fd, static_cast<off_t>(bytes)) != 0)
    return errno_error("size {} to {} bytes", path, bytes);
  return {};
}

Result<void> zero_range(int fd, uint64_t offset, uint64_t length, const std::string& path) {
  if (::fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
                  static_cast<off_t>(length)) == 0)
    return {};
  if (errno != EOPNOTSUPP) return errno_error("punching a hole in {} at {}", path, offset);
  std::vector<uint8_t> zeros(std::min<uint64_t>(length, 1 << 20));
  for (uint64_t done = 0; done < length;) {
    size_t part = static_cast<size_t>(std::min<uint64_t>(zeros.size(), length - done));
    TRY(write_at(fd, std::span<const uint8_t>(zeros.data(), part), offset + done));
    done += part;
  }
  return {};
}

Result<void> sync_data(int fd, const std::string& path) {
  if (::fdatasync(fd) != 0) return errno_error("fdatasync {}", path);
  return {};
}

Result<void> sync_all(int fd, const std::string& path) {
  if (::fsync(fd) != 0) return errno_error("fsync {}", path);
  return {};
}

Result<void> rename(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) return errno_error("rename {} to {}", from, to);
  return {};
}

Result<void> remove_file(const std::string& path, bool missing_ok) {
  if (::unlink(path.c_str()) != 0 && !(missing_ok && errno == ENOENT))
    return errno_error("remove {}", path);
  return {};
}

Result<uint64_t> image_size(int fd, const std::string& path) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return errno_error("stat {}", path);
  if (S_ISBLK(st.st_mode)) {
    uint64_t bytes = 0;
    if (::ioctl(fd, BLKGETSIZE64, &bytes) != 0) return errno_error("BLKGETSIZE64 {}", path);
    return bytes;
  }
  if (!S_ISREG(st.st_mode)) return make_error("{} is neither a file nor a block device", path);
  return static_cast<uint64_t>(st.st_size);
}

Result<bool> set_immutable(const std::string& path, bool immutable) {
  auto fd = TRY(open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  int flags = 0;
  if (::ioctl(fd.get(), FS_IOC_GETFLAGS, &flags) != 0) {
    if (errno == ENOTTY || errno == EOPNOTSUPP || errno == EINVAL) return false;
    return errno_error("read the attributes of {}", path);
  }
  int wanted = immutable ? flags | FS_IMMUTABLE_FL : flags & ~FS_IMMUTABLE_FL;
  if (wanted == flags) return true;
  if (::ioctl(fd.get(), FS_IOC_SETFLAGS, &wanted) != 0) {
    if (errno == EPERM || errno == ENOTTY || errno == EOPNOTSUPP || errno == EINVAL) return false;
    return errno_error("set the attributes of {}", path);
  }
  return true;
}

bool is_immutable(const std::string& path) {
  auto fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  int flags = 0;
  return fd && ::ioctl(fd->get(), FS_IOC_GETFLAGS, &flags) == 0 && (flags & FS_IMMUTABLE_FL);
}

Result<std::vector<std::string>> list_directory(const std::string& directory) {
  DIR* dir = ::opendir(directory.c_str());
  if (!dir) return errno_error("open {}", directory);
  std::unique_ptr<DIR, int (*)(DIR*)> closer(dir, ::closedir);
  std::vector<std::string> names;
  while (dirent* entry = ::readdir(dir)) {
    std::string name = entry->d_name;
    if (name != "." && name != "..") names.push_back(std::move(name));
  }
  std::sort(names.begin(), names.end());
  return names;
}

void raise_open_file_limit() {
  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) != 0) return;
  rlim_t most = std::min<rlim_t>(files.rlim_max, rlim_t{1} << 20);
  if (files.rlim_cur >= most) return;
  files.rlim_cur = most;
  (void)::setrlimit(RLIMIT_NOFILE, &files);
}

}  // namespace haven::sys
