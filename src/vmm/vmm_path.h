#pragma once

#include <string>

namespace haven::vmm {

// Where haven-vmm is: $HAVEN_VMM, else beside the running executable (installed side by
// side, or src/<part>/ in a build tree next to src/vmm/), else the first on PATH. Absolute
// when found; "haven-vmm" when nothing was found (exec then fails with a clear error).
std::string find_vmm_executable();

}  // namespace haven::vmm
