#include "vmm/vmm_path.h"

#include <unistd.h>

#include <cstdlib>
#include <string_view>

namespace haven::vmm {

std::string find_vmm_executable() {
  if (const char* path = std::getenv("HAVEN_VMM")) return path;
  char self[4096];
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n > 0) {
    std::string dir(self, static_cast<size_t>(n));
    dir = dir.substr(0, dir.rfind('/'));
    for (const char* relative : {"/haven-vmm", "/../vmm/haven-vmm"}) {
      std::string candidate = dir + relative;
      if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    }
  }
  if (const char* path = std::getenv("PATH")) {
    std::string_view rest = path;
    while (!rest.empty()) {
      size_t colon = rest.find(':');
      std::string dir(rest.substr(0, colon));
      rest = colon == std::string_view::npos ? std::string_view() : rest.substr(colon + 1);
      std::string candidate = (dir.empty() ? "." : dir) + "/haven-vmm";
      if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    }
  }
  return "haven-vmm";
}

}  // namespace haven::vmm
