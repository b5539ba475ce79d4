// The persistence half of VirtioPci (the register file is virtio_pci.cc): pausing the device
// for a snapshot, and its transport state (feature and queue registers, MSI-X vectors, the
// queues' positions) saved to and restored from the snapshot's JSON.

#include "devices/virtio/virtio_pci.h"

namespace haven::devices::virtio {

void VirtioPci::pause() {
  MutexLock lock(m_mutex);
  if (m_active) m_device->pause();
}

void VirtioPci::resume() {
  MutexLock lock(m_mutex);
  if (!m_active) return;
  if (auto resumed = m_device->resume(); !resumed) fail(resumed.error().message());
}

DeviceState VirtioPci::save_state() {
  DeviceState state = PciDevice::save_state();
  state["msix"] = m_msix.save_state();
  MutexLock lock(m_mutex);
  state["device_feature_select"] = m_device_feature_select;
  state["driver_feature_select"] = m_driver_feature_select;
  state["driver_features"] = m_driver_features;
  state["status"] = m_status;
  state["queue_select"] = m_queue_select;
  state["config_vector"] = m_config_vector.load();
  state["isr"] = m_isr.load();
  state["config_generation"] = m_config_generation.load();
  state["broken"] = m_broken.load();
  state["active"] = m_active;
  std::vector<std::optional<QueuePosition>> positions;
  if (m_active) positions = m_device->queue_positions();
  DeviceState queues = DeviceState::array();
  for (size_t i = 0; i < m_queues.size(); ++i) {
    const Queue& queue = m_queues[i];
    DeviceState saved = {{"size", queue.size},
                         {"enabled", queue.enabled},
                         {"descriptors", queue.descriptors},
                         {"driver_ring", queue.driver_ring},
                         {"device_ring", queue.device_ring},
                         {"vector", m_queue_vectors[i].load()},
                         {"position", nullptr}};
    if (i < positions.size() && positions[i])
      saved["position"] = {{"next_avail", positions[i]->next_avail},
                           {"next_used", positions[i]->next_used},
                           {"last_notified_used", positions[i]->last_notified_used}};
    queues.push_back(std::move(saved));
  }
  state["queues"] = std::move(queues);
  return state;
}

Result<void> VirtioPci::restore_state(const DeviceState& state) {
  {
    MutexLock lock(m_mutex);
    if (m_active) return make_error("{} is already running", name());
  }
  TRY(PciDevice::restore_state(state));
  if (!state.contains("msix")) return make_error("state has no 'msix'");
  TRY(with_context(m_msix.restore_state(state["msix"]), "MSI-X"));
  MutexLock lock(m_mutex);
  m_device_feature_select = TRY(state_field<uint32_t>(state, "device_feature_select"));
  m_driver_feature_select = TRY(state_field<uint32_t>(state, "driver_feature_select"));
  m_driver_features = TRY(state_field<uint64_t>(state, "driver_features"));
  if (m_driver_features & ~m_offered)
    return make_error("the snapshot's driver features {:#x} were never offered ({:#x})",
                      m_driver_features, m_offered);
  m_status = TRY(state_field<uint8_t>(state, "status"));
  m_queue_select = TRY(state_field<uint16_t>(state, "queue_select"));
  uint16_t config_vector = TRY(state_field<uint16_t>(state, "config_vector"));
  m_config_vector = config_vector < m_msix.vector_count() ? config_vector : kNoVector;
  m_isr = TRY(state_field<uint8_t>(state, "isr"));
  m_config_generation = TRY(state_field<uint8_t>(state, "config_generation"));
  m_broken = TRY(state_field<bool>(state, "broken"));
  bool active = TRY(state_field<bool>(state, "active"));
  if (!state.contains("queues") || !state["queues"].is_array() ||
      state["queues"].size() != m_queues.size())
    return make_error("state: expected {} queues", m_queues.size());
  std::vector<std::optional<QueuePosition>> positions(m_queues.size());
  for (size_t i = 0; i < m_queues.size(); ++i) {
    const DeviceState& saved = state["queues"][i];
    Queue& queue = m_queues[i];
    queue.size = TRY(state_field<uint16_t>(saved, "size"));
    queue.enabled = TRY(state_field<bool>(saved, "enabled"));
    queue.descriptors = TRY(state_field<uint64_t>(saved, "descriptors"));
    queue.driver_ring = TRY(state_field<uint64_t>(saved, "driver_ring"));
    queue.device_ring = TRY(state_field<uint64_t>(saved, "device_ring"));
    uint16_t vector = TRY(state_field<uint16_t>(saved, "vector"));
    m_queue_vectors[i] = vector < m_msix.vector_count() ? vector : kNoVector;
    if (saved.contains("position") && saved["position"].is_object()) {
      const DeviceState& position = saved["position"];
      positions[i] = QueuePosition{TRY(state_field<uint16_t>(position, "next_avail")),
                                   TRY(state_field<uint16_t>(position, "next_used")),
                                   TRY(state_field<uint16_t>(position, "last_notified_used"))};
    }
  }
  // A broken device stays stopped until the driver resets it, as it was.
  if (active && !m_broken) {
    activate(positions);
    if (!m_active) return make_error("{} could not be restarted from the snapshot", name());
  }
  return {};
}

}  // namespace haven::devices::virtio
