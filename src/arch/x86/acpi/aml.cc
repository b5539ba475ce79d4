#include "arch/x86/acpi/aml.h"

#include <stdexcept>

namespace haven::arch::x86::acpi::aml {
namespace {

constexpr uint8_t kZeroOp = 0x00;
constexpr uint8_t kOneOp = 0x01;
constexpr uint8_t kNameOp = 0x08;
constexpr uint8_t kBytePrefix = 0x0a;
constexpr uint8_t kWordPrefix = 0x0b;
constexpr uint8_t kDWordPrefix = 0x0c;
constexpr uint8_t kStringPrefix = 0x0d;
constexpr uint8_t kQWordPrefix = 0x0e;
constexpr uint8_t kScopeOp = 0x10;
constexpr uint8_t kBufferOp = 0x11;
constexpr uint8_t kPackageOp = 0x12;
constexpr uint8_t kExtOpPrefix = 0x5b;
constexpr uint8_t kDeviceOp = 0x82;
constexpr uint8_t kMethodOp = 0x14;
constexpr uint8_t kNotifyOp = 0x86;
constexpr uint8_t kExtendedInterruptDescriptor = 0x89;
constexpr uint8_t kRootChar = '\\';
constexpr uint8_t kIoPortDescriptor = 0x47;
constexpr uint8_t kIrqDescriptor = 0x22;
constexpr uint8_t kEndTag = 0x79;

void append(Bytes& out, const Bytes& more) {
  out.insert(out.end(), more.begin(), more.end());
}

void append_le(Bytes& out, uint64_t value, size_t width) {
  for (size_t i = 0; i < width; ++i) out.push_back(static_cast<uint8_t>(value >> (8 * i)));
}

// opcode(s), PkgLength, then body.
Bytes with_pkg_length(std::initializer_list<uint8_t> opcode, const Bytes& body) {
  Bytes out(opcode);
  append(out, pkg_length(body.size()));
  append(out, body);
  return out;
}

Bytes concat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes& part : parts) append(out, part);
  return out;
}

uint8_t hex_digit(char c) {
  if (c >= '0' && c <= '9') return static_cast<uint8_t>(c - '0');
  if (c >= 'A' && c <= 'F') return static_cast<uint8_t>(c - 'A' + 10);
  throw std::invalid_argument("EISA id product digits must be upper-case hex");
}

}  // namespace

Bytes pkg_length(size_t body_length) {
  // The encoded length includes the PkgLength bytes themselves (1 to 4 of them).
  if (body_length + 1 < (1u << 6)) return {static_cast<uint8_t>(body_length + 1)};
  for (size_t extra = 1; extra <= 3; ++extra) {
    size_t total = body_length + 1 + extra;
    if (total < (size_t{1} << (4 + 8 * extra))) {
      Bytes out{static_cast<uint8_t>((extra << 6) | (total & 0xf))};
      for (size_t i = 0; i < extra; ++i) out.push_back(static_cast<uint8_t>(total >> (4 + 8 * i)));
      return out;
    }
  }
  throw std::length_error("AML package longer than 2^28 bytes");
}

Bytes name_string(std::string_view name) {
  Bytes out;
  if (!name.empty() && name.front() == kRootChar) {
    out.push_back(kRootChar);
    name.remove_prefix(1);
  }
  if (name.empty() || name.size() > 4)
    throw std::invalid_argument("AML name segments are 1-4 chars");
  for (size_t i = 0; i < 4; ++i)
    out.push_back(static_cast<uint8_t>(i < name.size() ? name[i] : '_'));
  return out;
}

Bytes integer(uint64_t value) {
  if (value == 0) return {kZeroOp};
  if (value == 1) return {kOneOp};
  Bytes out;
  if (value <= 0xff) {
    out.push_back(kBytePrefix);
    append_le(out, value, 1);
  } else if (value <= 0xffff) {
    out.push_back(kWordPrefix);
    append_le(out, value, 2);
  } else if (value <= 0xffffffff) {
    out.push_back(kDWordPrefix);
    append_le(out, value, 4);
  } else {
    out.push_back(kQWordPrefix);
    append_le(out, value, 8);
  }
  return out;
}

Bytes string(std::string_view text) {
  Bytes out;
  out.reserve(text.size() + 2);
  out.push_back(kStringPrefix);
  for (char c : text) out.push_back(static_cast<uint8_t>(c));
  out.push_back(0);
  return out;
}

Bytes eisa_id(std::string_view id) {
  if (id.size() != 7) throw std::invalid_argument("EISA ids have 7 characters");
  // Three letters in 5 bits each, then four hex digits; stored big-endian.
  uint32_t vendor = (static_cast<uint32_t>(id[0] - 0x40) << 10) |
                    (static_cast<uint32_t>(id[1] - 0x40) << 5) |
                    static_cast<uint32_t>(id[2] - 0x40);
  uint32_t product = 0;
  for (size_t i = 3; i < 7; ++i) product = (product << 4) | hex_digit(id[i]);
  uint32_t value = ((vendor >> 8) & 0xff) | ((vendor & 0xff) << 8) |
                   (((product >> 8) & 0xff) << 16) | ((product & 0xff) << 24);
  Bytes out{kDWordPrefix};
  append_le(out, value, 4);
  return out;
}

