#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "base/error.h"
#include "base/units.h"

namespace haven::vmm {

// Where the guest's serial console (ttyS0) goes.
struct ConsoleConfig {
  enum class Kind { stdio, file, socket, none };
  Kind kind = Kind::stdio;
  std::string path;  // for file (output only) and socket (a Unix socket Haven listens on)
};

enum class RebootAction { exit, restart };

// A virtio-blk disk backed by a raw image file (or a block device).
struct DiskConfig {
  std::string path;
  bool readonly = false;
  bool direct = false;  // O_DIRECT: bypass the host page cache
  // Changed-block tracking: writes mark IMAGE.cbt's dirty bitmap (src/block/bitmap_file.h).
  bool cbt = false;
  // Instant restore: the image is filled from snapshot `restore_snapshot` of the backup
  // repository `restore_repo` while the guest runs (src/block/hydrating_image.h); empty for
  // a plain image. An encrypted repository's passphrase comes from HAVEN_PASSPHRASE.
  std::string restore_repo = {};
  std::string restore_snapshot = {};
  // Fetch the rest of the disk in the background; off, only what the guest touches is
  // fetched and nothing is kept (boot verification's throwaway overlay).
  bool hydrate = true;
  // The background fill starts paused (the control socket's fill op lets it go on).
  bool fill_paused = false;
  // virtio-blk request queues, 1 to kMaxDiskQueues; 0: one per vCPU (disk_queues()). A
  // snapshot keeps the number its guest had.
  uint32_t queues = 0;
  bool operator==(const DiskConfig&) const = default;
};

inline constexpr uint32_t kMaxDiskQueues = 16;
// How many request queues `disk` has in a guest of `cpus` vCPUs.
uint32_t disk_queues(const DiskConfig& disk, uint32_t cpus);

// A virtio-net interface on a TAP device: Haven creates `tap` (or opens it if it exists).
struct NetConfig {
  std::string tap;
  std::optional<std::array<uint8_t, 6>> mac;  // default: derived from the TAP name
  bool operator==(const NetConfig&) const = default;
};

// How the guest starts: Haven loads a Linux kernel itself (none), or guest firmware boots the
// guest's own boot loader from its disks: SeaBIOS (bios) or OVMF (uefi).
enum class Firmware { none, bios, uefi };
// What firmware may boot from, in the order tried.
enum class BootDevice { disk, cdrom, floppy };

// Everything needed to build one VM. The same fields come from `haven run` flags and from a
// JSON config file (see docs/VM-CONFIG.md).
struct VmConfig {
  static constexpr const char* kDefaultCmdline = "console=ttyS0 panic=-1";
  static constexpr uint64_t kDefaultMemory = 512 * MiB;
  static constexpr uint64_t kMinMemory = 16 * MiB;
  static constexpr uint64_t kMaxMemory = 1024 * GiB;

  std::string kernel;
  std::optional<std::string> initrd;
  std::string cmdline = kDefaultCmdline;
  uint64_t memory = kDefaultMemory;
  uint32_t cpus = 1;
  ConsoleConfig console;
  // Also copies all serial console output into this file (truncated at start), whatever the
  // console is: havend keeps a guest's log this way while clients use the socket.
  std::optional<std::string> console_log;
  RebootAction on_reboot = RebootAction::exit;
  std::vector<DiskConfig> disks;
  std::vector<NetConfig> nets;
  bool rng = false;
  // A second console on virtio-console (the guest's /dev/hvc0), when set.
  std::optional<ConsoleConfig> virtio_console;

  // Firmware boot (kernel, initrd and cmdline unused). The CD-ROM is an ISO image on a
  // virtio-scsi controller, read-only; the floppy an image SeaBIOS serves as drive A: (BIOS
  // only; the guest's writes to it are not kept).
  Firmware firmware = Firmware::none;
  std::optional<std::string> cdrom;
  std::optional<std::string> floppy;
  std::vector<BootDevice> boot_order;  // tried first, in this order; then the rest
  // UEFI: the guest's variable store (boot entries...), made from OVMF's template if missing.
  // Without one the variables live in memory only.
  std::optional<std::string> nvram;
  // Seconds the firmware has to start a boot loader before Haven gives up with a clear
  // message; 0 waits for ever.
  uint32_t boot_timeout = kDefaultBootTimeout;
  static constexpr uint32_t kDefaultBootTimeout = 60;
};

// Each parser names the offending field (as "--memory" or "memory") in its error.
Result<Firmware> parse_firmware(std::string_view text);  // "bios", "uefi" or "none"
std::string firmware_name(Firmware firmware);
Result<std::vector<BootDevice>> parse_boot_order(std::string_view text);  // "cdrom,disk"
std::string boot_device_name(BootDevice device);
Result<uint64_t> parse_memory(std::string_view text);
Result<uint32_t> parse_cpus(int64_t value);
Result<ConsoleConfig> parse_console(std::string_view text);
Result<RebootAction> parse_reboot_action(std::string_view text);
std::string console_to_string(const ConsoleConfig& console);
// "path=P[,readonly=on][,direct=on][,cbt=on][,restore-repo=DIR,restore-snapshot=ID
// [,hydrate=off][,fill-paused=on]]" (a bare "P" works too).
Result<DiskConfig> parse_disk(std::string_view text);
// "tap=NAME[,mac=52:54:00:12:34:56]".
Result<NetConfig> parse_net(std::string_view text);
Result<std::array<uint8_t, 6>> parse_mac(std::string_view text);
std::string mac_to_string(const std::array<uint8_t, 6>& mac);

// The full order firmware tries: `config.boot_order` first, then disk, cdrom, floppy; only
// devices the guest has.
std::vector<BootDevice> effective_boot_order(const VmConfig& config);

// Checks the combination (a kernel or firmware given, sizes in range, media fit the firmware).
Result<void> validate(const VmConfig& config);

// JSON form: {"kernel": "...", "initrd": "...", "cmdline": "...", "memory": "512M" or MiB,
// "cpus": 2, "console": "stdio|file:PATH|socket:PATH|none", "console_log": "PATH",
// "on_reboot": "exit|restart",
// "disks": [{"path": "...", "readonly": false, "direct": false, "cbt": false,
//             "restore_repo": "...", "restore_snapshot": "...", "hydrate": true,
//             "fill_paused": false}],
// "nets": [{"tap": "...", "mac": "52:54:00:..."}], "rng": true,
// "virtio_console": "file:PATH|socket:PATH|stdio", "firmware": "bios|uefi", "cdrom": "ISO",
// "floppy": "IMG", "boot": "cdrom,disk" or ["cdrom", "disk"], "nvram": "PATH",
// "boot_timeout": SECONDS}.
// Unknown fields are errors, so a typo never goes unnoticed.
Result<VmConfig> vm_config_from_json(std::string_view text);
// Overlays the fields present in `text` on `base`.
Result<VmConfig> vm_config_from_json(std::string_view text, VmConfig base);
std::string vm_config_to_json(const VmConfig& config);

}  // namespace haven::vmm
