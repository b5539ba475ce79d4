#pragma once

#include <functional>

namespace haven::devices {

// What a guest can ask of the machine through its platform devices.
enum class GuestRequest {
  power_off,  // ACPI S5 through the sleep control register
  reset,      // ACPI reset register or the i8042's pulse-reset command
  panic,      // pvpanic: the kernel panicked
};

// Called from the vCPU thread that made the request; must not block.
using GuestRequestHandler = std::function<void(GuestRequest)>;

// Drives an interrupt line (level-triggered view; edge consumers see the rising edge).
using IrqLine = std::function<void(bool level)>;

}  // namespace haven::devices
