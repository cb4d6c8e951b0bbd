#include "firmware/daemon.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <vector>

#include <CLI/CLI.hpp>
#include "libproto/transport/asio.hpp"
#include <nlohmann/json.hpp>

#include "firmware/embedded_scenarios.hpp"
#include "firmware/log.hpp"
#include "firmware/meter.hpp"
#include "firmware/modbus_service.hpp"
#include "firmware/servers/modbus_rtu_server.hpp"
#include "firmware/native_service.hpp"
#include "firmware/password_worker.hpp"
#include "firmware/servers/modbus_tcp_server.hpp"
#include "firmware/servers/native_server.hpp"
#include "firmware/state_writer.hpp"
#include "libproto/transport/serial_port.hpp"
#include "libsec/device_certificate.hpp"
#include "libsec/private_file.hpp"
#include "libsec/session_store.hpp"
#include "libsec/tls_policy.hpp"

namespace meterd {

namespace asio = boost::asio;

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
};

std::string default_state_dir() {
  if (const char* state_home = std::getenv("XDG_STATE_HOME"); state_home && *state_home) {
    return std::string(state_home) + "/meterd";
  }
  if (const char* home = std::getenv("HOME"); home && *home) return std::string(home) + "/.local/state/meterd";
  return "meterd-state";
}

proto::Result<simulation::Scenario, std::string> load_scenario_named(const std::string& name_or_path) {
  for (const auto& file : embedded_scenarios::embedded_files()) {
    if (file.name.substr(0, file.name.rfind('.')) == name_or_path) {
      auto scenario = simulation::load_scenario(file.contents, "embedded:" + std::string(file.name));
      if (!scenario) return proto::unexpected(scenario.error().to_string());
      return std::move(*scenario);
    }
  }
  auto scenario = simulation::load_scenario_file(name_or_path);
  if (!scenario) {
    std::string names;
    for (const auto& file : embedded_scenarios::embedded_files()) {
      names += (names.empty() ? "" : ", ") + std::string(file.name.substr(0, file.name.rfind('.')));
    }
    return proto::unexpected(scenario.error().to_string() + " (built-in scenarios: " + names + ")");
  }
  return std::move(*scenario);
}

struct RunningMeter {
  std::unique_ptr<Meter> meter;
  std::unique_ptr<ModbusService> modbus;
  std::unique_ptr<ModbusTcpServer> modbus_tcp;
  std::unique_ptr<sec::SessionStore> sessions;
  std::unique_ptr<NativeService> native;
  std::unique_ptr<NativeServer> native_plain;
  std::unique_ptr<NativeServer> native_secure;
};

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

nlohmann::json ready_document(const std::vector<RunningMeter>& meters, const Options& options) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& running : meters) {
    nlohmann::json entry = {{"serial_number", running.meter->state().serial_number},
                            {"modbus", running.modbus_tcp->port()},
                            {"unit_id", running.meter->modbus_unit_id()},
                            {"state_dir", running.meter->state_dir().string()}};
    if (running.native_plain) entry["native"] = running.native_plain->port();
    if (running.native_secure) entry["secure"] = running.native_secure->port();
    list.push_back(entry);
  }
  nlohmann::json document = {{"pid", ::getpid()}, {"modbus", meters.front().modbus_tcp->port()}, {"meters", list}};
  if (meters.front().native_plain) document["native"] = meters.front().native_plain->port();
  if (meters.front().native_secure) document["secure"] = meters.front().native_secure->port();
  if (!options.serial.empty()) document["serial"] = options.serial;
  if (!options.native_serial.empty()) document["native_serial"] = options.native_serial;
  return document;
}

void schedule(asio::steady_timer& timer, std::chrono::milliseconds period, std::function<void()> work) {
  timer.expires_after(period);
  timer.async_wait([&timer, period, work = std::move(work)](const boost::system::error_code& error) {
    if (error) return;
    work();
    schedule(timer, period, work);
  });
}

