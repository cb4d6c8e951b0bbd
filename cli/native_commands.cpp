#include "cli/native_commands.hpp"

#include <cmath>
#include <ctime>
#include <iostream>
#include <thread>

#include "cli/meter_config.hpp"
#include "cli/native_client.hpp"
#include "cli/password_source.hpp"

namespace cli {

namespace {

// The vendor's ION protocol port, and the TLS port meterd opens by default.
constexpr std::uint16_t k_native_port = 7700;
constexpr std::uint16_t k_secure_port = 7443;
// The factory account of Legacy security support (vendor's July 2020 what's new).
constexpr const char* k_factory_user = "User1";

struct NativeOptions {
  bool secure = false;
  bool plain = false;
  std::string user;
  PasswordOptions password;
  std::string ca_file;
  bool accept_new = false;

  std::vector<std::string> points;
  bool watch = false;
  double interval = 1.0;
  int samples = 0;
  std::string time_value;
  std::string mode;
};

template <typename T>
T unwrap(proto::Result<T, CommandError> result) {
  if (!result) throw result.error();
  return std::move(*result);
}

struct Session {
  std::unique_ptr<NativeClient> client;
  bool logged_in = false;
};

// Connects; logs in when the operation needs it or a user was given.
Session open_session(const Context& context, const NativeOptions& options, bool needs_login) {
  if (options.secure && options.plain) throw CommandError{exit_usage, "--secure and --plain exclude each other"};
  auto probe = unwrap(resolve_meter(context.global.meter, "secure", k_secure_port));
  const bool secure = options.secure || (!options.plain && probe.tls.value_or(true));
  auto endpoint = secure ? probe : unwrap(resolve_meter(context.global.meter, "native", k_native_port));
  NativeEndpoint target{endpoint.host, endpoint.port, secure, std::nullopt, options.accept_new};
  if (!options.ca_file.empty()) target.ca_file = options.ca_file;
  Session session;
  session.client = unwrap(NativeClient::connect(target, context.timeout()));
  const std::string user = !options.user.empty() ? options.user : endpoint.user;
  if (needs_login || !user.empty()) {
    const std::string login_user = user.empty() ? k_factory_user : user;
    PasswordOptions password = options.password;
    if (password.file.empty() && !password.from_stdin) password.file = endpoint.password_file;
    const auto secret = unwrap(obtain_password(password, login_user, session.client->describe()));
    const auto login = unwrap(session.client->login(login_user, secret));
    session.logged_in = true;
    if (login.default_credential && !context.global.quiet) {
      std::cerr << "meterctl: warning: " << login_user << " on " << session.client->describe()
                << " still has the factory default password; change it\n";
    }
  }
  return session;
}

std::string text_of(const nlohmann::json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_null()) return "";
  if (value.is_array()) {
    std::string joined;
    for (const auto& item : value) joined += (joined.empty() ? "" : " ") + text_of(item);
    return joined;
  }
  return value.dump();
}

void print(const Context& context, Report report) { print_report(report, context.format(), std::cout, context.color()); }

int run_info(Context& context, const NativeOptions& options) {
  auto session = open_session(context, options, false);
  const auto identity = unwrap(session.client->request("identity"));
  Report report;
  report.columns = {"field", "value"};
  for (const auto& [key, value] : identity.items()) report.rows.push_back({key, text_of(value)});
  report.document = {{"meter", session.client->describe()}, {"identity", identity}};
  print(context, report);
  if (session.logged_in) session.client->logout();
  return exit_ok;
}

Report readings_report(const std::string& meter, const nlohmann::json& result) {
  Report report;
  report.columns = {"name", "value", "unit"};
  for (const auto& [name, reading] : result.at("values").items()) {
    report.rows.push_back({name, text_of(reading.at("value")), text_of(reading.at("unit"))});
  }
  report.document = {{"meter", meter}, {"readings", result}};
  return report;
}

int run_read(Context& context, const NativeOptions& options) {
  auto session = open_session(context, options, false);
  const nlohmann::json arguments = {{"points", options.points}};
  if (!options.watch) {
    print(context, readings_report(session.client->describe(), unwrap(session.client->request("read", arguments))));
    return exit_ok;
  }
  if (!(options.interval >= 0.1)) throw CommandError{exit_usage, "--interval must be at least 0.1 seconds"};
  for (int sample = 0; options.samples == 0 || sample < options.samples; ++sample) {
    const auto started = std::chrono::steady_clock::now();
    auto report = readings_report(session.client->describe(), unwrap(session.client->request("read", arguments)));
    if (context.format() == OutputFormat::json) {
      std::cout << nlohmann::json{{"format_version", k_json_format_version}, {"readings", report.document["readings"]}}.dump()
                << std::endl;
    } else if (context.format() == OutputFormat::yaml) {
      std::cout << "---\n" << json_to_yaml({{"format_version", k_json_format_version}, {"readings", report.document["readings"]}})
                << std::flush;
    } else if (context.format() == OutputFormat::csv) {
      // One header, then a row per point and sample, with the sample's meter time.
      if (sample == 0) std::cout << csv_line({"meter_time", "name", "value", "unit"}) << '\n';
      const auto time = text_of(report.document["readings"]["meter_time"]);
      for (const auto& row : report.rows) std::cout << csv_line({time, row[0], row[1], row[2]}) << '\n';
      std::cout << std::flush;
    } else {
      if (context.format() == OutputFormat::table && stdout_is_terminal()) std::cout << "\x1b[H\x1b[2J";
      print(context, report);
      std::cout << std::flush;
    }
    if (options.samples != 0 && sample + 1 >= options.samples) break;
    std::this_thread::sleep_until(started + std::chrono::milliseconds(static_cast<int>(options.interval * 1000)));
  }
  return exit_ok;
}

double host_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::optional<double> parse_time(const std::string& text) {
  std::tm parts{};
  if (const char* end = strptime(text.c_str(), "%Y-%m-%dT%H:%M:%SZ", &parts); end && *end == '\0') {
    return static_cast<double>(timegm(&parts));
  }
  try {
    std::size_t used = 0;
    const double seconds = std::stod(text, &used);
    if (used == text.size() && std::isfinite(seconds) && seconds >= 0) return seconds;
  } catch (const std::exception&) {
  }
  return std::nullopt;
}

int print_time(const Context& context, const std::string& meter, const nlohmann::json& result) {
  const double meter_time = result.at("unix_time").get<double>();
  const double offset = std::round((meter_time - host_now()) * 1000.0) / 1000.0;
  Report report;
  report.columns = {"meter_utc", "meter_unix_time", "offset_s"};
  char offset_text[32];
  std::snprintf(offset_text, sizeof offset_text, "%+.3f", offset);
  report.rows.push_back({text_of(result.at("utc")), std::to_string(static_cast<std::int64_t>(meter_time)), offset_text});
  report.document = {{"meter", meter}, {"time", result}, {"offset_seconds", offset}};
  print(context, report);
  return exit_ok;
}

int run_time(Context& context, const NativeOptions& options, const std::string& action) {
  if (action == "get") {
    auto session = open_session(context, options, false);
    return print_time(context, session.client->describe(), unwrap(session.client->request("time.get")));
  }
  double target = 0;
  if (action == "set") {
    const auto parsed = parse_time(options.time_value);
    if (!parsed) {
      throw CommandError{exit_usage, "'" + options.time_value +
                                         "' is not a time: give Unix seconds or YYYY-MM-DDTHH:MM:SSZ (UTC)"};
    }
    target = *parsed;
  }
  auto session = open_session(context, options, true);
  if (action == "sync") target = host_now();
  const auto result = unwrap(session.client->request("time.set", {{"unix_time", target}}));
  print_time(context, session.client->describe(), result);
  session.client->logout();
  return exit_ok;
}

int run_simple(Context& context, const NativeOptions& options, const std::string& operation,
               const nlohmann::json& arguments) {
  auto session = open_session(context, options, true);
  const auto result = unwrap(session.client->request(operation, arguments));
  Report report;
  report.columns = {"field", "value"};
  for (const auto& [key, value] : result.items()) report.rows.push_back({key, text_of(value)});
  report.document = {{"meter", session.client->describe()}, {"result", result}};
  if (!context.global.quiet || context.format() != OutputFormat::table) print(context, report);
  session.client->logout();
  return exit_ok;
}

void add_connection_options(CLI::App& command, NativeOptions& options) {
  command.add_flag("--secure", options.secure, "Use the TLS port (the default)");
  command.add_flag("--plain", options.plain, "Use the plain native port, without TLS");
  command.add_option("--user", options.user, "User to log in as (default: the named meter's, else User1)");
  command.add_option("--password-file", options.password.file, "Read the password from the first line of FILE");
  command.add_flag("--password-stdin", options.password.from_stdin, "Read the password from standard input");
  command.add_option("--ca-file", options.ca_file, "Verify the meter's certificate against these CA certificates");
  command.add_flag("--accept-new", options.accept_new,
                   "Pin a meter seen for the first time without asking (a changed key still fails)");
}

}  // namespace

