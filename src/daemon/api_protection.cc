// havend's API for protecting guests: snapshots, backups and their jobs, the fill of
// restoring disks, and restores from a snapshot directory or a backup repository.

#include <algorithm>
#include <chrono>
#include <filesystem>

#include "daemon/api_replies.h"
#include "daemon/backup_restore.h"
#include "daemon/restore.h"
#include "daemon/vm_backup.h"
#include "store/snapshot_hold.h"

namespace haven::daemon {
namespace {

using nlohmann::json;

}  // namespace

void ApiServer::add_protection_routes(httplib::Server& server, std::vector<Route>* routes) {
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
          if (auto allowed = m_paths.check("dir", dir, PathPolicy::Use::snapshot_target); !allowed)
            return reply_error(res, allowed.error());
          // The VMM copies the writable disks by their names: still where they may be?
          if (auto allowed = m_paths.check_config(vm->config); !allowed)
            return reply_error(res, allowed.error());
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
        if (auto allowed = m_paths.check("repo", options.repo); !allowed)
          return reply_error(res, allowed.error());
        // The disks (and UEFI variables) are read by their names: still where they may be?
        if (auto allowed = m_paths.check_config(vm->config); !allowed)
          return reply_error(res, allowed.error());
        for (const auto& [key, value] : body.items())
          if (key != "repo" && key != "passphrase" && key != "tags")
            return reply_error(res,
                               field_error(ErrorKind::invalid, key, "not a field of a backup"));
        if (body.contains("passphrase")) {
          if (!body["passphrase"].is_string())  // a wrong type is not "no passphrase"
            return reply_error(res, field_error(ErrorKind::invalid, "passphrase", "not text"));
          options.passphrase = body["passphrase"];
        }
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
  // ?wait=MS (at most 10 s): answers as soon as the job ends, else after MS.
  route(server, routes, "GET", R"(/v1/jobs/([^/]+))", {{"wait", true, 0, 10000}},
        [this](const httplib::Request& req, httplib::Response& res) {
          auto wait = static_cast<int64_t>(query_value(req, "wait").value_or(0));
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
          if (m_registry.find(name) || m_registry.find_broken(name))
            return reply_error(res, field_error(ErrorKind::conflict, "name", "'{}' exists", name));
          if (auto allowed = m_paths.check("snapshot", dir); !allowed)
            return reply_error(res, allowed.error());
          std::string disks = m_supervisor.paths().disk_dir(name);
          std::error_code ignored;
          bool disks_were_there = std::filesystem::exists(disks, ignored);
          auto definition = prepare_restore(dir, name, disks);
          if (!definition) return reply_error(res, request_error(definition.error()));
          // The snapshot's guest uses its read-only disks (and kernel...) in place.
          if (auto allowed = m_paths.check_config(definition->config); !allowed) {
            if (!disks_were_there) std::filesystem::remove_all(disks, ignored);
            return reply_error(res, allowed.error());
          }
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
}

// POST /v1/restore {"repo": "/abs", "snapshot": ID, "name": NEW, ...}
// (daemon/backup_restore_request.h): a new guest booted from a backup snapshot
// (daemon/backup_restore.h), started at once.
void ApiServer::restore_backup(const json& body, httplib::Response& res) {
  auto parsed = backup_restore_request_from_json(body);
  if (!parsed) return reply_error(res, request_error(parsed.error()));
  const BackupRestoreRequest& request = *parsed;
  if (auto valid = validate_vm_name(request.name); !valid) return reply_error(res, valid.error());
  if (m_registry.find(request.name) || m_registry.find_broken(request.name))
    return reply_error(res, field_error(ErrorKind::conflict, "name", "'{}' exists", request.name));
  if (auto allowed = m_paths.check("repo", request.repo); !allowed)
    return reply_error(res, allowed.error());
  // The kernel and initrd asked for, before any work: the disk may take long to restore.
  for (auto [field, path] :
       {std::pair{"kernel", &request.boot.kernel}, std::pair{"initrd", &request.boot.initrd}})
    if (*path)
      if (auto allowed = m_paths.check(field, **path); !allowed)
        return reply_error(res, allowed.error());
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
  // The kernel or initrd the request names, or those the backed-up guest booted.
  if (auto allowed = m_paths.check_config(definition.config); !allowed) {
    discard();
    return reply_error(res, allowed.error());
  }
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

}  // namespace haven::daemon
