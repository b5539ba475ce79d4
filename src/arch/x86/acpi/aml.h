#pragma once

// Just enough ACPI Machine Language (ACPI 6.4, chapter 20) to describe Haven's platform in a
// DSDT: names, integers, strings, packages, devices, scopes and resource templates.

#include <cstdint>
#include <initializer_list>
#include <string_view>
#include <vector>

namespace haven::arch::x86::acpi::aml {

using Bytes = std::vector<uint8_t>;

// The PkgLength encoding of a body of `body_length` bytes (its own bytes counted).
Bytes pkg_length(size_t body_length);
// A NameString: "_S5_", "COM1" (padded with '_' to 4), or "\\_SB_" (from the root).
Bytes name_string(std::string_view name);

Bytes integer(uint64_t value);
Bytes string(std::string_view text);
// A compressed EISA id such as "PNP0501", as _HID takes it.
Bytes eisa_id(std::string_view id);
Bytes package(std::initializer_list<Bytes> elements);
Bytes package(const std::vector<Bytes>& elements);  // at most 255 elements

Bytes name(std::string_view name, const Bytes& object);
Bytes device(std::string_view name, std::initializer_list<Bytes> body);
Bytes scope(std::string_view name, std::initializer_list<Bytes> body);
Bytes scope(std::string_view name, const std::vector<Bytes>& body);
// Method (NAME, ARGS, NotSerialized) { body }
Bytes method(std::string_view name, uint8_t arg_count, std::initializer_list<Bytes> body);
// Notify (TARGET, value): TARGET a name resolved from where the method runs.
Bytes notify(std::string_view target, uint8_t value);

// ResourceTemplate() { descriptors... } with its end tag.
Bytes resource_template(std::initializer_list<Bytes> descriptors);
Bytes resource_template(const std::vector<Bytes>& descriptors);
Bytes io_port(uint16_t base, uint8_t length);  // IO (Decode16, base, base, 1, length)
Bytes irq_no_flags(uint8_t irq);               // IRQNoFlags () { irq }
// Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive) { gsi }
Bytes edge_interrupt(uint32_t gsi);
// Address space descriptors (ACPI 6.4, 6.4.3.5) for a host bridge's windows, "produced" by
// the bridge for the devices behind it, fixed minimum and maximum.
Bytes word_bus_number(uint16_t first, uint16_t last);
Bytes word_io(uint16_t first, uint16_t last);
Bytes dword_memory(uint32_t first, uint32_t last);  // non-cacheable, read-write
Bytes qword_memory(uint64_t first, uint64_t last);

}  // namespace haven::arch::x86::acpi::aml
