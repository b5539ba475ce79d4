#include "devices/legacy/i8042.h"

#include <algorithm>

namespace haven::devices::legacy {
namespace {

constexpr uint64_t kDataOffset = 0;
constexpr uint64_t kCommandOffset = 4;
constexpr size_t kMaxQueued = 16;

// Status register bits.
constexpr uint8_t kOutputFull = 0x01;
constexpr uint8_t kSystemFlag = 0x04;
constexpr uint8_t kLastWasCommand = 0x08;
constexpr uint8_t kNotInhibited = 0x10;

// Command byte bits.
constexpr uint8_t kKeyboardInterrupt = 0x01;
constexpr uint8_t kCommandSystemFlag = 0x04;

// Keyboard answers.
constexpr uint8_t kAck = 0xfa;
constexpr uint8_t kSelfTestPassed = 0xaa;
constexpr uint8_t kEcho = 0xee;

}  // namespace

uint8_t I8042::status() const {
  uint8_t status = kNotInhibited;
  if (!m_output.empty()) status |= kOutputFull;
  if (m_self_tested || (m_command_byte & kCommandSystemFlag)) status |= kSystemFlag;
  if (m_last_was_command) status |= kLastWasCommand;
  return status;
}

void I8042::push(uint8_t byte) {
  if (m_output.size() < kMaxQueued) m_output.push_back(byte);
}

void I8042::update_irq() {
  bool level = !m_output.empty() && (m_command_byte & kKeyboardInterrupt);
  if (level == m_irq_level) return;
  m_irq_level = level;
  if (m_irq) m_irq(level);
}

void I8042::read(uint64_t offset, std::span<uint8_t> data) {
  MutexLock lock(m_mutex);
  for (uint8_t& byte : data) {
    if (offset == kCommandOffset) {
      byte = status();
    } else if (offset == kDataOffset) {
      if (m_output.empty()) {
        byte = 0;
      } else {
        byte = m_output.front();
        m_output.pop_front();
        // The next byte moves into the buffer: a new edge for the (edge-triggered) IRQ 1.
        if (m_irq_level) {
          m_irq_level = false;
          if (m_irq) m_irq(false);
        }
      }
    } else {
      byte = 0xff;
    }
  }
  update_irq();
}

void I8042::write(uint64_t offset, std::span<const uint8_t> data) {
  bool reset = false;
  {
    MutexLock lock(m_mutex);
    if (data.size() != 1) return;
    if (offset == kCommandOffset) {
      m_last_was_command = true;
      controller_command(data[0], reset);
    } else if (offset == kDataOffset) {
      m_last_was_command = false;
      data_write(data[0], reset);
    }
    update_irq();
  }
  if (reset) m_on_request(GuestRequest::reset);
}

// Controller commands (IBM PC/AT technical reference, keyboard controller).
void I8042::controller_command(uint8_t command, bool& reset) {
  m_pending_command = 0;
  switch (command) {
    case 0x20:  // read command byte
      push(m_command_byte);
      break;
    case 0x60:  // write command byte (data follows)
    case 0xd1:  // write output port (data follows)
    case 0xd2:  // write keyboard output buffer (data follows)
    case 0xd3:  // write auxiliary output buffer (data follows)
    case 0xd4:  // write to the auxiliary device (data follows)
      m_pending_command = command;
      break;
    case 0xa7:  // disable / enable the auxiliary port: there is none
    case 0xa8:
    case 0xad:  // disable / enable the keyboard
    case 0xae:
      break;
    case 0xa9:  // auxiliary interface test: clock line stuck, i.e. no mouse
      push(0x01);
      break;
    case 0xaa:  // controller self-test
      m_self_tested = true;
      push(0x55);
      break;
    case 0xab:  // keyboard interface test: passed
      push(0x00);
      break;
    case 0xc0:  // read input port
      push(0x00);
      break;
    case 0xd0:  // read output port
      push(m_output_port);
      break;
    case 0xdd:  // A20 off / on (some controllers)
      m_output_port &= ~0x02;
      break;
    case 0xdf:
      m_output_port |= 0x02;
      break;
    default:
      // 0xf0-0xff pulse output port lines low for a moment: line 0 is the CPU's reset.
      if (command >= 0xf0 && !(command & 0x01)) reset = true;
      break;
  }
}

void I8042::data_write(uint8_t value, bool& reset) {
  uint8_t command = m_pending_command;
  m_pending_command = 0;
  switch (command) {
    case 0x60:
      m_command_byte = value;
      return;
    case 0xd1:
      m_output_port = value;
      if (!(value & 0x01)) reset = true;  // the reset line driven low
      return;
    case 0xd2:
      push(value);
      return;
    case 0xd3:
    case 0xd4:
      return;  // no auxiliary device
    default:
      keyboard_command(value);
      return;
  }
}

// Keyboard commands: acknowledged, with the few answers firmware waits for.
void I8042::keyboard_command(uint8_t value) {
  if (m_pending_keyboard) {  // the argument of 0xed, 0xf0 or 0xf3
    uint8_t command = m_pending_keyboard;
    m_pending_keyboard = 0;
    push(kAck);
    if (command == 0xf0 && value == 0) push(0x02);  // current scan code set: 2
    return;
  }
  switch (value) {
    case 0xed:  // set LEDs
    case 0xf0:  // scan code set
    case 0xf3:  // typematic rate
      m_pending_keyboard = value;
      push(kAck);
      break;
    case 0xee:
      push(kEcho);
      break;
    case 0xf2:  // identify: an MF2 keyboard
      push(kAck);
      push(0xab);
      push(0x83);
      break;
    case 0xff:  // reset and self-test
      push(kAck);
      push(kSelfTestPassed);
      break;
    default:  // enable, disable, set defaults, resend...
      push(kAck);
      break;
  }
}

DeviceState I8042::save_state() {
  MutexLock lock(m_mutex);
  return {{"output", std::vector<uint8_t>(m_output.begin(), m_output.end())},
          {"command_byte", m_command_byte},
          {"output_port", m_output_port},
          {"pending_command", m_pending_command},
          {"pending_keyboard", m_pending_keyboard},
          {"last_was_command", m_last_was_command},
          {"self_tested", m_self_tested}};
}

Result<void> I8042::restore_state(const DeviceState& state) {
  if (!state.contains("output") || !state["output"].is_array() ||
      state["output"].size() > kMaxQueued)
    return make_error("i8042 state: 'output' is not a list of at most {} bytes", kMaxQueued);
  std::deque<uint8_t> output;
  for (const auto& byte : state["output"]) {
    if (!byte.is_number_unsigned() || byte.get<uint64_t>() > 0xff)
      return make_error("i8042 state: 'output' holds a non-byte");
    output.push_back(byte.get<uint8_t>());
  }
  auto command_byte = TRY(state_field<uint8_t>(state, "command_byte"));
  auto output_port = TRY(state_field<uint8_t>(state, "output_port"));
  auto pending_command = TRY(state_field<uint8_t>(state, "pending_command"));
  auto pending_keyboard = TRY(state_field<uint8_t>(state, "pending_keyboard"));
  auto last_was_command = TRY(state_field<bool>(state, "last_was_command"));
  auto self_tested = TRY(state_field<bool>(state, "self_tested"));
  MutexLock lock(m_mutex);
  m_output = std::move(output);
  m_command_byte = command_byte;
  m_output_port = output_port;
  m_pending_command = pending_command;
  m_pending_keyboard = pending_keyboard;
  m_last_was_command = last_was_command;
  m_self_tested = self_tested;
  update_irq();
  return {};
}

}  // namespace haven::devices::legacy
