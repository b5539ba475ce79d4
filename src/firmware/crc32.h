#pragma once

#include <cstdint>
#include <span>

namespace haven::firmware {

// CRC-32 as GPT uses it (UEFI 2.10 §5.3.2 names the IEEE 802.3 / zlib CRC): reflected
// polynomial 0xEDB88320, initial value and final XOR 0xFFFFFFFF. crc32("123456789") is
// 0xCBF43926. Pass the previous result as `crc` to continue over more bytes.
uint32_t crc32(std::span<const uint8_t> data, uint32_t crc = 0);

}  // namespace haven::firmware