Bytes package(const std::vector<Bytes>& elements) {
  Bytes body{static_cast<uint8_t>(elements.size())};
  for (const Bytes& element : elements) append(body, element);
  return with_pkg_length({kPackageOp}, body);
}

Bytes package(std::initializer_list<Bytes> elements) {
  return package(std::vector<Bytes>(elements));
}

Bytes name(std::string_view name, const Bytes& object) {
  Bytes out{kNameOp};
  append(out, name_string(name));
  append(out, object);
  return out;
}

Bytes device(std::string_view name, std::initializer_list<Bytes> body) {
  Bytes content = name_string(name);
  append(content, concat(body));
  return with_pkg_length({kExtOpPrefix, kDeviceOp}, content);
}

Bytes scope(std::string_view name, std::initializer_list<Bytes> body) {
  return scope(name, std::vector<Bytes>(body));
}

Bytes scope(std::string_view name, const std::vector<Bytes>& body) {
  Bytes content = name_string(name);
  for (const Bytes& part : body) append(content, part);
  return with_pkg_length({kScopeOp}, content);
}

Bytes method(std::string_view name, uint8_t arg_count, std::initializer_list<Bytes> body) {
  Bytes content = name_string(name);
  content.push_back(static_cast<uint8_t>(arg_count & 7));  // MethodFlags: not serialized
  append(content, concat(body));
  return with_pkg_length({kMethodOp}, content);
}

Bytes notify(std::string_view target, uint8_t value) {
  Bytes out{kNotifyOp};
  append(out, name_string(target));
  append(out, integer(value));
  return out;
}

Bytes resource_template(std::initializer_list<Bytes> descriptors) {
  return resource_template(std::vector<Bytes>(descriptors));
}

Bytes resource_template(const std::vector<Bytes>& descriptors) {
  Bytes data;
  for (const Bytes& descriptor : descriptors) append(data, descriptor);
  data.push_back(kEndTag);
  data.push_back(0);  // checksum 0: "treat as checksummed correctly"
  Bytes body = integer(data.size());
  append(body, data);
  return with_pkg_length({kBufferOp}, body);
}

Bytes io_port(uint16_t base, uint8_t length) {
  return {kIoPortDescriptor,
          0x01,  // decodes 16 address lines
          static_cast<uint8_t>(base),
          static_cast<uint8_t>(base >> 8),
          static_cast<uint8_t>(base),
          static_cast<uint8_t>(base >> 8),
          0x01,
          length};
}

Bytes edge_interrupt(uint32_t gsi) {
  Bytes out{kExtendedInterruptDescriptor, 6, 0,  // length: flags, count, one interrupt
            0x03,                                // consumer, edge, active high, exclusive
            1};
  append_le(out, gsi, 4);
  return out;
}

Bytes irq_no_flags(uint8_t irq) {
  uint16_t mask = static_cast<uint16_t>(1u << irq);
  return {kIrqDescriptor, static_cast<uint8_t>(mask), static_cast<uint8_t>(mask >> 8)};
}

namespace {

// A Word/DWord/QWord address space descriptor: tag, length, resource type, general flags
// (fixed min and max, producer), type-specific flags, then granularity, minimum, maximum,
// translation offset and length, each `width` bytes.
Bytes address_space(uint8_t tag, uint8_t resource_type, uint8_t type_flags, size_t width,
                    uint64_t first, uint64_t last) {
  constexpr uint8_t kFixedMinMax = 0x0c;
  Bytes out{tag};
  append_le(out, 3 + 5 * width, 2);
  out.push_back(resource_type);
  out.push_back(kFixedMinMax);
  out.push_back(type_flags);
  for (uint64_t value : {uint64_t{0}, first, last, uint64_t{0}, last - first + 1})
    append_le(out, value, width);
  return out;
}

}  // namespace

Bytes word_bus_number(uint16_t first, uint16_t last) {
  return address_space(0x88, 2, 0, 2, first, last);
}

Bytes word_io(uint16_t first, uint16_t last) {
  return address_space(0x88, 1, 0x03, 2, first, last);  // ISA and non-ISA ranges
}

Bytes dword_memory(uint32_t first, uint32_t last) {
  return address_space(0x87, 0, 0x01, 4, first, last);  // read-write, non-cacheable
}

Bytes qword_memory(uint64_t first, uint64_t last) {
  return address_space(0x8a, 0, 0x01, 8, first, last);
}

}  // namespace haven::arch::x86::acpi::aml
