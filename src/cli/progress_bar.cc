#include "cli/progress_bar.h"

#include <fmt/format.h>
#include <unistd.h>

#include "base/units.h"

namespace haven::cli {

ProgressBar::ProgressBar(std::string label, bool enabled)
    : m_label(std::move(label)),
      m_enabled(enabled && ::isatty(STDERR_FILENO)),
      m_start(std::chrono::steady_clock::now()) {}

ProgressBar::~ProgressBar() {
  finish();
}

void ProgressBar::update(uint64_t done, uint64_t total) {
  if (!m_enabled) return;
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - m_start).count();
  double fraction = total ? static_cast<double>(done) / static_cast<double>(total) : 1.0;
  double rate = seconds > 0 ? static_cast<double>(done) / seconds : 0;
  constexpr int kWidth = 24;
  int filled = static_cast<int>(fraction * kWidth);
  std::string bar = std::string(filled, '#') + std::string(kWidth - filled, '.');
  std::string eta = "--";
  if (rate > 0 && done < total)
    eta = fmt::format("{:.0f}s", static_cast<double>(total - done) / rate);
  fmt::print(stderr, "\r\033[K{} [{}] {:3.0f}% {} / {}  {}/s  ETA {}", m_label, bar, fraction * 100,
             human_size(done), human_size(total), human_size(static_cast<uint64_t>(rate)), eta);
  m_drawn = true;
}

void ProgressBar::finish() {
  if (m_drawn) fmt::print(stderr, "\r\033[K");
  m_drawn = false;
}

}  // namespace haven::cli
