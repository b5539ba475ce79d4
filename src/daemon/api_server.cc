#include "daemon/api_server.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <httplib.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "base/log.h"
#include "base/sys.h"
#include "daemon/backup_restore.h"
#include "daemon/http_status.h"
#include "daemon/process_metrics.h"
#include "daemon/restore.h"
#include "daemon/token_file.h"
#include "daemon/vm_backup.h"

namespace haven::daemon {
namespace {

using nlohmann::json;
constexpr auto kDefaultStopGrace = std::chrono::seconds(30);
constexpr size_t kStreamChunk = 64 << 10;

void reply(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump() + "\n", "application/json");
}

// {"error": MESSAGE, "field": FIELD} with the status of the error's kind.
void reply_error(httplib::Response& res, const Error& error) {
  json body = {{"error", error.message()}};
  if (!error.field().empty()) body["field"] = error.field();
  reply(res, http_status(error.kind()), body);
}

void reply_error(httplib::Response& res, const std::unexpected<Error>& error) {
  reply_error(res, error.error());
}

// Whatever fails while a request body is read is the request's fault.
Error request_error(Error error) {
  if (error.kind() != ErrorKind::internal) return error;
  return std::move(error).with_kind(ErrorKind::invalid);
}

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

json describe(const VmDefinition& definition, const VmStatus& status) {
  json vm = json::parse(vm_definition_to_json(definition));
  vm["status"] = vm_status_to_json(status);
  vm["state"] = to_string(status.state);
  return vm;
}

// Serves `handler` for METHOD PATTERN and notes the route in `record` (when given).
void route(httplib::Server& server, std::vector<ApiServer::Route>* record, const char* method,
           const std::string& pattern, httplib::Server::Handler handler) {
  if (record) record->push_back({method, pattern});
  std::string_view verb = method;
  if (verb == "GET")
    server.Get(pattern, std::move(handler));
  else if (verb == "POST")
    server.Post(pattern, std::move(handler));
  else if (verb == "PUT")
    server.Put(pattern, std::move(handler));
  else
    server.Delete(pattern, std::move(handler));
}

}  // namespace

ApiServer::ApiServer(VmRegistry& registry, Supervisor& supervisor, EventLog& events)
    : m_registry(registry),
      m_supervisor(supervisor),
      m_events(events),
      m_server(std::make_unique<httplib::Server>()) {
  add_routes(*m_server);
}

ApiServer::~ApiServer() {
  if (m_tcp) m_tcp->stop();  // before m_tcp_thread joins
}

void ApiServer::stop() {
  m_events.close();
  m_server->stop();
  if (m_tcp) m_tcp->stop();
}

Result<void> ApiServer::serve(const std::string& socket_path, const std::optional<Tcp>& tcp) {
  if (tcp) {
    m_tcp = std::make_unique<httplib::Server>();
    add_routes(*m_tcp);
    std::string token = tcp->token;
    m_tcp->set_pre_routing_handler([token](const httplib::Request& req, httplib::Response& res) {
      std::string given = req.get_header_value("Authorization");
      if (given.starts_with("Bearer ") && same_token(given.substr(7), token))
        return httplib::Server::HandlerResponse::Unhandled;
      res.set_header("WWW-Authenticate", "Bearer");
      reply(res, 401,
            {{"error", "authorization: send the bearer token of havend --token-file"},
             {"field", "authorization"}});
      return httplib::Server::HandlerResponse::Handled;
    });
    int port = tcp->port == 0 ? m_tcp->bind_to_any_port(tcp->host)
                              : (m_tcp->bind_to_port(tcp->host, tcp->port) ? tcp->port : -1);
    if (port < 0) return errno_error("bind the API to {}:{}", tcp->host, tcp->port);
    log::info("API on http://{}:{} (bearer token required)", tcp->host, port);
    m_tcp_thread = std::jthread([this] {
      if (!m_tcp->listen_after_bind()) log::error("the TCP API stopped");
    });
  }
  // The socket's directory (say /run/haven) is made when missing.
  if (size_t slash = socket_path.rfind('/'); slash != std::string::npos && slash > 0) {
    std::string directory = socket_path.substr(0, slash);
    if (::mkdir(directory.c_str(), 0755) != 0 && errno != EEXIST)
      return errno_error("make the socket's directory {}", directory);
  }
  struct stat st {};
  if (::lstat(socket_path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode))
      return make_error("{} exists and is not a socket: not replacing it", socket_path);
    ::unlink(socket_path.c_str());
  }
  m_server->set_address_family(AF_UNIX);
  if (!m_server->bind_to_port(socket_path.c_str(), 80))
    return errno_error("bind the API socket {}", socket_path);
  if (::chmod(socket_path.c_str(), 0660) != 0) return errno_error("chmod {}", socket_path);
  log::info("API on {}", socket_path);
  if (!m_server->listen_after_bind()) return make_error("the API server on {} failed", socket_path);
  return {};
}

