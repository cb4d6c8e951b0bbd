#include "cli/native_commands.hpp"

#include <cmath>
#include <ctime>
#include <iostream>
#include <thread>

#include "cli/native_session.hpp"

namespace cli {

namespace {

struct NativeOptions : ConnectionOptions {
  std::vector<std::string> points;
  bool watch = false;
  double interval = 1.0;
  int samples = 0;
  std::string time_value;
  std::string mode;
};

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
  print_confirmation(context, report);
  session.client->logout();
  return exit_ok;
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
