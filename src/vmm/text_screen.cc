#include "vmm/text_screen.h"

#include <fmt/format.h>

namespace haven::vmm {
namespace {

// Code page 437's glyphs for 0x00-0x1f and 0x7f-0xff (the printable ASCII range is itself).
constexpr char16_t kLow[32] = {
    u' ',      u'\u263a', u'\u263b', u'\u2665', u'\u2666', u'\u2663', u'\u2660', u'\u2022',
    u'\u25d8', u'\u25cb', u'\u25d9', u'\u2642', u'\u2640', u'\u266a', u'\u266b', u'\u263c',
    u'\u25ba', u'\u25c4', u'\u2195', u'\u203c', u'\u00b6', u'\u00a7', u'\u25ac', u'\u21a8',
    u'\u2191', u'\u2193', u'\u2192', u'\u2190', u'\u221f', u'\u2194', u'\u25b2', u'\u25bc'};
constexpr char16_t kHigh[129] = {
    u'\u2302', u'\u00c7', u'\u00fc', u'\u00e9', u'\u00e2', u'\u00e4', u'\u00e0', u'\u00e5',
    u'\u00e7', u'\u00ea', u'\u00eb', u'\u00e8', u'\u00ef', u'\u00ee', u'\u00ec', u'\u00c4',
    u'\u00c5', u'\u00c9', u'\u00e6', u'\u00c6', u'\u00f4', u'\u00f6', u'\u00f2', u'\u00fb',
    u'\u00f9', u'\u00ff', u'\u00d6', u'\u00dc', u'\u00a2', u'\u00a3', u'\u00a5', u'\u20a7',
    u'\u0192', u'\u00e1', u'\u00ed', u'\u00f3', u'\u00fa', u'\u00f1', u'\u00d1', u'\u00aa',
    u'\u00ba', u'\u00bf', u'\u2310', u'\u00ac', u'\u00bd', u'\u00bc', u'\u00a1', u'\u00ab',
    u'\u00bb', u'\u2591', u'\u2592', u'\u2593', u'\u2502', u'\u2524', u'\u2561', u'\u2562',
    u'\u2556', u'\u2555', u'\u2563', u'\u2551', u'\u2557', u'\u255d', u'\u255c', u'\u255b',
    u'\u2510', u'\u2514', u'\u2534', u'\u252c', u'\u251c', u'\u2500', u'\u253c', u'\u255e',
    u'\u255f', u'\u255a', u'\u2554', u'\u2569', u'\u2566', u'\u2560', u'\u2550', u'\u256c',
    u'\u2567', u'\u2568', u'\u2564', u'\u2565', u'\u2559', u'\u2558', u'\u2552', u'\u2553',
    u'\u256b', u'\u256a', u'\u2518', u'\u250c', u'\u2588', u'\u2584', u'\u258c', u'\u2590',
    u'\u2580', u'\u03b1', u'\u00df', u'\u0393', u'\u03c0', u'\u03a3', u'\u03c3', u'\u00b5',
    u'\u03c4', u'\u03a6', u'\u0398', u'\u03a9', u'\u03b4', u'\u221e', u'\u03c6', u'\u03b5',
    u'\u2229', u'\u2261', u'\u00b1', u'\u2265', u'\u2264', u'\u2320', u'\u2321', u'\u00f7',
    u'\u2248', u'\u00b0', u'\u2219', u'\u00b7', u'\u221a', u'\u207f', u'\u00b2', u'\u25a0',
    u' '};

std::string encode_utf8(char16_t code) {
  std::string out;
  if (code < 0x80) {
    out += static_cast<char>(code);
  } else if (code < 0x800) {
    out += static_cast<char>(0xc0 | (code >> 6));
    out += static_cast<char>(0x80 | (code & 0x3f));
  } else {
    out += static_cast<char>(0xe0 | (code >> 12));
    out += static_cast<char>(0x80 | ((code >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (code & 0x3f));
  }
  return out;
}

}  // namespace

std::string cp437_to_utf8(uint8_t character) {
  if (character < 0x20) return encode_utf8(kLow[character]);
  if (character < 0x7f) return std::string(1, static_cast<char>(character));
  return encode_utf8(kHigh[character - 0x7f]);
}

void TextScreen::refresh() {
  // Characters and attributes alternate; only the characters are drawn.
  std::array<uint8_t, kColumns * kRows * 2> cells{};
  if (!m_memory.read_bytes(memory::GuestAddr(kAddress), cells)) return;
  std::string out;
  for (uint32_t row = 0; row < kRows; ++row) {
    bool changed = false;
    for (uint32_t column = 0; column < kColumns; ++column) {
      uint32_t index = row * kColumns + column;
      if (cells[2 * index] != m_shown[index]) changed = true;
      m_shown[index] = cells[2 * index];
    }
    if (!changed) continue;
    // The row without its trailing blanks, erasing the rest of the terminal's line.
    uint32_t end = kColumns;
    while (end > 0 &&
           (m_shown[row * kColumns + end - 1] == 0 || m_shown[row * kColumns + end - 1] == ' '))
      --end;
    out += fmt::format("\x1b[{};1H", row + 1);
    for (uint32_t column = 0; column < end; ++column)
      out += cp437_to_utf8(m_shown[row * kColumns + column]);
    out += "\x1b[K";
  }
  if (!out.empty()) m_output(std::span(reinterpret_cast<const uint8_t*>(out.data()), out.size()));
}

}  // namespace haven::vmm