// Opens each meter's TLS port with its own device certificate (created on first start).
int start_secure_ports(asio::io_context& io, const Options& options, std::vector<RunningMeter>& meters,
                       PasswordWorker& worker) {
  auto acceptors = listen_consecutive(io, options.bind, static_cast<std::uint16_t>(options.secure_port), options.fleet);
  if (!acceptors) {
    log::error("native.listen_failed", {{"error", acceptors.error()}, {"tls", "yes"}});
    return exit_unavailable;
  }
  for (std::size_t i = 0; i < meters.size(); ++i) {
    auto& running = meters[i];
    const auto& serial = running.meter->state().serial_number;
    auto certificate = sec::ensure_device_certificate(running.meter->state_dir(), serial);
    if (!certificate) {
      log::error("native.certificate_failed", {{"serial", serial}, {"error", certificate.error()}});
      return exit_config;
    }
    auto context = sec::make_server_tls_context(certificate->certificate, certificate->key);
    if (!context) {
      log::error("native.tls_failed", {{"serial", serial}, {"error", context.error()}});
      return exit_config;
    }
    running.native_secure =
        std::make_unique<NativeServer>(std::move((*acceptors)[i]), *running.native, worker, std::move(*context));
    running.native_secure->start();
    log::info("native.listening", {{"serial", serial},
                                   {"address", options.bind},
                                   {"port", std::to_string(running.native_secure->port())},
                                   {"tls", "yes"},
                                   {"fingerprint", certificate->fingerprint}});
  }
  return exit_ok;
}

