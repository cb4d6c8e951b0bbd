#include "cli/security_commands.hpp"

#include <algorithm>
#include <chrono>
#include <iostream>
#include <limits>

#include "cli/native_session.hpp"
#include "cli/security_history.hpp"
#include "libproto/codec/native_frame.hpp"
#include "libsec/private_file.hpp"
#include "libsec/security_config.hpp"
#include "libsec/security_document.hpp"

namespace cli {

namespace {

// A security document travels in one request; it cannot be larger than a request body
// (meter-native-protocol(7), limits).
constexpr std::size_t k_max_document_size = proto::codec::native::k_max_body_size;

struct SecurityOptions : ConnectionOptions {
  std::string mode;
  std::optional<std::string> complexity;
  std::optional<int> min_length;
  std::string protocol;  // of `lockout`; empty: both to show, native to change
  std::optional<int> attempts;
  std::optional<int> window;
  std::optional<int> duration;
  int session_timeout = 0;
  OptionChanges option_changes;
  std::optional<long long> after;
  std::optional<int> limit;
  std::string out;
  std::string file;
};

Session login(const Context& context, const SecurityOptions& options) { return open_session(context, options, true); }

std::string yes_no(bool value) { return value ? "yes" : "no"; }
std::string on_off(bool value) { return value ? "on" : "off"; }

Report field_report(std::vector<std::vector<std::string>> rows, nlohmann::json document) {
  Report report;
  report.columns = {"field", "value"};
  report.rows = std::move(rows);
  report.document = std::move(document);
  return report;
}

int run_show(Context& context, const SecurityOptions& options) {
  auto session = login(context, options);
  const auto result = request(session, "security.show");
  std::vector<std::vector<std::string>> rows;
  for (const auto& [key, value] : result.items()) {
    auto more = key == "options" ? option_rows(value, "options.") : field_rows(value, key);
    rows.insert(rows.end(), more.begin(), more.end());
  }
  print(context, field_report(std::move(rows), {{"meter", session.client->describe()}, {"security", result}}));
  session.client->logout();
  return exit_ok;
}

// The values after a change are a confirmation (--quiet leaves them out); without a change,
// they are what was asked for.
void show_or_confirm(const Context& context, const Report& report, bool change) {
  if (change) {
    print_confirmation(context, report);
  } else {
    print(context, report);
  }
}

// A change whose result is a few fields, printed as a confirmation.
int change_fields(Context& context, const SecurityOptions& options, const std::string& operation,
                  const nlohmann::json& arguments) {
  auto session = login(context, options);
  const auto result = request(session, operation, arguments);
  const nlohmann::json document = {{"meter", session.client->describe()}, {"result", result}};
  print_confirmation(context, field_report(field_rows(result), document));
  session.client->logout();
  return exit_ok;
}

int run_mode(Context& context, const SecurityOptions& options) {
  return change_fields(context, options, "security.mode", {{"mode", options.mode}});
}

int run_policy(Context& context, const SecurityOptions& options) {
  auto session = login(context, options);
  nlohmann::json arguments = nlohmann::json::object();
  if (options.complexity) arguments["complexity"] = *options.complexity;
  if (options.min_length) arguments["min_length"] = *options.min_length;
  const bool change = !arguments.empty();
  const auto policy = change ? request(session, "security.policy", arguments).at("policy")
                             : request(session, "security.show").at("policy");
  const auto report = field_report(field_rows(policy), {{"meter", session.client->describe()}, {"policy", policy}});
  show_or_confirm(context, report, change);
  session.client->logout();
  return exit_ok;
}

int run_lockout(Context& context, const SecurityOptions& options) {
  auto session = login(context, options);
  nlohmann::json arguments = nlohmann::json::object();
  if (options.attempts) arguments["attempts"] = *options.attempts;
  if (options.window) arguments["window_s"] = *options.window;
  if (options.duration) arguments["duration_s"] = *options.duration;
  const bool change = !arguments.empty();
  nlohmann::json lockout;
  if (change) {
    arguments["protocol"] = options.protocol.empty() ? "native" : options.protocol;
    lockout = request(session, "security.lockout", arguments).at("lockout");
  } else {
    lockout = request(session, "security.show").at("lockout");
  }
  Report report;
  report.columns = {"protocol", "attempts", "window_s", "duration_s"};
  nlohmann::json shown = nlohmann::json::object();
  for (const auto& [protocol, values] : lockout.items()) {
    if (!options.protocol.empty() && protocol != options.protocol) continue;
    report.rows.push_back({protocol, cell(values, "attempts"), cell(values, "window_s"), cell(values, "duration_s")});
    shown[protocol] = values;
  }
  report.document = {{"meter", session.client->describe()}, {"lockout", shown}};
  show_or_confirm(context, report, change);
  session.client->logout();
  return exit_ok;
}

int run_session_timeout(Context& context, const SecurityOptions& options) {
  return change_fields(context, options, "security.session_timeout", {{"seconds", options.session_timeout}});
}

int run_options(Context& context, const SecurityOptions& options) {
  auto session = login(context, options);
  const auto arguments = option_arguments(options.option_changes);
  const bool change = !arguments.empty();
  const auto values = change ? request(session, "security.options", arguments).at("options")
                             : request(session, "security.show").at("options");
  const auto report = field_report(option_rows(values), {{"meter", session.client->describe()}, {"options", values}});
  show_or_confirm(context, report, change);
  session.client->logout();
  return exit_ok;
}

// The checklist for people: each finding, and for those that fail or warn, what was found
// and what to do.
void print_checklist(const Context& context, const nlohmann::json& result) {
  const auto& findings = result.at("findings");
  std::size_t id_width = 0;
  for (const auto& finding : findings) id_width = std::max(id_width, cell(finding, "id").size());
  std::size_t failed = 0;
  std::size_t warned = 0;
  const bool color = context.color();
  for (const auto& finding : findings) {
    const auto severity = cell(finding, "severity");
    std::string label = severity;
    std::transform(label.begin(), label.end(), label.begin(), [](unsigned char c) { return std::toupper(c); });
    label.resize(std::max<std::size_t>(label.size(), 4), ' ');
    if (severity == "fail") ++failed;
    if (severity == "warn") ++warned;
    // ECMA-48 SGR 1 (bold) for what needs attention.
    const bool stand_out = color && severity != "pass";
    std::string id = cell(finding, "id");
    id.resize(std::max(id.size(), id_width), ' ');
    std::cout << (stand_out ? "\x1b[1m" + label + "\x1b[0m" : label) << "  " << id << "  " << cell(finding, "title")
              << '\n';
    if (severity == "pass") continue;
    const std::string indent(label.size() + 2, ' ');
    if (const auto detail = cell(finding, "detail"); !detail.empty()) std::cout << indent << detail << '\n';
    if (const auto remedy = cell(finding, "remedy"); !remedy.empty()) {
      std::cout << indent << "To do: " << remedy << '\n';
    }
  }
  std::cout << (audit_failed(result) ? "Audit failed: " : "Audit passed: ") << findings.size() << " checks, " << failed
            << " failed, " << warned << " warned\n";
}

int run_audit(Context& context, const SecurityOptions& options) {
  auto session = login(context, options);
  const auto result = request(session, "security.audit");
  if (context.format() == OutputFormat::table) {
    print_checklist(context, result);
  } else {
    Report report;
    report.columns = {"severity", "id", "title", "detail", "remedy"};
    for (const auto& finding : result.at("findings")) {
      report.rows.push_back({cell(finding, "severity"), cell(finding, "id"), cell(finding, "title"),
                             cell(finding, "detail"), cell(finding, "remedy")});
    }
    report.document = {
        {"meter", session.client->describe()}, {"passed", !audit_failed(result)}, {"findings", result.at("findings")}};
    print(context, report);
  }
  session.client->logout();
  return audit_failed(result) ? exit_audit_failed : exit_ok;
}

int run_events(Context& context, const SecurityOptions& options) {
  auto session = login(context, options);
  nlohmann::json arguments = nlohmann::json::object();
  if (options.after) arguments["after"] = *options.after;
  if (options.limit) arguments["limit"] = *options.limit;
  const auto result = request(session, "security.events", arguments);
  Report report;
  report.columns = {"number", "utc", "user", "protocol", "connection", "type", "priority", "severity", "detail"};
  for (const auto& record : result.at("records")) {
    std::vector<std::string> row;
    for (const auto& column : report.columns) row.push_back(cell(record, column.c_str()));
    report.rows.push_back(std::move(row));
  }
  report.document = {{"meter", session.client->describe()},
                     {"records", result.at("records")},
                     {"last_number", result.value("last_number", nlohmann::json())}};
  print(context, report);
  session.client->logout();
  return exit_ok;
}

int run_export(Context& context, const SecurityOptions& options) {
  auto session = login(context, options);
  const auto result = request(session, "security.export");
  const auto& document = result.at("document");
  if (!document.is_string()) {
    throw CommandError{exit_protocol, session.client->describe() + " sent no security document"};
  }
  const auto text = document.get<std::string>();
  session.client->logout();
  return deliver_export(context, session.client->describe(), text, options.out);
}

std::string read_document(const std::string& file) {
  auto text = sec::read_file_if_exists(file, k_max_document_size);
  if (!text) throw CommandError{exit_io, text.error()};
  if (!*text) throw CommandError{exit_io, "cannot read " + file + ": no such file"};
  return std::move(**text);
}

// Parses the document here first, so that a mistake is reported with its line before
// anything is sent, and reads the password files its users name.
nlohmann::json document_passwords(const std::string& file, const std::string& text) {
  auto document = sec::parse_security_document(text, file);
  if (!document) throw CommandError{exit_data, document.error()};
  nlohmann::json passwords = nlohmann::json::object();
  for (const auto& user : document->users) {
    if (!user.password_file) continue;
    const auto path = password_file_path(file, *user.password_file);
    passwords[user.name] = unwrap(read_password_file(path.string(), OpenPasswordFile::refuse));
  }
  return passwords;
}

int run_apply(Context& context, const SecurityOptions& options) {
  const auto text = read_document(options.file);
  const auto passwords = document_passwords(options.file, text);
  std::error_code ignored;
  const auto absolute = std::filesystem::absolute(options.file, ignored).lexically_normal();

  auto session = login(context, options);
  const auto result =
      request(session, "security.apply", {{"document", text}, {"source", options.file}, {"passwords", passwords}});
  const auto answered = std::chrono::system_clock::now();
  std::vector<std::string> changes;
  for (const auto& change : result.value("changes", nlohmann::json::array())) changes.push_back(text_of(change));
  const bool changed = result.value("changed", !changes.empty());

  HistoryEntry entry;
  entry.unix_time = std::chrono::duration<double>(answered.time_since_epoch()).count();
  entry.local_user = local_user_name();
  entry.meter = session.client->describe();
  entry.login_user = session.user;
  entry.file = absolute.string();
  entry.sha256 = sha256_hex(text);
  entry.changed = changed;
  entry.change_count = changes.size();
  const auto history = security_history_file();

  Report report;
  report.columns = {"change"};
  for (const auto& change : changes) report.rows.push_back({change});
  report.document = {{"meter", entry.meter}, {"file", entry.file}, {"sha256", entry.sha256},
                     {"changed", changed},   {"changes", changes}, {"history_file", history.string()}};
  if (context.format() == OutputFormat::table && changes.empty()) {
    if (!context.global.quiet) std::cout << "no changes\n";
  } else {
    print(context, report);
  }
  session.client->logout();
  if (auto logged = append_history_line(history, format_history_line(entry)); !logged) {
    throw CommandError{exit_io, "the meter applied " + options.file +
                                    ", but the security history was not written: " + logged.error().message};
  }
  return exit_ok;
}

void on_off_option(CLI::App& command, const std::string& name, std::optional<std::string>& value,
                   const std::string& description) {
  command.add_option(name, value, description + ": on or off")->check(CLI::IsMember({"on", "off"}));
}

}  // namespace

std::optional<bool> parse_on_off(std::string_view text) {
  if (text == "on") return true;
  if (text == "off") return false;
  return std::nullopt;
}

nlohmann::json option_arguments(const OptionChanges& changes) {
  nlohmann::json arguments = nlohmann::json::object();
  const auto put = [](nlohmann::json& target, const char* key, const std::optional<std::string>& value) {
    if (!value) return;
    const auto parsed = parse_on_off(*value);
    if (!parsed) throw CommandError{exit_usage, "'" + *value + "' is neither on nor off"};
    target[key] = *parsed;
  };
  put(arguments, "web_server", changes.web_server);
  put(arguments, "web_server_programming", changes.web_server_programming);
  put(arguments, "front_panel_programming", changes.front_panel_programming);
  if (changes.modbus_access) arguments["modbus_access"] = *changes.modbus_access;
  put(arguments, "time_sync", changes.time_sync);
  put(arguments, "revenue_lock", changes.revenue_lock);
  nlohmann::json services = nlohmann::json::object();
  put(services, "ssh", changes.ssh);
  put(services, "sftp", changes.sftp);
  put(services, "telnet", changes.telnet);
  put(services, "ftp", changes.ftp);
  if (!services.empty()) arguments["services"] = services;
  return arguments;
}

std::vector<std::vector<std::string>> option_rows(const nlohmann::json& options, const std::string& prefix) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& [key, value] : options.items()) {
    if (key == "services" && value.is_object()) {
      for (const auto& [service, state] : value.items()) {
        std::string text = text_of(state);
        if (state.is_boolean()) text = on_off(state.get<bool>());
        if (state.is_object()) {
          // An emulated service is one meterd only pretends to offer (it opens no port).
          text = on_off(state.value("enabled", false)) + (state.value("emulated", false) ? " (emulated)" : "") +
                 (state.value("offered", true) ? "" : " (not offered)");
        }
        rows.push_back({prefix + "services." + service, text});
      }
    } else {
      rows.push_back({prefix + key, value.is_boolean() ? on_off(value.get<bool>()) : text_of(value)});
    }
  }
  return rows;
}

