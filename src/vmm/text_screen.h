#pragma once

// The PC's text-mode screen (80x25 characters at 0xb8000) shown on the serial console, for BIOS
// guests, which have no display. Programs that write video memory directly instead of calling
// the BIOS -- memtest86+, many DOS programs, some boot loaders -- would otherwise show nothing
// at all: SeaBIOS copies BIOS text output to the serial port, but not the screen memory.
//
// Haven looks at the screen a few times a second and draws each row that changed, in place
// (ANSI cursor positioning, code page 437 as UTF-8, no colours). It stops for good once the
// guest sets the serial port's baud rate: its own serial driver (Linux's, GRUB's) then runs
// the console, and a second copy of its screen would only garble it. SeaBIOS's console
// redirection never sets it, and writes nothing to screen memory (there is no VGA BIOS).

#include <array>
#include <cstdint>
#include <functional>
#include <span>
#include <string>

#include "memory/guest_memory.h"

namespace haven::vmm {

class TextScreen {
 public:
  static constexpr uint64_t kAddress = 0xb8000;
  static constexpr uint32_t kColumns = 80;
  static constexpr uint32_t kRows = 25;
  using Output = std::function<void(std::span<const uint8_t>)>;

  TextScreen(const memory::GuestMemory& memory, Output output)
      : m_memory(memory), m_output(std::move(output)) {}

  // Draws what changed since the last look (nothing, the first time the screen is blank).
  void refresh();

 private:
  const memory::GuestMemory& m_memory;
  Output m_output;
  std::array<uint8_t, kColumns * kRows> m_shown{};  // the characters last drawn (0: blank)
};

// A code page 437 character (what a PC's text screen holds) as UTF-8; control codes as the
// glyphs the screen shows for them.
std::string cp437_to_utf8(uint8_t character);

}  // namespace haven::vmm