void save_all(std::vector<RunningMeter>& meters) {
  for (auto& running : meters) {
    if (auto saved = running.meter->save(); !saved) {
      log::error("meter.save_failed", {{"serial", running.meter->state().serial_number}, {"reason", saved.error()}});
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

  asio::io_context io(1);
  // After io and before the meters: joined before io goes, after the servers using it.
  PasswordWorker worker;
  std::vector<RunningMeter> meters;
  for (int index = 0; index < options.fleet; ++index) {
    MeterSetup setup{.state_dir = options.state_dir,
                     .model = *model,
                     .feature_set = std::nullopt,
                     .firmware = firmware,
                     .scenario = *scenario,
                     .seed = options.seed + static_cast<std::uint64_t>(index),
                     .modbus_access = sec::parse_modbus_access(options.modbus_access),
                     .modbus_unit_id = std::nullopt,
                     .password_hashing = std::nullopt};
    if (options.password_hashing == "fleet") setup.password_hashing = sec::PasswordHashing{sec::k_fleet_scrypt, true};
    if (options.password_hashing == "owasp") setup.password_hashing = sec::PasswordHashing{sec::k_default_scrypt, false};
    if (options.fleet > 1) {
      char name[32];
      std::snprintf(name, sizeof name, "meter-%03d", index + 1);
      setup.state_dir /= name;
    }
    if (!options.feature_set.empty()) setup.feature_set = options.feature_set;
    if (options.unit_id != 0) setup.modbus_unit_id = static_cast<std::uint8_t>(options.unit_id);
    auto meter = Meter::open(std::move(setup));
    if (!meter) {
      log::error("meter.open_failed", {{"error", meter.error()}});
      return exit_config;
    }
    RunningMeter running;
    running.meter = std::move(*meter);
    running.modbus = std::make_unique<ModbusService>(*running.meter);
    meters.push_back(std::move(running));
  }

  auto acceptors = listen_consecutive(io, options.bind, static_cast<std::uint16_t>(options.modbus_port), options.fleet);
  if (!acceptors) {
    log::error("modbus.listen_failed", {{"error", acceptors.error()}});
    return exit_unavailable;
  }
  for (std::size_t i = 0; i < meters.size(); ++i) {
    auto& running = meters[i];
    running.modbus_tcp = std::make_unique<ModbusTcpServer>(std::move((*acceptors)[i]), *running.modbus,
                                                           running.meter->modbus_unit_id());
    running.modbus_tcp->start();
    log::info("modbus.listening", {{"serial", running.meter->state().serial_number},
                                   {"address", options.bind},
                                   {"port", std::to_string(running.modbus_tcp->port())},
                                   {"access", std::string(sec::to_string(running.meter->modbus_access()))}});
  }

  for (auto& running : meters) {
    if (options.session_idle_timeout != 0 &&
        running.meter->security().session_timeout.count() != options.session_idle_timeout) {
      auto config = running.meter->security();
      config.session_timeout = std::chrono::seconds(options.session_idle_timeout);
      if (auto saved = running.meter->replace_security(std::move(config)); !saved) {
        log::error("config.session_timeout_invalid", {{"error", saved.error()}});
        return exit_config;
      }
    }
    running.sessions = std::make_unique<sec::SessionStore>(session_clock(), running.meter->security().session_timeout,
                                                           static_cast<std::size_t>(options.max_sessions));
    running.native =
        std::make_unique<NativeService>(*running.meter, *running.sessions, session_clock(), !options.no_native);
  }
  if (!options.no_native) {
    auto native_acceptors =
        listen_consecutive(io, options.bind, static_cast<std::uint16_t>(options.native_port), options.fleet);
    if (!native_acceptors) {
      log::error("native.listen_failed", {{"error", native_acceptors.error()}});
      return exit_unavailable;
    }
    for (std::size_t i = 0; i < meters.size(); ++i) {
      auto& running = meters[i];
      running.native_plain = std::make_unique<NativeServer>(std::move((*native_acceptors)[i]), *running.native, worker, nullptr);
      running.native_plain->start();
      log::info("native.listening", {{"serial", running.meter->state().serial_number},
                                     {"address", options.bind},
                                     {"port", std::to_string(running.native_plain->port())},
                                     {"tls", "no"}});
    }
  }
  if (!options.no_secure) {
    if (auto started = start_secure_ports(io, options, meters, worker); started != exit_ok) return started;
  }

  std::unique_ptr<ModbusRtuServer> rtu;
  if (!options.serial.empty()) {
    proto::transport::SerialSettings serial{options.serial, options.baud, options.parity.front(), options.stop_bits};
    auto opened = ModbusRtuServer::open(io, serial, *meters.front().modbus, meters.front().meter->modbus_unit_id());
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
    auto opened = NativeSerialServer::open(io, serial, *meters.front().native, worker);
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
    for (auto& running : meters) running.meter->tick();
  });
  schedule(save_timer, std::chrono::duration_cast<std::chrono::milliseconds>(k_save_period), [&] {
    for (auto& running : meters) running.meter->save_in_background();
  });

  asio::signal_set signals(io, SIGTERM, SIGINT);
  signals.async_wait([&](const boost::system::error_code& error, int signal_number) {
    if (error) return;
    log::info("meterd.stopping", {{"signal", signal_number == SIGTERM ? "SIGTERM" : "SIGINT"}});
    tick_timer.cancel();
    save_timer.cancel();
    for (auto& running : meters) {
      running.modbus_tcp->stop();
      if (running.native_plain) running.native_plain->stop();
      if (running.native_secure) running.native_secure->stop();
    }
    state_writer().flush();
    save_all(meters);
    io.stop();
  });

  if (!options.ready_file.empty()) {
    if (auto written = sec::write_file_atomically(options.ready_file, ready_document(meters, options).dump() + "\n", 0644);
        !written) {
      log::error("meterd.ready_file_failed", {{"error", written.error()}});
      return exit_io;
    }
  }
  log::info("meterd.ready", {{"meters", std::to_string(meters.size())}, {"pid", std::to_string(::getpid())}});
  io.run();
  if (rtu) rtu->stop();
  // A ready file outliving its meterd would announce a port nobody serves.
  if (!options.ready_file.empty()) {
    std::error_code ignored;
    std::filesystem::remove(options.ready_file, ignored);
  }
  log::info("meterd.stopped");
  return exit_ok;
}

}  // namespace

int run(int argc, char** argv) {
  Options options;
  options.state_dir = default_state_dir();
  CLI::App app{"meterd: a virtual electricity meter (or a fleet of them) serving Modbus TCP and RTU.\n"
               "With no options it runs an ION7400 (Advanced, firmware 4.6.0) on its built-in\n"
               "steady-state scenario, Modbus TCP on 127.0.0.1:5020. See meterd(8).",
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
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    const int code = app.exit(error);
    return code == 0 ? exit_ok : exit_usage;
  }
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