std::vector<std::vector<std::string>> field_rows(const nlohmann::json& value, const std::string& prefix) {
  std::vector<std::vector<std::string>> rows;
  if (value.is_object()) {
    for (const auto& [key, item] : value.items()) {
      auto more = field_rows(item, prefix.empty() ? key : prefix + "." + key);
      rows.insert(rows.end(), more.begin(), more.end());
    }
  } else if (value.is_array()) {
    std::string joined;
    for (const auto& item : value) joined += (joined.empty() ? "" : ", ") + text_of(item);
    rows.push_back({prefix, joined});
  } else {
    rows.push_back({prefix, value.is_boolean() ? yes_no(value.get<bool>()) : text_of(value)});
  }
  return rows;
}

bool audit_failed(const nlohmann::json& result) {
  if (!result.value("passed", true)) return true;
  const auto findings = result.value("findings", nlohmann::json::array());
  return std::any_of(findings.begin(), findings.end(),
                     [](const nlohmann::json& finding) { return finding.value("severity", "") == "fail"; });
}

std::filesystem::path password_file_path(const std::filesystem::path& document, const std::string& password_file) {
  const std::filesystem::path path(password_file);
  if (path.is_absolute()) return path;
  return document.parent_path() / path;
}

void add_security_commands(CLI::App& app, Context& context) {
  constexpr int k_max_count = std::numeric_limits<int>::max();
  const auto k_count = CLI::Range(0, k_max_count);
  const auto k_lockout_seconds = CLI::Range(0, static_cast<int>(sec::k_max_lockout_seconds.count()));
  auto options = std::make_shared<SecurityOptions>();
  auto* security =
      app.add_subcommand("security", "Security mode, policy, lockouts and options; audit; event log; documents");
  security->require_subcommand(1);
  security->fallthrough();
  const auto command = [&](const std::string& name, const std::string& description,
                           int (*run)(Context&, const SecurityOptions&)) {
    auto* sub = security->add_subcommand(name, description);
    sub->callback([&context, options, run] { context.exit_code = run_checking_answers(run, context, *options); });
    return sub;
  };
  const auto connect = [options](CLI::App* sub) {
    add_connection_options(*sub, *options, LoginPasswordOptions::login_password);
  };

  connect(command("show", "Show the whole security configuration", run_show));

  auto* mode = command("mode", "Switch the security mode: legacy, standard or advanced", run_mode);
  mode->add_option("mode", options->mode, "legacy, standard or advanced")
      ->required()
      ->check(CLI::IsMember({"legacy", "standard", "advanced"}));
  connect(mode);

  auto* policy = command("policy", "Show or set the password policy", run_policy);
  policy->add_option("--complexity", options->complexity, "Complexity rules: none, nerc-cip-007-5 or ieee-1686-2013")
      ->check(CLI::IsMember({"none", "nerc-cip-007-5", "ieee-1686-2013"}));
  policy->add_option("--min-length", options->min_length, "Shortest password allowed")->check(k_count);
  connect(policy);

  auto* lockout = command("lockout", "Show or set the lockout after failed logins, per protocol", run_lockout);
  lockout->add_option("--protocol", options->protocol, "native or web (to change: default native; to show: both)")
      ->check(CLI::IsMember({"native", "web"}));
  lockout->add_option("--attempts", options->attempts, "Failed logins that lock a user out (0: never)")
      ->check(CLI::Range(0, static_cast<int>(sec::k_max_lockout_attempts)));
  lockout->add_option("--window", options->window, "Seconds within which the failed logins count")
      ->check(k_lockout_seconds);
  lockout->add_option("--duration", options->duration, "Seconds a lockout lasts (0: until unlocked)")
      ->check(k_lockout_seconds);
  connect(lockout);

  auto* timeout = command("session-timeout", "Set the idle timeout of native protocol sessions", run_session_timeout);
  timeout->add_option("seconds", options->session_timeout, "Seconds")
      ->required()
      ->check(CLI::Range(static_cast<int>(sec::k_min_session_timeout.count()),
                         static_cast<int>(sec::k_max_session_timeout.count())));
  connect(timeout);

  auto* security_options = command("options", "Show or set the security options", run_options);
  auto& changes = options->option_changes;
  on_off_option(*security_options, "--web-server", changes.web_server, "The web server");
  on_off_option(*security_options, "--web-server-programming", changes.web_server_programming,
                "Configuration through the web server");
  on_off_option(*security_options, "--front-panel-programming", changes.front_panel_programming,
                "Configuration on the display");
  security_options->add_option("--modbus-access", changes.modbus_access, "Modbus map: none, read-only or read-write")
      ->check(CLI::IsMember({"none", "read-only", "read-write"}));
  on_off_option(*security_options, "--time-sync", changes.time_sync, "Setting the clock");
  on_off_option(*security_options, "--revenue-lock", changes.revenue_lock, "Revenue lock");
  on_off_option(*security_options, "--ssh", changes.ssh, "The SSH service");
  on_off_option(*security_options, "--sftp", changes.sftp, "The SFTP service");
  on_off_option(*security_options, "--telnet", changes.telnet, "The Telnet service");
  on_off_option(*security_options, "--ftp", changes.ftp, "The FTP service");
  connect(security_options);

  connect(command("audit", "Check the configuration against the hardening checklist (status 1: a check failed)",
                  run_audit));

  auto* events = command("events", "Show the meter's security event log", run_events);
  events->add_option("--after", options->after, "Only records numbered above N")
      ->check(CLI::Range(0LL, std::numeric_limits<long long>::max()));
  events->add_option("--limit", options->limit, "At most N records")->check(CLI::Range(1, k_max_count));
  connect(events);

  auto* export_command = command("export", "Write the security configuration as a YAML document", run_export);
  export_command->add_option("--out", options->out, "Write it to FILE (mode 0600) instead of standard output");
  connect(export_command);

  auto* apply = command("apply", "Apply a security document, and record it in the security history", run_apply);
  apply->add_option("file", options->file, "The YAML document")->required();
  connect(apply);
}

}  // namespace cli
