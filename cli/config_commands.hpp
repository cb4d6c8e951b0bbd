#pragma once
// `meterctl config`: configuration as code. A meter profile (meter-profile(5)) kept in Git
// is validated offline, compared with a meter (plan, drift) and brought onto it (apply,
// with an optional confirm deadline); export writes a meter's configuration as a
// profile. plan, drift and apply also run over a fleet inventory (cli/inventory.hpp) on
// a pool of threads (cli/fleet_runner.hpp). The meter's side is the config.* operations
// of meter-native-protocol(7). See meterctl-config(1).

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/context.hpp"
#include "cli/fleet_runner.hpp"
#include "libproto/result.hpp"
#include "libsec/meter_profile.hpp"
#include "libsec/profile_loader.hpp"

namespace cli {

void add_config_commands(CLI::App& app, Context& context);

// The pure parts, for the tests.

enum class ConfigOperation { plan, drift, apply };
std::string_view to_string(ConfigOperation operation);  // "plan", "drift", "apply"

// What `config validate` found in one profile file.
struct ProfileCheck {
  std::optional<sec::LoadedProfile> loaded;  // when the file and its bases load
  std::vector<std::string> problems;         // "file:line:col: message", empty when valid
  std::string checked_against;               // "ION7400 Advanced 4.6.0"; empty: no model named
};

// Loads `file` with its `extends` chain through `reader`, checks every file read against
// the JSON Schema, and the composed profile against its model's rules when it names a
// model. Schema problems come first and replace the parser's report of the same mistake.
ProfileCheck check_profile_file(const std::filesystem::path& file,
                                const sec::ProfileFileReader& reader = sec::read_profile_file);
// The model rules alone (for a profile with a meter's overrides laid over it).
std::vector<std::string> check_model_rules(const sec::MeterProfile& profile, std::string* checked_against = nullptr);
// "FILE: valid for ION7400 Advanced 4.6.0 or later", or without a model
// "FILE: valid (no meter.model: model rules not checked)".
std::string validity_line(const std::string& file, const ProfileCheck& check);

// The changes a meter sends back (config.plan, config.apply): [{path, before?, after?}].
proto::Result<std::vector<sec::ProfileChange>, std::string> changes_from_json(const nlohmann::json& changes);
// One line per change, "~ path: before -> after", "+ path: after", "- path: before";
// with colour, ECMA-48 yellow, green and red.
std::string render_changes(const std::vector<sec::ProfileChange>& changes, bool color);
// "Plan: 3 changes" / "No changes." (plan); "Drift: 3 changes" / "No drift." (drift).
std::string plan_summary(ConfigOperation operation, std::size_t changes);
// "Applied 3 changes (configuration version 9)".
std::string apply_summary(std::size_t changes, std::int64_t config_version);
// What to do before the confirm deadline: when it falls, and the confirm command.
std::string confirm_notice(std::int64_t deadline_unix_seconds, std::chrono::system_clock::time_point now,
                           const std::string& meter);

// The JSON document of a single-meter plan, drift or apply (without format_version):
// {meter, config_version, changed, changes: [{path, before, after}]} and, for apply,
// confirm_deadline when one was asked for.
nlohmann::json single_report(const std::string& meter, const MeterResult& result,
                             std::optional<std::int64_t> confirm_deadline = std::nullopt);

// The exit status of one meter's operation (its outcome; error results keep none of
// their own codes: an error after the meter was reached is exit_config_failed).
int single_exit_code(ConfigOperation operation, Outcome outcome, bool detailed_exitcode);
// The exit status of a fleet run: any error 1; else plan and drift 2 when a meter would
// change, apply 2 with --detailed-exitcode when a meter changed; else 0.
int fleet_exit_code(ConfigOperation operation, const std::vector<MeterResult>& results, bool detailed_exitcode);

// The comment block at the top of `config export`: which meter, when, and how to give
// users their passwords (password_file), since an export never holds one.
std::string export_header(const std::string& meter, const std::string& serial_number,
                          std::chrono::system_clock::time_point when);

}  // namespace cli
