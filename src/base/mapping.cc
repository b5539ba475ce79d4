#include "base/mapping.h"

#include <sys/mman.h>

namespace haven {

Result<Mapping> Mapping::anonymous(size_t size) {
  void* data = ::mmap(nullptr, size, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (data == MAP_FAILED) return errno_error("mmap of {} anonymous bytes", size);
  return Mapping(data, size);
}

Result<Mapping> Mapping::of_fd(int fd, size_t size, int prot, int flags, off_t offset) {
  void* data = ::mmap(nullptr, size, prot, flags, fd, offset);
  if (data == MAP_FAILED) return errno_error("mmap of {} bytes of fd {}", size, fd);
  return Mapping(data, size);
}

Mapping& Mapping::operator=(Mapping&& other) noexcept {
  if (this != &other) {
    unmap();
    m_data = std::exchange(other.m_data, nullptr);
    m_size = std::exchange(other.m_size, 0);
  }
  return *this;
}

void Mapping::unmap() {
  if (m_data) ::munmap(m_data, m_size);
  m_data = nullptr;
  m_size = 0;
}

}  // namespace haven
