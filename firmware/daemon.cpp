#include "firmware/daemon.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>
#include "libproto/transport/asio.hpp"
#include <nlohmann/json.hpp>

#include "firmware/boot_environment.hpp"
#include "firmware/config_operations.hpp"
#include "firmware/config_runtime.hpp"
#include "firmware/embedded_scenarios.hpp"
#include "firmware/log.hpp"
#include "firmware/meter.hpp"
#include "firmware/modbus_service.hpp"
#include "firmware/servers/modbus_rtu_server.hpp"
#include "firmware/native_service.hpp"
#include "firmware/password_worker.hpp"
#include "firmware/scenario_catalog.hpp"
#include "firmware/servers/modbus_tcp_server.hpp"
#include "firmware/servers/native_server.hpp"
#include "firmware/state_writer.hpp"
#include "firmware/supervisor.hpp"
#include "firmware/trusted_key_install.hpp"
#include "libproto/transport/serial_port.hpp"
#include "libsec/device_certificate.hpp"
#include "libsec/private_file.hpp"
#include "libsec/session_store.hpp"
#include "libsec/tls_policy.hpp"

namespace meterd {

namespace asio = boost::asio;

static_assert(exit_reboot == k_exit_reboot, "meterd(8) documents the reboot status as daemon.hpp's");

namespace {

// Fleet size is bounded by descriptors and memory, not by any vendor rule.
constexpr int k_max_fleet = 1000;
constexpr std::uint16_t k_default_modbus_port = 5020;
// The vendor's ION protocol listens on TCP 7700; the TLS port follows the 7443.
constexpr std::uint16_t k_default_native_port = 7700;
constexpr std::uint16_t k_default_secure_port = 7443;
// How often measurements are refreshed, and how often energy registers reach the disk.
constexpr auto k_tick_period = std::chrono::milliseconds(100);
constexpr auto k_save_period = std::chrono::seconds(5);
// Attempts at finding N consecutive free ports when the first is chosen by the kernel.
constexpr int k_port_search_attempts = 50;
// A firmware booted again by its supervisor may find the one before it still exiting
// (killed with a supervisor that was killed): it waits this long for the state directory.
constexpr auto k_supervised_state_lock_wait = std::chrono::seconds(5);
// reboot_after_reply(): the reply is handed to the socket before the handler returns;
// this lets its write (a few hundred bytes, TLS included) finish before the connections
// close. The listeners stop at once, so no new client arrives meanwhile.
constexpr auto k_reboot_reply_grace = std::chrono::milliseconds(50);

struct Options {
  std::string state_dir;
  std::string model = "ION7400";
  std::string feature_set;
  std::string firmware;
  std::string scenario = std::string(embedded_scenarios::k_default_scenario);
  std::uint64_t seed = 1;
  std::string bind = "127.0.0.1";
  int modbus_port = k_default_modbus_port;
  int native_port = k_default_native_port;
  int secure_port = k_default_secure_port;
  // Given on the command line (not left at the default): then the flag beats a port a
  // profile stored (flag > profile > default).
  bool modbus_port_given = false;
  bool native_port_given = false;
  bool secure_port_given = false;
  bool scenario_given = false;
  int session_idle_timeout = 0;  // 0: the meter's configured session timeout
  std::string password_hashing;
  int max_sessions = static_cast<int>(sec::k_default_max_sessions);
  bool no_native = false;
  bool no_secure = false;
  std::string modbus_access;
  int unit_id = 0;
  std::string serial;
  std::string native_serial;
  int baud = 19200;
  std::string parity = "E";
  int stop_bits = 1;
  std::string ready_file;
  int fleet = 1;
  std::string log_level = "info";
  bool list_models = false;
  bool no_supervisor = false;
  std::vector<std::string> trusted_keys;  // public key files for <state>/trusted-keys
};

std::string default_state_dir() {
  if (const char* state_home = std::getenv("XDG_STATE_HOME"); state_home && *state_home) {
    return std::string(state_home) + "/meterd";
  }
  if (const char* home = std::getenv("HOME"); home && *home) return std::string(home) + "/.local/state/meterd";
  return "meterd-state";
}

const sec::SteadyClock& session_clock() {
  static const sec::SteadyClock clock;
  return clock;
}

// Binds `count` listeners on consecutive ports from `first` (0: from a free port the
// kernel picks, retrying when a neighbour is taken).
proto::Result<std::vector<asio::ip::tcp::acceptor>, std::string> listen_consecutive(asio::io_context& io,
                                                                                    const std::string& address,
                                                                                    std::uint16_t first, int count) {
  const int attempts = first == 0 ? k_port_search_attempts : 1;
  std::string last_error;
  for (int attempt = 0; attempt < attempts; ++attempt) {
    std::vector<asio::ip::tcp::acceptor> acceptors;
    auto head = listen_tcp(io, address, first);
    if (!head) return proto::unexpected(head.error());
    const auto base = head->local_endpoint().port();
    acceptors.push_back(std::move(*head));
    for (int i = 1; i < count; ++i) {
      if (base + i > 65535) {
        last_error = "not enough ports above " + std::to_string(base);
        break;
      }
      auto next = listen_tcp(io, address, static_cast<std::uint16_t>(base + i));
      if (!next) {
        last_error = next.error();
        break;
      }
      acceptors.push_back(std::move(*next));
    }
    if (static_cast<int>(acceptors.size()) == count) return acceptors;
  }
  return proto::unexpected(last_error);
}

const char* service_name(Listener which) {
  switch (which) {
    case Listener::modbus_tcp: return "modbus";
    case Listener::native: return "native";
    case Listener::secure_native: return "secure";
  }
  return "?";
}

class MeterRuntime;

// Everything the meters of this process share.
struct Fleet {
  const Options& options;
  asio::io_context& io;
  PasswordWorker& worker;
  std::vector<std::unique_ptr<MeterRuntime>> meters;
  // The ready file's "pid": the process to signal to stop the meter (the supervisor, when
  // there is one).
  pid_t service_pid = 0;

