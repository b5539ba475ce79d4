#include "vmm/boot_watch.h"

#include <algorithm>
#include <array>
#include <vector>

namespace haven::vmm {
namespace {

using Means = BootWatch::Marker::Means;

constexpr std::array<BootWatch::Marker, 3> kSeaBiosMarkers = {{
    {"Booting from ", Means::started},
    {"Boot failed", Means::failed},
    {"No bootable device", Means::nothing_bootable},
}};
constexpr std::array<BootWatch::Marker, 5> kOvmfMarkers = {{
    {"BdsDxe: starting Boot", Means::started},
    {"BdsDxe: failed to", Means::failed},
    {"No bootable option or device was found", Means::nothing_bootable},
    {"\"EFI Internal Shell\"", Means::nothing_bootable},
    {"Shell> ", Means::nothing_bootable},
}};
constexpr size_t kTailBytes = 64;  // longer than every marker

}  // namespace

BootWatch::BootWatch(Firmware firmware, std::function<void(const std::string&)> give_up)
    : m_give_up(std::move(give_up)) {
  if (firmware == Firmware::uefi)
    m_markers = kOvmfMarkers;
  else
    m_markers = kSeaBiosMarkers;
}

void BootWatch::observe(std::span<const uint8_t> bytes) {
  std::string why;
  {
    MutexLock lock(m_mutex);
    if (m_state == State::finished) return;
    std::string text = m_tail;
    text.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    // The markers in the order they appear; a marker wholly inside the kept tail was seen last
    // time and is skipped.
    size_t fresh = m_tail.size();
    std::vector<std::pair<size_t, const Marker*>> found;
    for (const Marker& marker : m_markers)
      for (size_t at = text.find(marker.text); at != std::string::npos;
           at = text.find(marker.text, at + 1))
        if (at + marker.text.size() > fresh) found.emplace_back(at, &marker);
    std::sort(found.begin(), found.end());
    for (const auto& [at, marker] : found) {
      if (marker->means == Means::started) {
        m_state = State::handed_over;
      } else if (marker->means == Means::failed) {
        m_state = State::searching;
      } else if (m_state == State::handed_over) {
        // A boot loader runs and has not failed: this is its or its OS's output (a file
        // shown, a prompt), not the firmware's last word.
        continue;
      } else {
        m_state = State::finished;
        why = fmt::format(
            "the firmware found nothing to boot (it said \"{}\")",
            marker->text.starts_with("\"") ? "starting its UEFI shell" : std::string(marker->text));
        break;
      }
    }
    m_tail = text.substr(text.size() > kTailBytes ? text.size() - kTailBytes : 0);
  }
  if (!why.empty()) m_give_up(why);
}

void BootWatch::deadline_passed(std::chrono::seconds timeout) {
  std::string why;
  {
    MutexLock lock(m_mutex);
    if (m_state == State::finished) return;
    if (m_state == State::searching)
      why = fmt::format("the firmware started no boot loader within {} s (boot_timeout)",
                        timeout.count());
    m_state = State::finished;
  }
  if (!why.empty()) m_give_up(why);
}

bool BootWatch::handed_over() const {
  MutexLock lock(m_mutex);
  return m_state == State::handed_over;
}

void BootWatch::stand_down() {
  MutexLock lock(m_mutex);
  m_state = State::finished;
}

bool BootWatch::finished() const {
  MutexLock lock(m_mutex);
  return m_state == State::finished;
}

}  // namespace haven::vmm
