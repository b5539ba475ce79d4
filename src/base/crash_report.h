#pragma once

// A process that crashes (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT) writes one line naming the
// signal and its stack's return addresses to stderr (its log), then dies of the same signal as
// it would have (same exit status, a core dump where enabled). Resolve the addresses with
// `addr2line -e BINARY -f -C ADDRESS...` (the binary is built with -g).

namespace haven {

// Call once, early in main().
void install_crash_report(const char* program);

}  // namespace haven
