// havend: holds VM definitions, runs each started guest as its own haven-vmm process, and
// serves the REST API (docs/API.md) on a Unix socket. Runs in the foreground; SIGINT or
// SIGTERM stop the daemon (the guests keep running and the next havend adopts them).
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <thread>

#include "base/log.h"
#include "base/sys.h"
#include "daemon/api_server.h"
#include "daemon/event_log.h"
#include "daemon/instance_lock.h"
#include "daemon/path_policy.h"
#include "daemon/supervisor.h"
#include "daemon/tls_identity.h"
#include "daemon/token_file.h"
#include "daemon/vm_registry.h"
#include "store/openssl_memory.h"
#include "vmm/vmm_path.h"

using namespace haven;

// Unlocking a repository (scrypt) gets huge pages; installed before any library's initializer
// can use OpenSSL (store/openssl_memory.h).
[[gnu::section(".preinit_array"), gnu::used]] static constexpr auto* kOpensslMemory =
    &haven::store::openssl_memory::preinit;

int main(int argc, char** argv) {
  log::set_program_name("havend");
  sys::raise_open_file_limit();
  CLI::App app{
      "havend: the Haven daemon. Keeps VM definitions under --state, runs each guest in its "
      "own haven-vmm process, serves the REST API on --socket (see docs/API.md)."};
  std::string state, socket, vmm_path, listen, token_file, tls_cert, tls_key;
  std::vector<std::string> allowed_paths;
  bool daemonize = false, verbose = false, no_cgroups = false, plain_http = false;
  double overcommit = 1.5;
  app.add_option("--state", state, "State directory (VM definitions, statuses, console logs)")
      ->required();
  app.add_option("--socket", socket, "Unix socket for the API (mode 0660)")->required();
  app.add_option("--vmm", vmm_path, "haven-vmm executable (default: beside havend, or PATH)");
  app.add_option("--listen", listen,
                 "Also serve the API on TCP HOST:PORT (port 0: any; needs --token-file)");
  app.add_option("--token-file", token_file,
                 "Bearer tokens TCP clients must send (mode 0600): one per line, TOKEN (an "
                 "admin's) or ROLE TOKEN [NAME], ROLE read-only, operator or admin");
  app.add_option("--tls-cert", tls_cert,
                 "TLS certificate (PEM) for --listen; default: a self-signed one made on the "
                 "first start in STATE/tls, its fingerprint logged at every start");
  app.add_option("--tls-key", tls_key, "The certificate's private key (PEM, mode 0600)");
  app.add_flag("--plain-http", plain_http,
               "Serve --listen without TLS: only behind a proxy on this host that ends TLS");
  app.add_option("--allow-path", allowed_paths,
                 "A directory whose files API requests may name: disks, kernels, ISOs, "
                 "snapshot targets, repositories (repeatable); STATE/disks (havend's own) and "
                 "STATE/images always are");
  app.add_flag("--daemon", daemonize, "Detach and run in the background");
  app.add_option("--memory-overcommit", overcommit,
                 "Running guests' RAM may add up to this times the host's memory (default 1.5)")
      ->check(CLI::Range(0.1, 100.0));
  app.add_flag("--no-cgroups", no_cgroups,
               "Do not put VMMs in cgroups (guests with cpu/memory limits then refuse to start)");
  app.add_flag("-v,--verbose", verbose, "Log every request");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error) == 0 ? 0 : 2;
  }
  if (verbose) log::set_level(log::Level::debug);
  std::optional<daemon::ApiServer::Tcp> tcp;
  if (!listen.empty()) {
    size_t colon = listen.rfind(':');
    char* end = nullptr;
    long port = colon == std::string::npos ? -1 : std::strtol(listen.c_str() + colon + 1, &end, 10);
    if (colon == std::string::npos || colon == 0 || *end != '\0' || port < 0 || port > 65535) {
      log::error("--listen: '{}' is not HOST:PORT", listen);
      return 2;
    }
    if (token_file.empty()) {
      log::error("--listen needs --token-file: the TCP API is never open without a token");
      return 2;
    }
    auto tokens = daemon::read_token_file(token_file);
    if (!tokens) {
      log::error("{}", tokens.error().message());
      return 2;
    }
    tcp = daemon::ApiServer::Tcp{listen.substr(0, colon), static_cast<int>(port), *tokens, {}};
    if (tls_cert.empty() != tls_key.empty()) {
      log::error("--tls-cert and --tls-key go together");
      return 2;
    }
    if (plain_http && !tls_cert.empty()) {
      log::error("--plain-http with --tls-cert: choose one");
      return 2;
    }
  } else if (!token_file.empty() || !tls_cert.empty() || !tls_key.empty() || plain_http) {
    log::error("{} without --listen: the Unix socket is guarded by its permissions",
               !token_file.empty() ? "--token-file"
               : plain_http        ? "--plain-http"
                                   : "--tls-cert/--tls-key");
    return 2;
  }
  if (vmm_path.empty()) vmm_path = vmm::find_vmm_executable();
  if (::access(vmm_path.c_str(), X_OK) != 0) {
    log::error("haven-vmm not found or not executable at '{}' (use --vmm)", vmm_path);
    return 1;
  }
  char absolute[4096];
  if (::realpath(state.c_str(), absolute) == nullptr && ::mkdir(state.c_str(), 0700) == 0)
    (void)::realpath(state.c_str(), absolute);
  if (::realpath(state.c_str(), absolute) == nullptr) {
    log::error("state directory {}: {}", state, strerror(errno));
    return 1;
  }
  state = absolute;
  auto path_policy = daemon::PathPolicy::for_state(allowed_paths, state);
  if (!path_policy) {
    log::error("{}", path_policy.error().message());
    return 2;
  }
  log::info("API requests may name files under: {}", fmt::join(path_policy->roots(), ", "));
  auto state_lock = daemon::claim_instance_lock(state + "/havend.lock", "state directory " + state);
  if (!state_lock) {
    log::error("{}", state_lock.error().message());
    return 1;
  }
  // After the lock: two havends starting on one state directory never both make a pair.
  if (tcp && !plain_http) {
    auto identity = tls_cert.empty() ? daemon::self_signed_tls_identity(state + "/tls", tcp->host)
                                     : daemon::load_tls_identity(tls_cert, tls_key);
    if (!identity) {
      log::error("{}", identity.error().message());
      return tls_cert.empty() ? 1 : 2;
    }
    // Logged now, while a terminal may still show it (before --daemon detaches).
    if (identity->made_now)
      log::info("made a self-signed TLS certificate for the TCP API: {} ({})",
                identity->certificate_path, identity->fingerprint);
    else
      log::info("TLS certificate of the TCP API: {} ({})", identity->certificate_path,
                identity->fingerprint);
    tcp->tls = *identity;
  }

  // SIGINT/SIGTERM are taken by a thread of their own (sigwait), so every thread blocks them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);  // a client that goes away mid-stream is an error, not death

  daemon::EventLog events;
  auto registry = daemon::VmRegistry::open(state + "/vms");
  if (!registry) {
    log::error("{}", registry.error().message());
    return 1;
  }
  auto supervisor =
      daemon::Supervisor::open({state, vmm_path, overcommit, !no_cgroups},
                               [&events](const std::string& name, const daemon::VmStatus& status) {
                                 events.append(name, daemon::vm_status_to_json(status));
                               });
  if (!supervisor) {
    log::error("{}", supervisor.error().message());
    return 1;
  }
  log::info("cgroups: {}", no_cgroups ? std::string("off") : (*supervisor)->cgroups().describe());
  // The socket too is claimed while errors still reach the terminal.
  auto socket_claim = daemon::claim_socket(socket);
  if (!socket_claim) {
    log::error("{}", socket_claim.error().message());
    return 1;
  }
  if (daemonize && ::daemon(0, 0) != 0) {
    log::error("daemon: {}", strerror(errno));
    return 1;
  }
  if (daemonize) {
    (void)daemon::record_instance_pid(state_lock->get(), state + "/havend.lock");
    (void)daemon::record_instance_pid(socket_claim->get(), socket + ".lock");
  }
  daemon::ApiServer api(**registry, **supervisor, events, std::move(*path_policy));
  if (auto audit = daemon::AuditLog::open(state + "/audit.log"))
    api.set_audit_log(std::move(*audit));
  else
    log::warn("{} (requests are not audited)", audit.error().message());
  std::jthread signal_waiter([&api, stop_signals] {
    int signo = 0;
    sigwait(&stop_signals, &signo);
    log::info("stopping on signal {} (guests keep running)", signo);
    api.stop();
  });
  auto served = api.serve(socket, tcp, std::move(*socket_claim));
  if (!served) {
    log::error("{}", served.error().message());
    ::kill(::getpid(), SIGTERM);  // releases the signal thread
    return 1;
  }
  ::unlink(socket.c_str());
  return 0;
}