// POST /v1/restore {"repo": "/abs", "snapshot": ID, "name": NEW, ...}
// (daemon/backup_restore_request.h): a new guest booted from a backup snapshot
// (daemon/backup_restore.h), started at once.
void ApiServer::restore_backup(const json& body, httplib::Response& res) {
  auto parsed = backup_restore_request_from_json(body);
  if (!parsed) return reply_error(res, request_error(parsed.error()));
  const BackupRestoreRequest& request = *parsed;
  if (auto valid = validate_vm_name(request.name); !valid) return reply_error(res, valid.error());
  if (m_registry.find(request.name))
    return reply_error(res, field_error(ErrorKind::conflict, "name", "'{}' exists", request.name));
  auto began = std::chrono::steady_clock::now();
  std::string disks = m_supervisor.paths().disk_dir(request.name);
  auto prepared = prepare_backup_restore(request, m_repositories, disks);
  if (!prepared) return reply_error(res, prepared.error());
  const VmDefinition& definition = prepared->definition;
  auto discard = [&] {
    if (prepared->hold) (void)store::remove_hold(*prepared->hold);
    m_supervisor.set_repo_keys(request.name, std::nullopt);
    std::error_code ignored;
    std::filesystem::remove_all(disks, ignored);
    (void)m_supervisor.forget(request.name);
    (void)m_registry.remove(request.name);
  };
  if (auto added = m_registry.add(definition); !added) {
    discard();
    return reply_error(res, added.error());
  }
  if (prepared->repository->keys())
    m_supervisor.set_repo_keys(request.name,
                               store::KeyHandoff{request.repo, *prepared->repository->keys()});
  if (auto started = m_supervisor.start(definition); !started) {
    discard();
    return reply_error(res, started.error());
  }
  json answer = describe(definition, m_supervisor.status(request.name));
  answer["snapshot"] = prepared->snapshot_id;
  answer["instant"] = request.instant;
  answer["notes"] = prepared->notes;
  answer["seconds"] =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
  reply(res, 201, answer);
}