  void write_ready_file() const;
};

// One meter with its services and listeners; the ConfigRuntime its native service uses
// to move listeners (config_runtime.hpp) and to time a commit-confirm.
class MeterRuntime final : public ConfigRuntime {
 public:
  MeterRuntime(Fleet& fleet, std::size_t index, std::unique_ptr<Meter> opened)
      : fleet_(fleet), index_(index), meter(std::move(opened)), modbus(*meter), confirm_timer_(fleet.io) {}
  ~MeterRuntime() override { confirm_timer_.cancel(); }

  ListenerPorts listening() const override {
    ListenerPorts ports;
    if (modbus_tcp) ports.modbus_tcp = modbus_tcp->port();
    if (native_plain) ports.native = native_plain->port();
    if (native_secure) ports.secure_native = native_secure->port();
    return ports;
  }

  std::uint16_t fallback_port(Listener which) const override {
    const int base = which == Listener::modbus_tcp ? fleet_.options.modbus_port
                     : which == Listener::native   ? fleet_.options.native_port
                                                   : fleet_.options.secure_port;
    if (base == 0) return 0;
    return static_cast<std::uint16_t>(std::min(65535, base + static_cast<int>(index_)));
  }

  // --no-native and --no-secure win over any profile; and a firmware without Secure ION
  // (before ION7400 4.0.0, seed 000) has no TLS port to open.
  bool kept_closed(Listener which) const override {
    return (which == Listener::native && fleet_.options.no_native) ||
           (which == Listener::secure_native &&
            (fleet_.options.no_secure || !meter->capabilities().has(proto::model::Feature::secure_native)));
  }

  std::vector<std::uint16_t> ports_of_other_meters() const override {
    std::vector<std::uint16_t> ports;
    for (const auto& other : fleet_.meters) {
      if (other.get() == this) continue;
      const auto theirs = other->listening();
      for (const auto which : k_listeners) {
        if (theirs[which]) ports.push_back(*theirs[which]);
      }
    }
    return ports;
  }

  proto::Result<proto::Ok, std::string> prepare(const ListenerPorts& wanted) override {
    abandon();
    const auto now = listening();
    for (const auto which : k_listeners) {
      if (!wanted[which]) continue;
      // Port 0 (kernel's choice) is satisfied by whatever port runs already.
      if (now[which] && (*wanted[which] == 0 || *wanted[which] == *now[which])) continue;
      if (which == Listener::secure_native) {
        if (auto context = tls_context(); !context) {
          abandon();
          return proto::unexpected(context.error());
        }
      }
      auto acceptor = listen_tcp(fleet_.io, fleet_.options.bind, *wanted[which]);
      if (!acceptor) {
        abandon();
        if (acceptor.error().find("in use") != std::string::npos) {
          return proto::unexpected("port " + std::to_string(*wanted[which]) + " is in use (" + acceptor.error() + ")");
        }
        return proto::unexpected(acceptor.error());
      }
      prepared_[static_cast<std::size_t>(which)] = std::move(*acceptor);
    }
    prepared_wanted_ = wanted;
    return proto::Ok{};
  }

