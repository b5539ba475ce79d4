#pragma once

// A one-line progress bar on stderr for long work (backup, restore, verify): percentage,
// bytes, throughput and time left, redrawn in place. Silent when stderr is not a terminal
// or when disabled (--json, --quiet).

#include <chrono>
#include <cstdint>
#include <string>

namespace haven::cli {

class ProgressBar {
 public:
  ProgressBar(std::string label, bool enabled);
  ~ProgressBar();
  void update(uint64_t done, uint64_t total);
  // Clears the line.
  void finish();

 private:
  std::string m_label;
  bool m_enabled;
  bool m_drawn = false;
  std::chrono::steady_clock::time_point m_start;
};

}  // namespace haven::cli
