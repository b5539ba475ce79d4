// havend's API for watching guests: the serial console (input, log, live stream), metrics
// and the stream of state changes.

#include <fcntl.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>
#include <optional>

#include "base/sys.h"
#include "daemon/api_replies.h"
#include "daemon/process_metrics.h"
#include "vmm/console_log.h"

namespace haven::daemon {
namespace {

// Whether the client of a long-lived response is still there. httplib's is_writable() peeks
// the socket, which a TLS client's close_notify keeps readable after it hung up: over TLS the
// kernel is asked for the hang-up itself.
bool client_still_there(const SSL* ssl, httplib::DataSink& sink) {
  if (!sink.is_writable()) return false;
  if (!ssl) return true;
  pollfd socket{SSL_get_fd(ssl), POLLRDHUP, 0};
  return ::poll(&socket, 1, 0) == 0 || !(socket.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

using nlohmann::json;
constexpr size_t kStreamChunk = 64 << 10;

// 503: every slot for a long-lived response is taken (daemon/stream_slots.h).
Error too_many_streams(const StreamSlots& slots) {
  return Error::from_message(
             fmt::format("{} event streams and followed consoles are open, the most "
                         "havend serves at once; close one and try again",
                         slots.limit()))
      .with_kind(ErrorKind::unavailable);
}

// Whether `path` now names another file than `fd` (or none).
bool replaced(int fd, const std::string& path) {
  struct stat open_file {
  }, named{};
  if (::fstat(fd, &open_file) != 0) return true;
  if (::stat(path.c_str(), &named) != 0) return errno == ENOENT;
  return open_file.st_ino != named.st_ino || open_file.st_dev != named.st_dev;
}
// The largest ?since= taken: 2^53 - 1, up to which every whole number reads exactly as a double.
constexpr double kMaxSince = 9007199254740991.0;

// The VMM's own counters into a metrics answer: per vCPU and per device as it gave them, and
// the totals a dashboard wants (vCPU time, VM exits, disk and network bytes).
void add_vmm_stats(json& body, const json& stats) {
  if (!stats.contains("vcpus") || !stats.contains("devices")) return;
  double vcpu_seconds = 0;
  uint64_t exits = 0;
  bool have_exits = false;
  for (const json& vcpu : stats["vcpus"]) {
    vcpu_seconds += vcpu.value("cpu_seconds", 0.0);
    if (vcpu.contains("exits")) {
      exits += vcpu["exits"].get<uint64_t>();
      have_exits = true;
    }
  }
  uint64_t disk_read = 0, disk_write = 0, net_rx = 0, net_tx = 0;
  for (const json& device : stats["devices"]) {
    disk_read += device.value("read_bytes", uint64_t{0});
    disk_write += device.value("write_bytes", uint64_t{0});
    net_rx += device.value("rx_bytes", uint64_t{0});
    net_tx += device.value("tx_bytes", uint64_t{0});
  }
  body["vcpu_seconds"] = vcpu_seconds;
  if (have_exits) body["exits"] = exits;
  body["disk_read_bytes"] = disk_read;
  body["disk_write_bytes"] = disk_write;
  body["net_rx_bytes"] = net_rx;
  body["net_tx_bytes"] = net_tx;
  body["vcpus"] = stats["vcpus"];
  body["devices"] = stats["devices"];
}

}  // namespace

void ApiServer::add_console_routes(httplib::Server& server, std::vector<Route>* routes,
                                   StreamSlots& streams) {
  // Input for the serial console: the body's bytes, as typed.
  route(server, routes, "POST", R"(/v1/vms/([^/]+)/console)",
        [=, this](const httplib::Request& req, httplib::Response& res) {
          auto vm = lookup(req, res);
          if (!vm) return;
          auto sent = m_supervisor.send_console_input(
              vm->name,
              std::span(reinterpret_cast<const uint8_t*>(req.body.data()), req.body.size()));
          if (!sent) return reply_error(res, sent.error());
          reply(res, 200, {{"sent", req.body.size()}});
        });

  route(server, routes, "GET", R"(/v1/vms/([^/]+)/metrics)",
        [=, this](const httplib::Request& req, httplib::Response& res) {
          auto vm = lookup(req, res);
          if (!vm) return;
          VmStatus status = m_supervisor.status(vm->name);
          json body = {{"name", vm->name}, {"state", to_string(status.state)}};
          if (status.pid) {
            if (auto metrics = read_process_metrics(*status.pid)) {
              body["cpu_seconds"] = metrics->cpu_seconds;
              body["rss_bytes"] = metrics->rss_bytes;
              body["read_bytes"] = metrics->read_bytes;
              body["write_bytes"] = metrics->write_bytes;
              body["threads"] = metrics->threads;
            }
            if (auto stats = m_supervisor.vmm_stats(vm->name)) add_vmm_stats(body, *stats);
          }
          reply(res, 200, body);
        });

  // The serial console's output: what is logged so far, or (?follow=1) a stream that goes on
  // while the guest runs.
  route(server, routes, "GET", R"(/v1/vms/([^/]+)/console)", {{"follow", true, 0, 1}},
        [=, this, &streams](const httplib::Request& req, httplib::Response& res) {
          auto vm = lookup(req, res);
          if (!vm) return;
          std::string path = m_supervisor.paths().console_log(vm->name);
          bool follow = query_value(req, "follow").value_or(0) == 1;
          if (!follow) {
            // The last kConsoleLogLimit bytes of output (of the log's two files).
            auto tail = vmm::read_console_log_tail(path, vmm::kConsoleLogLimit);
            if (!tail) return reply_error(res, tail.error());
            res.set_content(std::move(*tail), "text/plain");
            return;
          }
          auto slot = streams.try_take();
          if (!slot) return reply_error(res, too_many_streams(streams));
          std::string name = vm->name;
          // The file being followed and how far it was sent; the VMM may replace the file
          // (console_log.h), which is then followed from its start.
          struct Followed {
            std::optional<UniqueFd> fd;
            uint64_t sent = 0;
          };
          auto followed = std::make_shared<Followed>();
          const SSL* ssl = req.ssl;
          res.set_chunked_content_provider("text/plain", [this, path, name, followed, slot, ssl](
                                                             size_t, httplib::DataSink& sink) {
            (void)slot;  // held while the stream lasts
            UniqueFd notify(::inotify_init1(IN_CLOEXEC | IN_NONBLOCK));
            if (notify) ::inotify_add_watch(notify.get(), path.c_str(), IN_MODIFY | IN_MOVE_SELF);
            std::vector<uint8_t> buffer(kStreamChunk);
            for (;;) {
              if (!followed->fd) {
                if (auto opened = sys::open(path, O_RDONLY | O_CLOEXEC)) {
                  followed->fd = std::move(*opened);
                  followed->sent = 0;
                }
              }
              auto read_more = [&]() -> size_t {
                if (!followed->fd) return 0;
                return sys::read_some_at(followed->fd->get(), buffer, followed->sent).value_or(0);
              };
              size_t got = read_more();
              if (got == 0 && followed->fd) {
                // A new run truncated the file (same inode): its output starts again.
                auto now = sys::stat_fd(followed->fd->get(), path);
                if (now && static_cast<uint64_t>(now->st_size) < followed->sent) {
                  followed->sent = 0;
                  continue;
                }
                // A new file in its place (the old one became LOG.1): what reached the old
                // one before the rename is sent first (nothing writes to it after), then
                // the new one is followed from its start.
                if (replaced(followed->fd->get(), path)) {
                  got = read_more();
                  if (got == 0) {
                    followed->fd.reset();
                    continue;
                  }
                }
              }
              if (got > 0) {
                followed->sent += got;
                if (!sink.write(reinterpret_cast<const char*>(buffer.data()), got)) return false;
                return true;  // called again for what came next
              }
              if (!is_up(m_supervisor.status(name).state) || m_events.closed()) {
                sink.done();
                return true;
              }
              if (!client_still_there(ssl, sink)) return false;
              pollfd wait{notify ? notify.get() : -1, POLLIN, 0};
              if (::poll(&wait, 1, 500) > 0) {
                char drain[4096];
                while (::read(notify.get(), drain, sizeof(drain)) > 0) {
                }
              }
            }
          });
        });

  // State changes as a stream of JSON lines: ?since=SEQ gives what came after SEQ first.
  route(server, routes, "GET", "/v1/events", {{"since", true, 0, kMaxSince}},
        [this, &streams](const httplib::Request& req, httplib::Response& res) {
          uint64_t since = m_events.last_seq();
          if (auto asked = query_value(req, "since")) since = static_cast<uint64_t>(*asked);
          auto slot = streams.try_take();
          if (!slot) return reply_error(res, too_many_streams(streams));
          auto cursor = std::make_shared<uint64_t>(since);
          const SSL* ssl = req.ssl;
          res.set_chunked_content_provider(
              "application/x-ndjson", [this, cursor, slot, ssl](size_t, httplib::DataSink& sink) {
                (void)slot;  // held while the stream lasts
                for (;;) {
                  if (m_events.closed()) {
                    sink.done();
                    return true;
                  }
                  if (!client_still_there(ssl, sink)) return false;
                  auto events = m_events.after(*cursor, std::chrono::milliseconds(500));
                  if (events.empty()) continue;
                  std::string lines;
                  for (const Event& event : events) {
                    lines += event_to_json(event).dump() + "\n";
                    *cursor = event.seq;
                  }
                  return sink.write(lines.data(), lines.size());
                }
              });
        });
}

}  // namespace haven::daemon