void ApiServer::add_routes(httplib::Server& server) {
  // The Unix socket's server is set up first, in the constructor: its routes are the record.
  std::vector<Route>* routes = &server == m_server.get() ? &m_routes : nullptr;
  server.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr error) {
        std::string what = "internal error";
        try {
          std::rethrow_exception(error);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        reply_error(res, Error::from_message(what));
      });
  server.set_logger([](const httplib::Request& req, const httplib::Response& res) {
    log::debug("{} {} -> {}", req.method, req.path, res.status);
  });

  route(server, routes, "GET", "/v1/vms", [this](const httplib::Request&, httplib::Response& res) {
    json vms = json::array();
    for (const VmDefinition& definition : m_registry.list())
      vms.push_back(describe(definition, m_supervisor.status(definition.name)));
    reply(res, 200, {{"vms", vms}});
  });

  route(server, routes, "POST", "/v1/vms",
        [this](const httplib::Request& req, httplib::Response& res) {
          auto definition = vm_definition_from_json(req.body);
          if (!definition) return reply_error(res, request_error(definition.error()));
          if (m_registry.find(definition->name))
            return reply_error(
                res, field_error(ErrorKind::conflict, "name", "'{}' exists", definition->name));
          if (auto kept = keep_nvram(*definition, m_supervisor.paths().disk_dir(definition->name));
              !kept)
            return reply_error(res, kept.error());
          if (auto added = m_registry.add(*definition); !added)
            return reply_error(res, added.error());
          m_events.append(definition->name,
                          vm_status_to_json(m_supervisor.status(definition->name)));
          reply(res, 201, describe(*definition, m_supervisor.status(definition->name)));
        });

  // The guest named in the path, or a 404 already sent.
  auto lookup = [this](const httplib::Request& req,
                       httplib::Response& res) -> std::optional<VmDefinition> {
    std::string name = req.matches[1];
    auto found = m_registry.find(name);
    if (!found) reply_error(res, kind_error(ErrorKind::not_found, "no VM named '{}'", name));
    return found;
  };

  route(server, routes, "GET", R"(/v1/vms/([^/]+))",
        [=, this](const httplib::Request& req, httplib::Response& res) {
          if (auto vm = lookup(req, res))
            reply(res, 200, describe(*vm, m_supervisor.status(vm->name)));
        });

  route(server, routes, "PUT", R"(/v1/vms/([^/]+))",
        [=, this](const httplib::Request& req, httplib::Response& res) {
          auto vm = lookup(req, res);
          if (!vm) return;
          json body = json::parse(req.body, nullptr, false);
          if (body.is_discarded() || !body.is_object())
            return reply_error(res, field_error(ErrorKind::invalid, "body", "not a JSON object"));
          if (body.contains("name") && body["name"] != vm->name)
            return reply_error(res,
                               field_error(ErrorKind::invalid, "name", "a VM cannot be renamed"));
          body["name"] = vm->name;
          auto definition = vm_definition_from_json(body.dump());
          if (!definition) return reply_error(res, request_error(definition.error()));
          if (is_up(m_supervisor.status(vm->name).state))
            return reply_error(res, field_error(ErrorKind::conflict, "state",
                                                "'{}' is running: stop it first", vm->name));
          if (auto kept = keep_nvram(*definition, m_supervisor.paths().disk_dir(vm->name)); !kept)
            return reply_error(res, kept.error());
          if (auto replaced = m_registry.replace(*definition); !replaced)
            return reply_error(res, replaced.error());
          reply(res, 200, describe(*definition, m_supervisor.status(vm->name)));
        });

  route(server, routes, "DELETE", R"(/v1/vms/([^/]+))",
        [=, this](const httplib::Request& req, httplib::Response& res) {
          auto vm = lookup(req, res);
          if (!vm) return;
          if (is_up(m_supervisor.status(vm->name).state))
            return reply_error(res, field_error(ErrorKind::conflict, "state",
                                                "'{}' is running: stop it first", vm->name));
          if (auto forgotten = m_supervisor.forget(vm->name); !forgotten)
            return reply_error(res, forgotten.error());
          m_supervisor.set_repo_keys(vm->name, std::nullopt);
          if (auto removed = m_registry.remove(vm->name); !removed)
            return reply_error(res, removed.error());
          res.status = 204;
        });

  // Actions: POST /v1/vms/NAME/start|stop|kill|pause|resume.
  route(server, routes, "POST", R"(/v1/vms/([^/]+)/(start|stop|kill|pause|resume))",
        [=, this](const httplib::Request& req, httplib::Response& res) {
          auto vm = lookup(req, res);
          if (!vm) return;
          std::string action = req.matches[2];
          Result<void> done;
          if (action == "start") {
            done = m_supervisor.start(*vm);
          } else if (action == "stop") {
            auto grace = std::chrono::milliseconds(kDefaultStopGrace);
            if (req.has_param("timeout")) {
              char* end = nullptr;
              std::string text = req.get_param_value("timeout");
              double seconds = std::strtod(text.c_str(), &end);
              if (end == text.c_str() || *end || seconds < 0 || seconds > 3600)
                return reply_error(
                    res, field_error(ErrorKind::invalid, "timeout", "seconds from 0 to 3600"));
              grace = std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
            }
            done = m_supervisor.stop(vm->name, grace);
          } else if (action == "kill") {
            done = m_supervisor.kill(vm->name);
          } else if (action == "pause") {
            done = m_supervisor.pause(vm->name);
          } else {
            done = m_supervisor.resume(vm->name);
          }
          if (!done) return reply_error(res, done.error());
          reply(res, 200, describe(*vm, m_supervisor.status(vm->name)));
        });

  // POST /v1/vms/NAME/snapshot {"dir": "/abs/dir"}: the guest carries on.
  route(server, routes, "POST", R"(/v1/vms/([^/]+)/snapshot)",
        [=, this](const httplib::Request& req, httplib::Response& res) {
          auto vm = lookup(req, res);
          if (!vm) return;
          json body = json::parse(req.body, nullptr, false);
          if (body.is_discarded() || !body.is_object() || !body.contains("dir") ||
              !body["dir"].is_string())
            return reply_error(
                res, field_error(ErrorKind::invalid, "dir", "the snapshot directory is missing"));
          std::string dir = body["dir"];
          if (dir.empty() || dir.front() != '/')
            return reply_error(res,
                               field_error(ErrorKind::invalid, "dir", "must be an absolute path"));
          auto taken = m_supervisor.snapshot(vm->name, dir);
          if (!taken) return reply_error(res, taken.error());
          json answer = {{"name", vm->name},
                         {"dir", dir},
                         {"memory_bytes", taken->memory_bytes},
                         {"disk_bytes", taken->disk_bytes},
                         {"paused_ms", taken->paused_ms},
                         {"total_ms", taken->total_ms}};
          reply(res, 200, answer);
        });

  // POST /v1/vms/NAME/backup {"repo": "/abs", "passphrase": "...", "tags": [...]}: starts a
  // job backing up the guest's writable disks (running or stopped); 202 {"job": ID}.
  route(
      server, routes, "POST", R"(/v1/vms/([^/]+)/backup)",
      [=, this](const httplib::Request& req, httplib::Response& res) {
        auto vm = lookup(req, res);
        if (!vm) return;
        json body = json::parse(req.body, nullptr, false);
        if (body.is_discarded() || !body.is_object() || !body.contains("repo") ||
            !body["repo"].is_string())
          return reply_error(
              res, field_error(ErrorKind::invalid, "repo", "the repository directory is missing"));
        VmBackupOptions options;
        options.repo = body["repo"];
        if (options.repo.empty() || options.repo.front() != '/')
          return reply_error(res,
                             field_error(ErrorKind::invalid, "repo", "must be an absolute path"));
        if (body.contains("passphrase") && body["passphrase"].is_string())
          options.passphrase = body["passphrase"];
        if (body.contains("tags")) {
          if (!body["tags"].is_array())
            return reply_error(res, field_error(ErrorKind::invalid, "tags", "expected a list"));
          for (const json& tag : body["tags"]) {
            if (!tag.is_string())
              return reply_error(res, field_error(ErrorKind::invalid, "tags", "expected strings"));
            options.tags.push_back(tag);
          }
        }
        if (auto reserved = m_supervisor.reserve(vm->name, "a backup is running"); !reserved)
          return reply_error(res, reserved.error());
        std::string id = m_jobs.start(
            "backup", vm->name, [this, definition = *vm, options](const Jobs::Report& report) {
              struct Release {  // however the job ends
                Supervisor& supervisor;
                std::string name;
                ~Release() { supervisor.release(name); }
              } release{m_supervisor, definition.name};
              return back_up_vm(m_supervisor, m_repositories, definition, options, report);
            });
        reply(res, 202, *m_jobs.find(id));
      });

  // POST /v1/vms/NAME/fill {"paused": true|false}: holds back or lets go on the background
  // fill of the guest's disks being restored (kept in its definition for the next start).
  route(server, routes, "POST", R"(/v1/vms/([^/]+)/fill)",
        [=, this](const httplib::Request& req, httplib::Response& res) {
          auto vm = lookup(req, res);
          if (!vm) return;
          json body = json::parse(req.body, nullptr, false);
          if (body.is_discarded() || !body.is_object() || !body.contains("paused") ||
              !body["paused"].is_boolean())
            return reply_error(
                res, field_error(ErrorKind::invalid, "paused", "true or false is missing"));
          bool paused = body["paused"];
          auto done = m_supervisor.control(vm->name,
                                           vmm::control::to_json(vmm::control::FillRequest{paused}),
                                           std::chrono::seconds(10));
          if (!done) return reply_error(res, done.error());
          VmDefinition updated = *vm;
          for (auto& disk : updated.config.disks)
            if (!disk.restore_repo.empty()) disk.fill_paused = paused;
          if (auto replaced = m_registry.replace(updated); !replaced)
            return reply_error(res, replaced.error());
          reply(res, 200, describe(updated, m_supervisor.status(vm->name)));
        });

  route(server, routes, "GET", "/v1/jobs", [this](const httplib::Request&, httplib::Response& res) {
    reply(res, 200, {{"jobs", m_jobs.list()}});
  });
  route(server, routes, "GET", R"(/v1/jobs/([^/]+))",
        [this](const httplib::Request& req, httplib::Response& res) {
          // ?wait=MS (at most 10 s): answers as soon as the job ends, else after MS.
          long wait = 0;
          if (req.has_param("wait"))
            wait = std::clamp(std::atol(req.get_param_value("wait").c_str()), 0L, 10000L);
          auto job = wait ? m_jobs.wait(req.matches[1], std::chrono::milliseconds(wait))
                          : m_jobs.find(req.matches[1]);
          if (!job)
            return reply_error(
                res, kind_error(ErrorKind::not_found, "no job '{}'", std::string(req.matches[1])));
          reply(res, 200, *job);
        });

  // POST /v1/restore {"snapshot": "/abs/dir", "name": "NEW"}: a new guest continuing the
  // snapshot, started at once.
  route(server, routes, "POST", "/v1/restore",
        [this](const httplib::Request& req, httplib::Response& res) {
          json body = json::parse(req.body, nullptr, false);
          if (body.is_discarded() || !body.is_object())
            return reply_error(res, field_error(ErrorKind::invalid, "body", "not a JSON object"));
          if (body.contains("repo")) return restore_backup(body, res);
          for (const char* field : {"snapshot", "name"})
            if (!body.contains(field) || !body[field].is_string())
              return reply_error(res, field_error(ErrorKind::invalid, field, "missing"));
          std::string name = body["name"], dir = body["snapshot"];
          if (auto valid = validate_vm_name(name); !valid) return reply_error(res, valid.error());
          if (m_registry.find(name))
            return reply_error(res, field_error(ErrorKind::conflict, "name", "'{}' exists", name));
          std::string disks = m_supervisor.paths().disk_dir(name);
          auto definition = prepare_restore(dir, name, disks);
          if (!definition) return reply_error(res, request_error(definition.error()));
          auto discard = [&] {
            (void)m_supervisor.forget(name);
            (void)m_registry.remove(name);
          };
          if (auto added = m_registry.add(*definition); !added) {
            discard();
            return reply_error(res, added.error());
          }
          if (auto started = m_supervisor.start(*definition, dir); !started) {
            discard();
            return reply_error(res, started.error());
          }
          reply(res, 201, describe(*definition, m_supervisor.status(name)));
        });

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
  route(server, routes, "GET", R"(/v1/vms/([^/]+)/console)",
        [=, this](const httplib::Request& req, httplib::Response& res) {
          auto vm = lookup(req, res);
          if (!vm) return;
          std::string path = m_supervisor.paths().console_log(vm->name);
          bool follow = req.has_param("follow") && req.get_param_value("follow") != "0";
          if (!follow) {
            auto bytes = sys::read_file(path, 64 << 20);
            res.set_content(bytes ? std::string(bytes->begin(), bytes->end()) : std::string(),
                            "text/plain");
            return;
          }
          std::string name = vm->name;
          res.set_chunked_content_provider(
              "text/plain", [this, path, name](size_t offset, httplib::DataSink& sink) {
                auto fd = sys::open(path, O_RDONLY | O_CLOEXEC);
                UniqueFd notify(::inotify_init1(IN_CLOEXEC | IN_NONBLOCK));
                if (notify) ::inotify_add_watch(notify.get(), path.c_str(), IN_MODIFY);
                std::vector<uint8_t> buffer(kStreamChunk);
                for (;;) {
                  if (!fd) fd = sys::open(path, O_RDONLY | O_CLOEXEC);
                  ssize_t got = fd ? ::pread(fd->get(), buffer.data(), buffer.size(),
                                             static_cast<off_t>(offset))
                                   : 0;
                  if (got > 0) {
                    if (!sink.write(reinterpret_cast<const char*>(buffer.data()),
                                    static_cast<size_t>(got)))
                      return false;
                    return true;  // called again with the new offset
                  }
                  if (!is_up(m_supervisor.status(name).state) || m_events.closed()) {
                    sink.done();
                    return true;
                  }
                  if (!sink.is_writable()) return false;
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
  route(server, routes, "GET", "/v1/events",
        [this](const httplib::Request& req, httplib::Response& res) {
          uint64_t since = m_events.last_seq();
          if (req.has_param("since"))
            since = std::strtoull(req.get_param_value("since").c_str(), nullptr, 10);
          auto cursor = std::make_shared<uint64_t>(since);
          res.set_chunked_content_provider(
              "application/x-ndjson", [this, cursor](size_t, httplib::DataSink& sink) {
                for (;;) {
                  if (m_events.closed()) {
                    sink.done();
                    return true;
                  }
                  if (!sink.is_writable()) return false;
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