  void commit() override {
    if (!prepared_wanted_) return;
    const auto wanted = *prepared_wanted_;
    prepared_wanted_.reset();
    std::vector<std::unique_ptr<ModbusTcpServer>> old_modbus;
    std::vector<std::unique_ptr<NativeServer>> old_native;
    for (const auto which : k_listeners) {
      auto& prepared = prepared_[static_cast<std::size_t>(which)];
      const bool replace = prepared.has_value();
      const bool close = !wanted[which];
      if (!replace && !close) continue;
      if (which == Listener::modbus_tcp) {
        if (modbus_tcp) old_modbus.push_back(std::move(modbus_tcp));
        if (replace) start_modbus(std::move(*prepared));
      } else {
        auto& server = which == Listener::native ? native_plain : native_secure;
        if (server) old_native.push_back(std::move(server));
        if (replace) start_native(which, std::move(*prepared));
      }
      prepared.reset();
    }
    if (old_modbus.empty() && old_native.empty()) {
      fleet_.write_ready_file();
      return;
    }
    // After the reply to the request that asked for this is queued: the listeners stop
    // accepting, and the connections they accepted (that one included) carry on.
    auto retire = std::make_shared<std::pair<decltype(old_modbus), decltype(old_native)>>(std::move(old_modbus),
                                                                                          std::move(old_native));
    asio::post(fleet_.io, [this, retire] {
      for (auto& server : retire->first) {
        log::info("modbus.closed", {{"serial", meter->state().serial_number}, {"port", std::to_string(server->port())}});
        server->stop_listening();
        retired_modbus_.push_back(std::move(server));
      }
      for (auto& server : retire->second) {
        log::info("native.closed", {{"serial", meter->state().serial_number},
                                    {"port", std::to_string(server->port())},
                                    {"tls", server->secure() ? "yes" : "no"}});
        server->stop_listening();
        retired_native_.push_back(std::move(server));
      }
      fleet_.write_ready_file();
    });
  }

  void abandon() override {
    for (auto& prepared : prepared_) prepared.reset();
    prepared_wanted_.reset();
  }

  void arm_confirm_timer(std::int64_t unix_deadline) override {
    const double wait = std::max(0.0, static_cast<double>(unix_deadline) - MeterClock::wall_now());
    confirm_timer_.expires_after(std::chrono::milliseconds(static_cast<std::int64_t>(wait * 1000.0)));
    confirm_timer_.async_wait([this](const boost::system::error_code& error) {
      if (!error) expire_pending_confirm(*native);
    });
  }

  void cancel_confirm_timer() override { confirm_timer_.cancel(); }

  // Starts a server on a bound acceptor (meterd start and commit()).
  void start_modbus(asio::ip::tcp::acceptor acceptor) {
    modbus_tcp = std::make_unique<ModbusTcpServer>(std::move(acceptor), modbus);
    modbus_tcp->start();
    log::info("modbus.listening", {{"serial", meter->state().serial_number},
                                   {"address", fleet_.options.bind},
                                   {"port", std::to_string(modbus_tcp->port())},
                                   {"access", std::string(sec::to_string(meter->modbus_access()))}});
  }

  void start_native(Listener which, asio::ip::tcp::acceptor acceptor) {
    if (which == Listener::native) {
      native_plain = std::make_unique<NativeServer>(std::move(acceptor), *native, fleet_.worker, nullptr);
      native_plain->start();
      log::info("native.listening", {{"serial", meter->state().serial_number},
                                     {"address", fleet_.options.bind},
                                     {"port", std::to_string(native_plain->port())},
                                     {"tls", "no"}});
      return;
    }
    native_secure = std::make_unique<NativeServer>(std::move(acceptor), *native, fleet_.worker, tls_);
    native_secure->start();
    log::info("native.listening", {{"serial", meter->state().serial_number},
                                   {"address", fleet_.options.bind},
                                   {"port", std::to_string(native_secure->port())},
                                   {"tls", "yes"},
                                   {"fingerprint", fingerprint_}});
  }

  // The meter's TLS context with its own device certificate (created on first use).
  proto::Result<std::shared_ptr<asio::ssl::context>, std::string> tls_context() {
    if (tls_) return tls_;
    const auto& serial = meter->state().serial_number;
    auto certificate = sec::ensure_device_certificate(meter->state_dir(), serial);
    if (!certificate) return proto::unexpected("device certificate: " + certificate.error());
    auto context = sec::make_server_tls_context(certificate->certificate, certificate->key);
    if (!context) return proto::unexpected("TLS: " + context.error());
    tls_ = std::move(*context);
    fingerprint_ = certificate->fingerprint;
    return tls_;
  }

  // The first step of a reboot: no new clients while the last reply goes out.
  void stop_listening() {
    if (modbus_tcp) modbus_tcp->stop_listening();
    if (native_plain) native_plain->stop_listening();
    if (native_secure) native_secure->stop_listening();
  }

