#pragma once

// Every syscall Haven makes outside the KVM wrappers goes through here once, so each failure
// names the call, its object and errno.

#include <sys/stat.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/unique_fd.h"

namespace haven::sys {

Result<UniqueFd> open(const std::string& path, int flags, mode_t mode = 0);

// open(2) of a file holding data: a regular file, or with `block_devices` a block device too.
// It is opened without waiting and its type checked before anything reads it (a FIFO opened
// for reading would wait for ever for a writer), then made blocking again. Anything else is an
// error saying what it is ("PATH is a FIFO, not a regular file").
Result<UniqueFd> open_data_file(const std::string& path, int flags, bool block_devices = false);

// mkdir: make_directory fails when `path` exists (EEXIST), ensure_directory accepts it.
Result<void> make_directory(const std::string& path, mode_t mode);
Result<void> ensure_directory(const std::string& path, mode_t mode);

// fstat and stat, the error naming `path` (what the fd is).
Result<struct stat> stat_fd(int fd, const std::string& path);
Result<struct stat> stat_path(const std::string& path);
// Whether `path` exists: false only when it does not (ENOENT); any other failure is an error.
Result<bool> exists(const std::string& path);
// ftruncate: sets the file's size to `bytes` (sparse when growing).
Result<void> resize(int fd, uint64_t bytes, const std::string& path);
// Makes [offset, offset + length) of a file read as zeros: a hole where the file system can
// punch one (fallocate PUNCH_HOLE, the size kept), else zeros written.
Result<void> zero_range(int fd, uint64_t offset, uint64_t length, const std::string& path);
// fdatasync and fsync.
Result<void> sync_data(int fd, const std::string& path);
Result<void> sync_all(int fd, const std::string& path);
// rename(2), the error naming both paths.
Result<void> rename(const std::string& from, const std::string& to);
// unlink(2); `missing_ok`: a path already gone is not an error.
Result<void> remove_file(const std::string& path, bool missing_ok = false);

// The bytes a disk image holds: a regular file's size or a block device's (BLKGETSIZE64);
// anything else is an error naming `path`.
Result<uint64_t> image_size(int fd, const std::string& path);

// ioctl with a name for the error message: ioctl(fd, KVM_RUN, 0, "KVM_RUN").
Result<int> ioctl(int fd, unsigned long request, unsigned long arg, const char* name);
inline Result<int> ioctl(int fd, unsigned long request, const void* arg, const char* name) {
  return ioctl(fd, request, reinterpret_cast<unsigned long>(arg), name);
}

// Whole file into memory, refusing files over `max_size` bytes.
Result<std::vector<uint8_t>> read_file(const std::string& path, size_t max_size);

// The names in a directory (not . or ..), sorted.
Result<std::vector<std::string>> list_directory(const std::string& directory);

// Fills `out` from the kernel's random source (getrandom).
Result<void> random_bytes(std::span<uint8_t> out);

// The host's memory (MemTotal of /proc/meminfo), in bytes.
Result<uint64_t> host_memory();
// Raises this process's soft limit on open files to its hard limit (at most 2^20): a
// repository keeps one descriptor per pack it reads, and the usual soft limit of 1024 would
// stop a restore, verify or repair of more than ~1000 packs (64 GiB). Best effort.
void raise_open_file_limit();

// Reads until end of file, for files whose size says nothing (/proc, pipes); refuses more than
// `max_size` bytes.
Result<std::string> read_until_end(const std::string& path, size_t max_size);

// Writes all of `data`, retrying on short writes and EINTR.
Result<void> write_all(int fd, std::span<const uint8_t> data);

// Reads exactly data.size() bytes at `offset` (positional, EINTR retried); end of file first
// is an error.
Result<void> read_at(int fd, std::span<uint8_t> data, uint64_t offset);
// Writes all of `data` at `offset` (positional, short writes and EINTR retried).
Result<void> write_at(int fd, std::span<const uint8_t> data, uint64_t offset);

// Sets (or clears) a file's immutable attribute, as `chattr +i` does: an immutable file cannot
// be changed, renamed or removed, even by root, until the attribute is cleared. False when the
// file system or the caller's privileges (CAP_LINUX_IMMUTABLE) do not allow it.
Result<bool> set_immutable(const std::string& path, bool immutable);
bool is_immutable(const std::string& path);

// Reads what is available (at most data.size()); 0 means end of file. Retries on EINTR.
Result<size_t> read_some(int fd, std::span<uint8_t> data);
// The same at `offset` (pread).
Result<size_t> read_some_at(int fd, std::span<uint8_t> data, uint64_t offset);

Result<UniqueFd> eventfd(unsigned initial, int flags);
// A non-blocking timerfd (CLOCK_MONOTONIC) that becomes readable once, `delay` from now, or
// every `interval` after that when one is given.
Result<UniqueFd> timerfd_once(std::chrono::nanoseconds delay);
Result<UniqueFd> timerfd_periodic(std::chrono::nanoseconds interval);

}  // namespace haven::sys