void add_native_commands(CLI::App& app, Context& context) {
  auto options = std::make_shared<NativeOptions>();

  auto* info = app.add_subcommand("info", "Show the meter's identity, firmware, features and clock");
  add_connection_options(*info, *options);
  info->callback([&context, options] { context.exit_code = run_info(context, *options); });

  auto* read = app.add_subcommand("read", "Read measurement values by name (all without names)");
  read->add_option("points", options->points, "Point names (see `meterctl modbus map`)");
  read->add_flag("--watch", options->watch, "Read repeatedly");
  read->add_option("--interval", options->interval, "Seconds between samples with --watch")->capture_default_str();
  read->add_option("--samples", options->samples, "Stop after N samples (0: until interrupted)")->capture_default_str();
  add_connection_options(*read, *options);
  read->callback([&context, options] { context.exit_code = run_read(context, *options); });

  auto* time = app.add_subcommand("time", "Get, set or synchronise the meter's clock");
  time->require_subcommand(1);
  time->fallthrough();
  auto* time_get = time->add_subcommand("get", "Show the meter's time and its offset from this host");
  add_connection_options(*time_get, *options);
  time_get->callback([&context, options] { context.exit_code = run_time(context, *options, "get"); });
  auto* time_set = time->add_subcommand("set", "Set the meter's clock (needs login; refused when time sync is disabled)");
  time_set->add_option("time", options->time_value, "Unix seconds or YYYY-MM-DDTHH:MM:SSZ")->required();
  add_connection_options(*time_set, *options);
  time_set->callback([&context, options] { context.exit_code = run_time(context, *options, "set"); });
  auto* time_sync = time->add_subcommand("sync", "Set the meter's clock to this host's clock (needs login)");
  add_connection_options(*time_sync, *options);
  time_sync->callback([&context, options] { context.exit_code = run_time(context, *options, "sync"); });

  auto* demand = app.add_subcommand("demand", "Peak demand");
  demand->require_subcommand(1);
  demand->fallthrough();
  auto* demand_reset = demand->add_subcommand("reset", "Reset the peak demand (needs login)");
  add_connection_options(*demand_reset, *options);
  demand_reset->callback(
      [&context, options] { context.exit_code = run_simple(context, *options, "demand.reset", nlohmann::json::object()); });

  auto* test_mode = app.add_subcommand("test-mode", "Switch test mode on or off (needs login)");
  test_mode->add_option("mode", options->mode, "on or off")->required()->check(CLI::IsMember({"on", "off"}));
  add_connection_options(*test_mode, *options);
  test_mode->callback([&context, options] {
    context.exit_code = run_simple(context, *options, "test_mode.set", {{"enabled", options->mode == "on"}});
  });
}

}  // namespace cli