  void stop_all() {
    confirm_timer_.cancel();
    if (modbus_tcp) modbus_tcp->stop();
    if (native_plain) native_plain->stop();
    if (native_secure) native_secure->stop();
    for (auto& server : retired_modbus_) server->stop();
    for (auto& server : retired_native_) server->stop();
  }

 private:
  Fleet& fleet_;
  std::size_t index_;

 public:
  // Declared before the servers, which use them, so they are destroyed after.
  std::unique_ptr<Meter> meter;
  ModbusService modbus;
  std::unique_ptr<sec::SessionStore> sessions;
  std::unique_ptr<NativeService> native;
  std::unique_ptr<ModbusTcpServer> modbus_tcp;
  std::unique_ptr<NativeServer> native_plain;
  std::unique_ptr<NativeServer> native_secure;

 private:
  std::shared_ptr<asio::ssl::context> tls_;
  std::string fingerprint_;
  std::array<std::optional<asio::ip::tcp::acceptor>, 3> prepared_;
  std::optional<ListenerPorts> prepared_wanted_;
  // Listeners closed by a configuration change, kept until meterd stops: their
  // connections still run and end with stop_all().
  std::vector<std::unique_ptr<ModbusTcpServer>> retired_modbus_;
  std::vector<std::unique_ptr<NativeServer>> retired_native_;
  asio::steady_timer confirm_timer_;
};

nlohmann::json ready_document(const Fleet& fleet) {
  const auto& options = fleet.options;
  nlohmann::json list = nlohmann::json::array();
  for (const auto& running : fleet.meters) {
    nlohmann::json entry = {{"serial_number", running->meter->state().serial_number},
                            {"unit_id", running->meter->modbus_unit_id()},
                            {"state_dir", running->meter->state_dir().string()}};
    const auto ports = running->listening();
    for (const auto which : k_listeners) {
      if (ports[which]) entry[service_name(which)] = *ports[which];
    }
    list.push_back(entry);
  }
  nlohmann::json document = {{"pid", fleet.service_pid}, {"firmware_pid", ::getpid()}, {"meters", list}};
  const auto first = fleet.meters.front()->listening();
  for (const auto which : k_listeners) {
    if (first[which]) document[service_name(which)] = *first[which];
  }
  if (!options.serial.empty()) document["serial"] = options.serial;
  if (!options.native_serial.empty()) document["native_serial"] = options.native_serial;
  return document;
}

void Fleet::write_ready_file() const {
  if (options.ready_file.empty()) return;
  if (auto written = sec::write_file_atomically(options.ready_file, ready_document(*this).dump() + "\n", 0644);
      !written) {
    log::error("meterd.ready_file_failed", {{"error", written.error()}});
  }
}

void schedule(asio::steady_timer& timer, std::chrono::milliseconds period, std::function<void()> work) {
  timer.expires_after(period);
  timer.async_wait([&timer, period, work = std::move(work)](const boost::system::error_code& error) {
    if (error) return;
    work();
    schedule(timer, period, work);
  });
}

// Opens one service's listeners for the whole fleet at start. A meter whose configuration
// names a port gets it (unless the port was given on the command line); the others take
// consecutive ports from the command line's (or the default) port, meter i at base + i,
// as before profiles existed.
int open_listeners(Fleet& fleet, Listener which) {
  const auto& options = fleet.options;
  const int base = which == Listener::modbus_tcp ? options.modbus_port
                   : which == Listener::native   ? options.native_port
                                                 : options.secure_port;
  const auto count = fleet.meters.size();
  std::vector<std::optional<std::uint16_t>> chosen(count);  // a stored port, or nullopt: base + i
  std::vector<bool> wanted(count, false);
  bool any_from_base = false;
  for (std::size_t i = 0; i < count; ++i) {
    auto& running = *fleet.meters[i];
    const auto& communications = running.meter->state().communications;
    const auto& service = which == Listener::modbus_tcp ? communications.modbus_tcp
                          : which == Listener::native   ? communications.native
                                                        : communications.secure_native;
    if (!service.enabled || running.kept_closed(which)) continue;
    wanted[i] = true;
    // A port given on the command line has already replaced a stored one (Meter::open).
    if (service.port) {
      chosen[i] = service.port;
    } else {
      any_from_base = true;
    }
  }
  std::vector<std::optional<asio::ip::tcp::acceptor>> acceptors(count);
  if (any_from_base) {
    if (base == 0) {
      // The kernel picks the first; the group stays consecutive so a fleet is predictable.
      auto group = listen_consecutive(fleet.io, options.bind, 0, static_cast<int>(count));
      if (!group) {
        log::error(which == Listener::modbus_tcp ? "modbus.listen_failed" : "native.listen_failed",
                   {{"error", group.error()}, {"service", service_name(which)}});
        return exit_unavailable;
      }
      for (std::size_t i = 0; i < count; ++i) {
        if (wanted[i] && !chosen[i]) acceptors[i] = std::move((*group)[i]);
      }
    } else {
      for (std::size_t i = 0; i < count; ++i) {
        if (!wanted[i] || chosen[i]) continue;
        if (base + static_cast<int>(i) > 65535) {
          log::error("meterd.listen_failed", {{"error", "not enough ports above " + std::to_string(base)}});
          return exit_unavailable;
        }
        auto acceptor = listen_tcp(fleet.io, options.bind, static_cast<std::uint16_t>(base + static_cast<int>(i)));
        if (!acceptor) {
          log::error(which == Listener::modbus_tcp ? "modbus.listen_failed" : "native.listen_failed",
                     {{"error", acceptor.error()}, {"service", service_name(which)}});
          return exit_unavailable;
        }
        acceptors[i] = std::move(*acceptor);
      }
    }
  }
  for (std::size_t i = 0; i < count; ++i) {
    if (!chosen[i]) continue;
    auto acceptor = listen_tcp(fleet.io, options.bind, *chosen[i]);
    if (!acceptor) {
      log::error(which == Listener::modbus_tcp ? "modbus.listen_failed" : "native.listen_failed",
                 {{"error", acceptor.error()},
                  {"service", service_name(which)},
                  {"serial", fleet.meters[i]->meter->state().serial_number},
                  {"configured", "yes"}});
      return exit_unavailable;
    }
    acceptors[i] = std::move(*acceptor);
  }
  for (std::size_t i = 0; i < count; ++i) {
    if (!acceptors[i]) continue;
    auto& running = *fleet.meters[i];
    if (which == Listener::modbus_tcp) {
      running.start_modbus(std::move(*acceptors[i]));
      continue;
    }
    if (which == Listener::secure_native) {
      if (auto context = running.tls_context(); !context) {
        log::error("native.tls_failed", {{"serial", running.meter->state().serial_number}, {"error", context.error()}});
        return exit_config;
      }
    }
    running.start_native(which, std::move(*acceptors[i]));
  }
  return exit_ok;
}

void save_all(Fleet& fleet) {
  for (auto& running : fleet.meters) {
    if (auto saved = running->meter->save(); !saved) {
      log::error("meter.save_failed", {{"serial", running->meter->state().serial_number}, {"reason", saved.error()}});
    }
  }
}

// Every client connection is a descriptor; a fleet serving many clients needs more than
// the usual soft limit of 1024, and the hard limit is ours to take.
void raise_descriptor_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
  }
}

