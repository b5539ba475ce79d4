#include "devices/pci/host_bridge.h"

namespace haven::devices::pci {

HostBridge::HostBridge() {
  m_config.set_u16(kVendorId, kVendor);
  m_config.set_u16(kDeviceId, kDevice);
  m_config.set_u8(kClassCode + 1, 0x00);  // subclass: host bridge
  m_config.set_u8(kClassCode + 2, 0x06);  // class: bridge
  m_config.set_u8(kHeaderType, 0x00);
  m_config.set_u16(kSubsystemVendorId, kVendor);
  m_config.set_u16(kSubsystemId, 0x1100);
}

}  // namespace haven::devices::pci
