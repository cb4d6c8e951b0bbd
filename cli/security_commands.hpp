#pragma once
// `meterctl security`: the meter's security mode, password policy, lockouts, session
// timeout and options, the audit checklist, the security event log, and security
// documents (export and apply). Every subcommand logs in and needs the Security Config
// permission. See meterctl-security(1).

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/context.hpp"

namespace cli {

void add_security_commands(CLI::App& app, Context& context);

// The pure parts, for the tests.

// "on" is true, "off" false, anything else nullopt.
std::optional<bool> parse_on_off(std::string_view text);

// The `security options` flags as given (each "on" or "off", --modbus-access its value).
struct OptionChanges {
  std::optional<std::string> web_server;
  std::optional<std::string> web_server_programming;
  std::optional<std::string> front_panel_programming;
  std::optional<std::string> modbus_access;
  std::optional<std::string> time_sync;
  std::optional<std::string> revenue_lock;
  std::optional<std::string> ssh;
  std::optional<std::string> sftp;
  std::optional<std::string> telnet;
  std::optional<std::string> ftp;
};

// The arguments of security.options: only the options given, services as
// {"services": {"ssh": true, ...}}. Empty when no option is given (then nothing changes).
nlohmann::json option_arguments(const OptionChanges& changes);

// Rows of a field/value table for the options object of security.show: booleans as on
// and off, one row per service ("services.ssh", "on (emulated)").
std::vector<std::vector<std::string>> option_rows(const nlohmann::json& options, const std::string& prefix = "");

// Rows of a field/value table for a nested object: keys joined with '.', arrays as a
// comma-separated list, booleans as yes and no.
std::vector<std::vector<std::string>> field_rows(const nlohmann::json& value, const std::string& prefix = "");

// Whether an audit result fails: the meter says it did not pass, or a finding has
// severity "fail".
bool audit_failed(const nlohmann::json& result);

// Where a password_file of a security document is: relative to the document's directory.
std::filesystem::path password_file_path(const std::filesystem::path& document, const std::string& password_file);

}  // namespace cli