int serve(const Options& options) {
  auto model = proto::model::find_device_model(options.model);
  if (!model) {
    log::error("config.model_invalid", {{"error", model.error().to_string()}});
    return exit_config;
  }
  auto scenario = load_scenario_named(options.scenario);
  if (!scenario) {
    log::error("config.scenario_invalid", {{"error", scenario.error()}});
    return exit_config;
  }
  std::optional<proto::model::Version> firmware;
  if (!options.firmware.empty()) {
    firmware = proto::model::Version::parse(options.firmware);
    if (!firmware) {
      log::error("config.firmware_invalid", {{"error", "--firmware '" + options.firmware + "' is not X.Y.Z"}});
      return exit_usage;
    }
  }

  // A fleet never runs under the supervisor; whatever its environment says.
  std::string boot_problem;
  auto boot = options.fleet > 1 ? std::optional<FirmwareBootControl>(std::in_place)
                                : FirmwareBootControl::from_environment(boot_problem);
  if (!boot) {
    log::error("meterd.boot_environment_invalid", {{"error", boot_problem}});
    return exit_usage;
  }

  asio::io_context io(1);
  // After io and before the meters: joined before io goes, after the servers using it.
  PasswordWorker worker;
  Fleet fleet{options, io, worker, {}, boot->service_pid()};
  for (int index = 0; index < options.fleet; ++index) {
    MeterSetup setup{.state_dir = options.state_dir,
                     .model = *model,
                     .feature_set = std::nullopt,
                     .firmware = firmware,
                     .scenario = *scenario,
                     .seed = options.seed + static_cast<std::uint64_t>(index),
                     .modbus_access = sec::parse_modbus_access(options.modbus_access),
                     .modbus_unit_id = std::nullopt,
                     .password_hashing = std::nullopt,
                     .scenario_from_command_line = options.scenario_given,
                     .modbus_port_from_command_line = options.modbus_port_given,
                     .native_port_from_command_line = options.native_port_given,
                     .secure_port_from_command_line = options.secure_port_given,
                     .state_lock_wait = boot->supervised() ? std::chrono::milliseconds(k_supervised_state_lock_wait)
                                                           : std::chrono::milliseconds(0)};
    if (options.password_hashing == "fleet") setup.password_hashing = sec::PasswordHashing{sec::k_fleet_scrypt, true};
    if (options.password_hashing == "owasp") setup.password_hashing = sec::PasswordHashing{sec::k_default_scrypt, false};
    if (options.fleet > 1) {
      char name[32];
      std::snprintf(name, sizeof name, "meter-%03d", index + 1);
      setup.state_dir /= name;
    }
    if (!options.feature_set.empty()) setup.feature_set = options.feature_set;
    if (options.unit_id != 0) setup.modbus_unit_id = static_cast<std::uint8_t>(options.unit_id);
    // Opening also rolls back a configuration whose confirm deadline passed while meterd
    // was stopped, so the ports below are those of the configuration that stands.
    auto meter = Meter::open(std::move(setup));
    if (!meter) {
      log::error("meter.open_failed", {{"error", meter.error()}});
      return exit_config;
    }
    auto trusted = install_trusted_keys((*meter)->state_dir(), options.trusted_keys);
    if (!trusted) {
      log::error("meter.trusted_key_invalid", {{"error", trusted.error()}});
      return exit_config;
    }
    for (const auto& id : *trusted) {
      log::info("meter.trusted_key_added", {{"serial", (*meter)->state().serial_number}, {"key_id", id}});
    }
    fleet.meters.push_back(std::make_unique<MeterRuntime>(fleet, static_cast<std::size_t>(index), std::move(*meter)));
  }

  for (auto& running : fleet.meters) {
    if (options.session_idle_timeout != 0 &&
        running->meter->security().session_timeout.count() != options.session_idle_timeout) {
      auto config = running->meter->security();
      config.session_timeout = std::chrono::seconds(options.session_idle_timeout);
      if (auto saved = running->meter->replace_security(std::move(config)); !saved) {
        log::error("config.session_timeout_invalid", {{"error", saved.error()}});
        return exit_config;
      }
    }
    running->sessions = std::make_unique<sec::SessionStore>(session_clock(), running->meter->security().session_timeout,
                                                            static_cast<std::size_t>(options.max_sessions));
    running->native =
        std::make_unique<NativeService>(*running->meter, *running->sessions, session_clock(), !options.no_native);
    running->native->set_config_runtime(running.get());
    running->native->set_boot_control(&*boot);
  }
  for (const auto which : k_listeners) {
    if (auto opened = open_listeners(fleet, which); opened != exit_ok) return opened;
  }
  for (auto& running : fleet.meters) {
    const auto ports = running->listening();
    if (!ports.native && !ports.secure_native && options.native_serial.empty()) {
      log::warning("native.no_port", {{"serial", running->meter->state().serial_number},
                                      {"detail", "no native management port is open: this meter cannot be managed"}});
    }
    if (const auto& pending = running->meter->pending_confirm()) {
      log::info("config.confirm_pending", {{"serial", running->meter->state().serial_number},
                                           {"version", std::to_string(running->meter->config_version())},
                                           {"deadline", std::to_string(pending->deadline)}});
      running->arm_confirm_timer(pending->deadline);
    }
  }

  std::unique_ptr<ModbusRtuServer> rtu;
  if (!options.serial.empty()) {
    proto::transport::SerialSettings serial{options.serial, options.baud, options.parity.front(), options.stop_bits};
    auto opened = ModbusRtuServer::open(io, serial, fleet.meters.front()->modbus, fleet.meters.front()->meter->modbus_unit_id());
    if (!opened) {
      log::error("modbus.serial_failed", {{"error", opened.error()}});
      return exit_unavailable;
    }
    rtu = std::move(*opened);
    rtu->start();
  }
  std::unique_ptr<NativeSerialServer> native_serial;
  if (!options.native_serial.empty()) {
    proto::transport::SerialSettings serial{options.native_serial, options.baud, options.parity.front(),
                                            options.stop_bits};
    auto opened = NativeSerialServer::open(io, serial, *fleet.meters.front()->native, worker);
    if (!opened) {
      log::error("native.serial_failed", {{"error", opened.error()}});
      return exit_unavailable;
    }
    native_serial = std::move(*opened);
    native_serial->start();
  }

  asio::steady_timer tick_timer(io);
  asio::steady_timer save_timer(io);
  schedule(tick_timer, k_tick_period, [&] {
    for (auto& running : fleet.meters) running->meter->tick();
  });
  schedule(save_timer, std::chrono::duration_cast<std::chrono::milliseconds>(k_save_period), [&] {
    for (auto& running : fleet.meters) running->meter->save_in_background();
  });

  bool stopped = false;
  const auto shut_down = [&] {
    if (std::exchange(stopped, true)) return;
    tick_timer.cancel();
    save_timer.cancel();
    for (auto& running : fleet.meters) running->stop_all();
    state_writer().flush();
    save_all(fleet);
    io.stop();
  };
  asio::signal_set signals(io, SIGTERM, SIGINT);
  signals.async_wait([&](const boost::system::error_code& error, int signal_number) {
    if (error) return;
    log::info("meterd.stopping", {{"signal", signal_number == SIGTERM ? "SIGTERM" : "SIGINT"}});
    shut_down();
  });
  // upgrade.activate: the supervisor boots the trial slot once this process exits.
  int exit_status = exit_ok;
  asio::steady_timer reboot_timer(io);
  boot->on_reboot([&] {
    asio::post(io, [&] {
      log::info("meterd.rebooting", {{"pid", std::to_string(::getpid())}});
      for (auto& running : fleet.meters) running->stop_listening();
      reboot_timer.expires_after(k_reboot_reply_grace);
      reboot_timer.async_wait([&](const boost::system::error_code& error) {
        if (error) return;
        exit_status = k_exit_reboot;
        shut_down();
      });
    });
  });

  if (!options.ready_file.empty()) {
    if (auto written = sec::write_file_atomically(options.ready_file, ready_document(fleet).dump() + "\n", 0644);
        !written) {
      log::error("meterd.ready_file_failed", {{"error", written.error()}});
      return exit_io;
    }
  }
  {
    const auto ports = fleet.meters.front()->listening();
    boot->report_healthy({ports.modbus_tcp, ports.native, ports.secure_native});
  }
  log::info("meterd.ready", {{"meters", std::to_string(fleet.meters.size())}, {"pid", std::to_string(::getpid())}});
  io.run();
  if (rtu) rtu->stop();
  // A ready file outliving its meterd would announce a port nobody serves.
  if (!options.ready_file.empty()) {
    std::error_code ignored;
    std::filesystem::remove(options.ready_file, ignored);
  }
  log::info("meterd.stopped", {{"exit_status", std::to_string(exit_status)}});
  return exit_status;
}

