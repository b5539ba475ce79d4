// havend's API for VM definitions and their lifecycle: /v1/vms, /v1/vms/NAME and
// /v1/vms/NAME/start|stop|kill|pause|resume.

#include <chrono>

#include "daemon/api_replies.h"

namespace haven::daemon {
namespace {

using nlohmann::json;
constexpr auto kDefaultStopGrace = std::chrono::seconds(30);

}  // namespace

void ApiServer::add_vm_routes(httplib::Server& server, std::vector<Route>* routes) {
  route(server, routes, "GET", "/v1/vms", [this](const httplib::Request&, httplib::Response& res) {
    json vms = json::array();
    for (const VmDefinition& definition : m_registry.list())
      vms.push_back(describe(definition, m_supervisor.status(definition.name)));
    // A definition that did not load is shown, not hidden: its file waits to be mended.
    for (const VmRegistry::Broken& broken : m_registry.broken())
      vms.push_back(describe_broken(broken, m_supervisor.status(broken.name)));
    reply(res, 200, {{"vms", vms}});
  });

  route(server, routes, "POST", "/v1/vms",
        [this](const httplib::Request& req, httplib::Response& res) {
          auto definition = vm_definition_from_json(req.body);
          if (!definition) return reply_error(res, request_error(definition.error()));
          if (auto allowed = m_paths.check_config(definition->config); !allowed)
            return reply_error(res, allowed.error());
          if (m_registry.find(definition->name) || m_registry.find_broken(definition->name))
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
          if (auto allowed = m_paths.check_config(definition->config); !allowed)
            return reply_error(res, allowed.error());
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
          // A broken definition's guest may be deleted too (its file goes with it).
          std::string name = req.matches[1];
          if (!m_registry.find_broken(name) && !lookup(req, res)) return;
          if (is_up(m_supervisor.status(name).state))
            return reply_error(res, field_error(ErrorKind::conflict, "state",
                                                "'{}' is running: stop it first", name));
          if (auto forgotten = m_supervisor.forget(name); !forgotten)
            return reply_error(res, forgotten.error());
          m_supervisor.set_repo_keys(name, std::nullopt);
          if (auto removed = m_registry.remove(name); !removed)
            return reply_error(res, removed.error());
          res.status = 204;
        });

  // Actions: POST /v1/vms/NAME/start|stop|kill|pause|resume.
  route(server, routes, "POST", R"(/v1/vms/([^/]+)/(start|stop|kill|pause|resume))",
        {{"timeout", false, 0, 3600}},
        [=, this](const httplib::Request& req, httplib::Response& res) {
          std::string action = req.matches[2];
          // A broken definition's guest that still runs (adopted from before) can be stopped.
          std::string name = req.matches[1];
          auto broken = m_registry.find_broken(name);
          if (broken && (action == "stop" || action == "kill")) {
            double seconds = query_value(req, "timeout").value_or(kDefaultStopGrace.count());
            Result<void> ended =
                action == "kill"
                    ? m_supervisor.kill(name)
                    : m_supervisor.stop(
                          name, std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000)));
            if (!ended) return reply_error(res, ended.error());
            return reply(res, 200, describe_broken(*broken, m_supervisor.status(name)));
          }
          auto vm = lookup(req, res);
          if (!vm) return;
          Result<void> done;
          if (action == "start") {
            // Again at each start: the definition may predate the policy, or a path in it may
            // have become a link out of the allowed directories since.
            done = m_paths.check_config(vm->config);
            if (done) done = m_supervisor.start(*vm);
          } else if (action == "stop") {
            double seconds = query_value(req, "timeout").value_or(kDefaultStopGrace.count());
            done = m_supervisor.stop(
                vm->name, std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000)));
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
}

}  // namespace haven::daemon
