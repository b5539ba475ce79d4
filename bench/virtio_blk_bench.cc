// Device-level virtio-blk throughput, no guest CPU in the loop: this program plays the guest
// driver (requests written into a guest-memory region, the queue kicked through its notify
// eventfd, completions awaited on an interrupt eventfd) against Haven's Block device on an
// image file, and prints IOPS / MB/s. bench/run-blk-bench runs it beside fio on the same file
// and prints the ratio. randwrite writes random bytes at random places, with --cbt through
// the device's changed-block tracking (as a guest's writes would be), and with --total N
// stops after N bytes: bench/run-cbt-bench uses it to change a disk by 1 %.
//
//   haven-blk-bench --image FILE [--mode randread|seqread|randwrite] [--bs 4096] [--depth 32]
//                   [--seconds 5 | --total BYTES] [--direct] [--cbt] [--json]
#include <sys/eventfd.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstring>
#include <nlohmann/json.hpp>
#include <random>

#include "base/sys.h"
#include "devices/virtio/block.h"
#include "devices/virtio/device.h"
#include "support/event_interrupts.h"
#include "support/virtqueue_driver.h"

using namespace haven;
using devices::virtio::Block;
using memory::GuestAddr;

int main(int argc, char** argv) {
  CLI::App app{"haven-blk-bench: virtio-blk device throughput with a host-side driver"};
  std::string image, mode = "randread";
  uint32_t block_size = 4096, depth = 32;
  double seconds = 5;
  bool direct = false, json_output = false, cbt = false;
  uint64_t total = 0;
  app.add_option("--image", image, "Raw image file to read")->required();
  app.add_option("--mode", mode, "randread, seqread or randwrite");
  app.add_option("--total", total, "Stop after this many bytes (instead of --seconds)");
  app.add_flag("--cbt", cbt, "randwrite: mark the image's changed-block tracking (IMAGE.cbt)");
  app.add_option("--bs", block_size, "Request size in bytes (multiple of 512)");
  app.add_option("--depth", depth, "Requests in flight (at most 64)");
  app.add_option("--seconds", seconds, "How long to run");
  app.add_flag("--direct", direct, "Open the image with O_DIRECT");
  app.add_flag("--json", json_output, "Print a JSON object");
  CLI11_PARSE(app, argc, argv);
  const bool writing = mode == "randwrite";
  if (mode != "randread" && mode != "seqread" && !writing) {
    fmt::print(stderr, "haven-blk-bench: --mode randread, seqread or randwrite\n");
    return 2;
  }
  if (depth == 0 || depth > 64 || block_size % 512 || block_size == 0) {
    fmt::print(stderr, "haven-blk-bench: --depth 1..64 and --bs a multiple of 512\n");
    return 2;
  }

  constexpr uint16_t kQueueSize = 256;
  constexpr uint64_t kRings = 0x10000, kHeaders = 0x20000, kStatus = 0x30000, kData = 0x100000;
  uint64_t ram = kData + uint64_t{depth} * block_size + (1 << 20);
  ram = (ram + 0x1fffff) & ~uint64_t{0x1fffff};
  memory::RegionSpec spec{GuestAddr(0), ram};
  auto memory = memory::GuestMemory::create(std::span(&spec, 1));
  auto block = Block::open({image, !writing, direct, "bench", writing && cbt});
  auto notify = sys::eventfd(0, EFD_NONBLOCK);
  auto interrupt = sys::eventfd(0, 0);
  if (!memory || !block || !notify || !interrupt) {
    fmt::print(stderr, "haven-blk-bench: {}\n", !block ? block.error().message() : "set-up failed");
    return 1;
  }
  testing::VirtqueueDriver driver(*memory, kRings, kQueueSize);
  testing::EventInterrupts interrupts(interrupt->get());
  devices::virtio::Activation activation;
  activation.memory = &*memory;
  activation.features = devices::virtio::kFeatureVersion1 | devices::virtio::kFeatureEventIndex;
  activation.queues.emplace_back(
      devices::virtio::Virtqueue::create(*memory, driver.layout(), false, true).value());
  activation.notify_fds = {notify->get()};
  activation.interrupts = &interrupts;
  activation.fail = [](const std::string& why) {
    fmt::print(stderr, "haven-blk-bench: device failed: {}\n", why);
    std::exit(1);
  };
  if (auto activated = (*block)->activate(std::move(activation)); !activated) {
    fmt::print(stderr, "haven-blk-bench: {}\n", activated.error().message());
    return 1;
  }

  uint64_t blocks = (*block)->capacity_sectors() * Block::kSectorSize / block_size;
  std::mt19937_64 random(42);
  if (writing)  // what the writes carry: random, so nothing dedups or compresses away
    for (uint64_t at = kData; at < kData + uint64_t{depth} * block_size; at += 8)
      (void)memory->write<uint64_t>(GuestAddr(at), random());
  uint64_t submitted = 0;
  const uint64_t wanted = total / block_size;  // requests, with --total
  uint64_t next_sequential = 0;
  // Slot i owns descriptors 3i..3i+2: header, data, status.
  auto submit = [&](uint32_t slot) {
    uint64_t index = mode == "seqread" ? next_sequential++ % blocks : random() % blocks;
    uint64_t header = kHeaders + 16ull * slot;
    ++submitted;
    if (writing)  // fresh bytes for every write: no two written blocks are alike
      for (uint64_t at = kData + uint64_t{slot} * block_size;
           at < kData + uint64_t{slot + 1} * block_size; at += 8)
        (void)memory->write<uint64_t>(GuestAddr(at), random());
    (void)memory->write<uint32_t>(GuestAddr(header), writing ? Block::kTypeOut : Block::kTypeIn);
    (void)memory->write<uint64_t>(GuestAddr(header + 8), index * block_size / Block::kSectorSize);
    auto d = static_cast<uint16_t>(3 * slot);
    driver.write_descriptor(d, header, 16, testing::VirtqueueDriver::kNext,
                            static_cast<uint16_t>(d + 1));
    driver.write_descriptor(
        static_cast<uint16_t>(d + 1), kData + uint64_t{slot} * block_size, block_size,
        testing::VirtqueueDriver::kNext | (writing ? 0 : testing::VirtqueueDriver::kWrite),
        static_cast<uint16_t>(d + 2));
    driver.write_descriptor(static_cast<uint16_t>(d + 2), kStatus + slot, 1,
                            testing::VirtqueueDriver::kWrite, 0);
    driver.publish(d);
  };
  driver.set_used_event(0);
  for (uint32_t slot = 0; slot < depth && (!total || submitted < wanted); ++slot) submit(slot);
  ::eventfd_write(notify->get(), 1);

  uint64_t completed = 0, errors = 0;
  auto start = std::chrono::steady_clock::now();
  auto deadline = start + std::chrono::duration<double>(seconds);
  while (total ? completed + errors < wanted : std::chrono::steady_clock::now() < deadline) {
    // Ask for an interrupt at the next completion, then wait for it unless one is in already.
    driver.set_used_event(static_cast<uint16_t>(driver.used_index()));
    auto used = driver.take_used();
    if (used.empty()) {
      eventfd_t ignored;
      ::eventfd_read(interrupt->get(), &ignored);
      continue;
    }
    uint16_t before = driver.driver_index();
    for (const auto& element : used) {
      uint32_t slot = element.id / 3;
      // Only requests that succeeded count toward IOPS; any error fails the run (exit 1).
      if (memory->read<uint8_t>(GuestAddr(kStatus + slot)).value_or(1) != Block::kStatusOk)
        ++errors;
      else
        ++completed;
      if (!total || submitted < wanted) submit(slot);
    }
    // Kick only when the device asked for one, as Linux's driver does with event index.
    if (driver.kick_wanted(before)) ::eventfd_write(notify->get(), 1);
  }
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  (*block)->reset();
  double iops = completed / elapsed;
  double mbps = iops * block_size / 1e6;
  if (json_output) {
    nlohmann::json out = {{"mode", mode},       {"bs", block_size},      {"depth", depth},
                          {"iops", iops},       {"mb_per_s", mbps},      {"errors", errors},
                          {"seconds", elapsed}, {"completed", completed}};
    fmt::print("{}\n", out.dump());
  } else {
    fmt::print("{} bs={} depth={}: {:.0f} IOPS, {:.1f} MB/s ({} errors)\n", mode, block_size, depth,
               iops, mbps, errors);
  }
  return errors ? 1 : 0;
}