// A port left to the kernel (0) is chosen once per supervisor: a firmware it boots later
// (a new slot on trial, a restart) gets the first one's ports, so clients find the meter
// where it was. The flag still counts as given (flag > profile > default).
void keep_ports_of_first_boot(Options& options) {
  if (std::getenv(k_boot_slot_variable) == nullptr) return;
  const char* text = std::getenv(k_boot_ports_variable);
  if (text == nullptr) return;
  const auto ports = parse_boot_ports(text);
  if (!ports) {
    log::warning("meterd.boot_ports_invalid", {{"value", text}});
    return;
  }
  for (auto [option, port] : {std::pair{&options.modbus_port, (*ports)[0]}, std::pair{&options.native_port, (*ports)[1]},
                              std::pair{&options.secure_port, (*ports)[2]}}) {
    if (*option == 0 && port) *option = *port;
  }
}

}  // namespace

int run(int argc, char** argv) {
  Options options;
  options.state_dir = default_state_dir();
  CLI::App app{"meterd: a virtual electricity meter (or a fleet of them) serving Modbus TCP and RTU.\n"
               "With no options it runs an ION7400 (Advanced, firmware 4.6.0) on its built-in\n"
               "steady-state scenario, Modbus TCP on 127.0.0.1:5020. A single meter runs under its boot\n"
               "supervisor, which boots the firmware slot the meter's boot record names and falls back\n"
               "when a newly activated firmware does not report healthy. See meterd(8).",
               "meterd"};
  app.set_version_flag("--version", std::string("meterd ") + METERCTL_VERSION);
  app.add_option("--state-dir", options.state_dir, "Directory holding the meter's state (created if missing)")
      ->capture_default_str();
  app.add_option("--model", options.model, "Device model: a built-in model name or a model YAML file")
      ->capture_default_str();
  app.add_option("--feature-set", options.feature_set, "Feature set (ION7400: Essential, Standard, Advanced)");
  app.add_option("--firmware", options.firmware, "Firmware version X.Y.Z (default: the model's latest)");
  app.add_option("--scenario", options.scenario, "Simulation scenario: a built-in name or a scenario YAML file")
      ->capture_default_str();
  app.add_option("--seed", options.seed, "Seed of the simulation's noise (same seed, same values)")
      ->capture_default_str();
  app.add_option("--bind", options.bind, "Address to listen on")->capture_default_str();
  app.add_option("--modbus-port", options.modbus_port, "Modbus TCP port; 0 picks a free port")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  app.add_option("--native-port", options.native_port,
                 "Native management protocol port, plain TCP; 0 picks a free port")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  app.add_option("--secure-port", options.secure_port,
                 "Native management protocol port inside TLS (secure native); 0 picks a free port")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  app.add_option("--session-idle-timeout", options.session_idle_timeout,
                 "Seconds a native protocol session may stay unused before it ends; stored as the meter's "
                 "session timeout (default: the stored setting, 300 when new)")
      ->check(CLI::Range(30, 86400));
  app.add_option("--password-hashing", options.password_hashing,
                 "Password hashing cost: owasp (scrypt N=2^17 r=8 p=1) or fleet (N=2^12, for large virtual "
                 "fleets; stored, and reported by security audit) (default: the stored setting, owasp when new)")
      ->check(CLI::IsMember({"owasp", "fleet"}));
  app.add_option("--max-sessions", options.max_sessions,
                 "Most native protocol sessions (logins) a meter holds at once; further logins get busy")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  app.add_flag("--no-native", options.no_native, "Do not open the plain native port (TLS only)");
  app.add_flag("--no-secure", options.no_secure, "Do not open the TLS native port");
  app.add_option("--modbus-access", options.modbus_access,
                 "Modbus access: none, read-only or read-write (default: the stored setting, read-only when new)")
      ->check(CLI::IsMember({"none", "read-only", "read-write"}));
  app.add_option("--unit-id", options.unit_id, "Modbus unit id of the meter (default: stored setting, 1 when new)")
      ->check(CLI::Range(1, 247));
  app.add_option("--serial", options.serial, "Serial device or pty for Modbus RTU (serves the first meter)");
  app.add_option("--native-serial", options.native_serial,
                 "Serial device or pty for the native management protocol (serves the first meter; no TLS, "
                 "locked out separately from Ethernet)");
  app.add_option("--baud", options.baud, "Serial baud rate")
      ->check(CLI::IsMember(std::vector<int>(proto::transport::k_supported_baud_rates.begin(),
                                              proto::transport::k_supported_baud_rates.end())))
      ->capture_default_str();
  app.add_option("--parity", options.parity, "Serial parity: N, E or O")
      ->check(CLI::IsMember({"N", "E", "O"}))
      ->capture_default_str();
  app.add_option("--stop-bits", options.stop_bits, "Serial stop bits")->check(CLI::IsMember({1, 2}))->capture_default_str();
  app.add_option("--ready-file", options.ready_file,
                 "Write this JSON file once every server listens, e.g. {\"modbus\": 40123, ...}");
  app.add_option("--fleet", options.fleet, "Run N meters on consecutive ports, each with its own state")
      ->check(CLI::Range(1, k_max_fleet))
      ->capture_default_str();
  app.add_option("--log-level", options.log_level, "debug, info, warning or error")
      ->check(CLI::IsMember({"debug", "info", "warning", "error"}))
      ->capture_default_str();
  app.add_flag("--list-models", options.list_models, "Print the built-in device models and exit");
  app.add_flag("--no-supervisor", options.no_supervisor,
               "Run the firmware in this process, without the boot supervisor that boots firmware slots, "
               "checks a new firmware's health and falls back (implied by --fleet above 1)");
  app.add_option("--trusted-key", options.trusted_keys,
                 "Ed25519 public key (PEM) to accept firmware packages from; copied into the meter's "
                 "trusted-keys directory (each meter's, with --fleet). Repeatable")
      ->check(CLI::ExistingFile);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    const int code = app.exit(error);
    return code == 0 ? exit_ok : exit_usage;
  }
  options.modbus_port_given = app.count("--modbus-port") > 0;
  options.native_port_given = app.count("--native-port") > 0;
  options.secure_port_given = app.count("--secure-port") > 0;
  options.scenario_given = app.count("--scenario") > 0;
  if (options.list_models) {
    for (const auto& name : proto::model::embedded_model_names()) std::cout << name << '\n';
    return exit_ok;
  }
  const std::array<std::pair<std::string_view, log::Level>, 4> levels = {
      {{"debug", log::Level::debug}, {"info", log::Level::info}, {"warning", log::Level::warning},
       {"error", log::Level::error}}};
  for (const auto& [name, level] : levels) {
    if (name == options.log_level) log::set_minimum_level(level);
  }
  if (!options.no_supervisor && options.fleet == 1) {
    try {
      return run_supervisor({.state_dir = options.state_dir,
                             .ready_file = options.ready_file,
                             .arguments = std::vector<std::string>(argv + 1, argv + argc)});
    } catch (const std::exception& error) {
      log::error("supervisor.failed", {{"error", error.what()}});
      return exit_software;
    }
  }
  keep_ports_of_first_boot(options);
  std::signal(SIGPIPE, SIG_IGN);
  raise_descriptor_limit();
  try {
    return serve(options);
  } catch (const std::exception& error) {
    log::error("meterd.failed", {{"error", error.what()}});
    return exit_software;
  }
}

}  // namespace meterd
