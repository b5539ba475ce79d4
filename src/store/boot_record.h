#pragma once

// The result of a snapshot's boot verification (`haven backup verify --boot`), kept in the
// repository beside the snapshots: verify/<snapshot id>, the latest run's result with the
// guest's console transcript, as JSON in a blob (blob.h) bound to the snapshot's id: sealed in
// an encrypted repository like everything else there, so a record can be neither read nor
// forged nor moved to another snapshot without the key. Not part of the backup data: losing it
// loses nothing but the record, and prune removes it with its snapshot.
//
// Older Havens wrote verify/<id>.json in plain text. Such a record is still read from an
// unencrypted repository; an encrypted one ignores it (anyone could have written it), and the
// next record of that snapshot replaces it.

#include <cstdint>
#include <optional>
#include <string>

#include "base/error.h"
#include "store/repository.h"

namespace haven::store {

struct BootRecord {
  std::string snapshot;  // the full id
  int64_t time = 0;      // seconds since the epoch (UTC) when the check ran
  bool passed = false;
  std::string ready;       // the console text that meant "booted"
  double seconds = 0;      // from start until it appeared (or the check gave up)
  std::string reason;      // one line: why it failed ("" when it passed)
  std::string transcript;  // the console output (its last 64 KiB)
};

inline constexpr size_t kBootTranscriptBytes = 64 << 10;

Result<void> write_boot_record(const Repository& repository, const BootRecord& record);
// nullopt when the snapshot was never boot-verified.
Result<std::optional<BootRecord>> read_boot_record(const Repository& repository,
                                                   const std::string& snapshot);
// Removes it (its snapshot is gone); no record is not an error.
void remove_boot_record(const Repository& repository, const std::string& snapshot);

}  // namespace haven::store
