#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>

#include "base/error.h"

namespace haven {

// Owns one mmap'd range and unmaps it exactly once.
class Mapping {
 public:
  // Private anonymous memory, zero-filled, not reserved in swap up front.
  static Result<Mapping> anonymous(size_t size);
  // `size` bytes of `fd` from `offset`, with mmap's `prot` and `flags`.
  static Result<Mapping> of_fd(int fd, size_t size, int prot, int flags, off_t offset = 0);

  Mapping() = default;
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  Mapping(Mapping&& other) noexcept
      : m_data(std::exchange(other.m_data, nullptr)), m_size(std::exchange(other.m_size, 0)) {}
  Mapping& operator=(Mapping&& other) noexcept;
  ~Mapping() { unmap(); }

  uint8_t* data() const { return static_cast<uint8_t*>(m_data); }
  size_t size() const { return m_size; }
  std::span<uint8_t> bytes() const { return {data(), m_size}; }

 private:
  Mapping(void* data, size_t size) : m_data(data), m_size(size) {}
  void unmap();

  void* m_data = nullptr;
  size_t m_size = 0;
};

}  // namespace haven
