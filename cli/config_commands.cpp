#include "cli/config_commands.hpp"

#include <unistd.h>

#include <iostream>
#include <map>
#include <sstream>

#include "cli/fleet_access.hpp"
#include "cli/native_session.hpp"
#include "libproto/model/device_model.hpp"
#include "libproto/model/utc_time.hpp"
#include "libproto/model/yaml_document.hpp"
#include "libsec/private_file.hpp"
#include "libsec/profile_rules.hpp"
#include "libsec/profile_schema.hpp"

namespace cli {

namespace {

// config.apply's confirm_timeout_s (config protocol): 10 s to an hour.
constexpr int k_min_confirm_timeout = 10;
constexpr int k_max_confirm_timeout = 3600;

struct ConfigOptions : ConnectionOptions {
  std::vector<std::string> files;  // validate
  std::string profile;             // -f: the profile, for every meter of an inventory too
  std::string inventory;
  std::vector<std::string> selectors;
  std::optional<unsigned> parallel;
  std::optional<std::string> shard;
  std::optional<unsigned> shard_count;
  std::string report;
  bool force = false;
  std::optional<int> confirm_timeout;
  bool detailed_exitcode = false;
  std::string out;  // export --file
};

// The profile as it goes to the meter, and the passwords its users' files hold.
struct PreparedProfile {
  std::string source;  // the name the meter puts in its messages
  sec::MeterProfile profile;
};

struct ApplySettings {
  bool force = false;
  std::optional<int> confirm_timeout;
};

// What one meter's plan or apply gives, beyond MeterResult.
struct MeterRun {
  MeterResult result;
  std::optional<std::int64_t> confirm_deadline;
};

void print_problems(const std::vector<std::string>& problems) {
  for (const auto& problem : problems) std::cerr << problem << '\n';
}

// Loads and checks a profile before anything is sent, so a mistake is reported with its
// file:line:col and status 65 without a meter in the way.
sec::LoadedProfile load_checked(const std::string& file) {
  auto check = check_profile_file(file);
  if (!check.problems.empty()) {
    print_problems(check.problems);
    throw CommandError{exit_data, file + " is not a valid profile (" + std::to_string(check.problems.size()) +
                                      (check.problems.size() == 1 ? " problem)" : " problems)")};
  }
  return std::move(*check.loaded);
}

// Each user with a password_file: its first line, by user name. Refuses a file others may
// read, as `security apply` does for the files a security document names.
nlohmann::json read_passwords(const sec::MeterProfile& profile) {
  nlohmann::json passwords = nlohmann::json::object();
  for (const auto& user : profile.security.users) {
    if (!user.password_file) continue;
    passwords[user.name] = unwrap(read_password_file(*user.password_file, OpenPasswordFile::refuse));
  }
  return passwords;
}

nlohmann::json request_arguments(const PreparedProfile& prepared, const nlohmann::json& passwords) {
  return {
      {"document", sec::format_meter_profile(prepared.profile)}, {"source", prepared.source}, {"passwords", passwords}};
}

std::vector<sec::ProfileChange> changes_of(const nlohmann::json& answer, const std::string& meter) {
  auto changes = changes_from_json(answer.value("changes", nlohmann::json::array()));
  if (!changes) throw CommandError{exit_protocol, meter + " sent changes meterctl cannot read: " + changes.error()};
  return std::move(*changes);
}

std::optional<std::int64_t> version_of(const nlohmann::json& answer) {
  const auto version = answer.value("config_version", nlohmann::json());
  if (version.is_number_integer()) return version.get<std::int64_t>();
  return std::nullopt;
}

// The conflict error of config.apply reads better with what to do next.
CommandError explain_conflict(CommandError error) {
  if (error.message.find("(conflict)") != std::string::npos) {
    error.message =
        "the meter's configuration changed since the plan; nothing was applied. Plan again and "
        "review, or apply with --force. " +
        error.message;
  }
  return error;
}

// The meter refuses a profile that does not fit it (its model, firmware, ports) as an
// invalid argument: for meterctl that is a validation error, the same status (65) as a
// profile refused offline, not a usage error.
CommandError as_validation_error(CommandError error) {
  if (error.code == exit_usage) error.code = exit_data;
  return error;
}

// Plans on the meter, and for apply applies what the plan found. Errors end the run.
MeterRun run_on_meter(NativeClient& client, ConfigOperation operation, const nlohmann::json& arguments,
                      const ApplySettings& settings, const StatusCallback& status) {
  MeterRun run;
  const auto meter = client.describe();
  status(operation == ConfigOperation::drift ? "comparing" : "planning");
  auto planned = client.request("config.plan", arguments);
  if (!planned) throw as_validation_error(planned.error());
  const auto plan = std::move(*planned);
  auto changes = changes_of(plan, meter);
  run.result.config_version = version_of(plan);
  const bool changed = plan.value("changed", !changes.empty());
  if (operation != ConfigOperation::apply || !changed) {
    run.result.outcome = changed ? Outcome::changed : Outcome::no_changes;
    run.result.changes = std::move(changes);
    return run;
  }
  status("applying");
  nlohmann::json apply_arguments = arguments;
  if (settings.force) {
    apply_arguments["force"] = true;
  } else {
    if (!run.result.config_version) {
      throw CommandError{exit_protocol, meter + " planned without a config_version; apply with --force"};
    }
    apply_arguments["expected_version"] = *run.result.config_version;
  }
  if (settings.confirm_timeout) apply_arguments["confirm_timeout_s"] = *settings.confirm_timeout;
  auto applied = client.request("config.apply", apply_arguments);
  if (!applied) throw as_validation_error(explain_conflict(applied.error()));
  run.result.changes = changes_of(*applied, meter);
  run.result.config_version = version_of(*applied);
  const bool apply_changed = applied->value("changed", !run.result.changes.empty());
  run.result.outcome = apply_changed ? Outcome::applied : Outcome::no_changes;
  if (const auto deadline = applied->value("confirm_deadline", nlohmann::json()); deadline.is_number()) {
    run.confirm_deadline = deadline.get<std::int64_t>();
  }
  return run;
}

// Every error once the meter is involved is status 1 (meterctl-config(1)), except a usage
// error of meterctl's own (no meter given, no way to get a password) and a profile the
// meter finds invalid for it (65, as offline).
template <typename F>
auto with_meter_errors(F&& body) {
  try {
    return body();
  } catch (const CommandError& error) {
    const bool own_code = error.code == exit_usage || error.code == exit_data;
    throw CommandError{own_code ? error.code : exit_config_failed, error.message};
  } catch (const nlohmann::json::exception& error) {
    throw CommandError{exit_config_failed,
                       std::string("the meter's answer is not what meterctl expects: ") + error.what()};
  }
}

void print_single(const Context& context, ConfigOperation operation, const std::string& meter, const MeterRun& run,
                  const std::optional<int>& confirm_timeout) {
  const auto& result = run.result;
  const auto format = context.format();
  if (format == OutputFormat::json || format == OutputFormat::yaml) {
    Report report;
    report.document = single_report(meter, result, run.confirm_deadline);
    print(context, report);
    return;
  }
  if (format == OutputFormat::csv) {
    Report report;
    report.columns = {"path", "before", "after"};
    for (const auto& change : result.changes) {
      report.rows.push_back({change.path, change.before.value_or(""), change.after.value_or("")});
    }
    print(context, report);
    return;
  }
  std::cout << render_changes(result.changes, context.color());
  if (operation != ConfigOperation::apply) {
    std::cout << plan_summary(operation, result.changes.size()) << '\n';
    return;
  }
  if (result.outcome != Outcome::applied) {
    if (!context.global.quiet) std::cout << "No changes; nothing applied.\n";
    return;
  }
  std::cout << apply_summary(result.changes.size(), result.config_version.value_or(0)) << '\n';
  if (run.confirm_deadline) {
    std::cout << confirm_notice(*run.confirm_deadline, std::chrono::system_clock::now(), context.global.meter) << '\n';
  } else if (confirm_timeout) {
    std::cout << "The meter set no confirm deadline: the change is final.\n";
  }
}

void print_fleet_table(const Context& context, ConfigOperation operation, const std::vector<MeterResult>& results) {
  const bool color = context.color();
  for (const auto& result : results) {
    const auto where = result.name + " (" + result.address + ":" + std::to_string(result.port) + ")";
    switch (result.outcome) {
      case Outcome::error: std::cout << where << ": error: " << result.error << '\n'; break;
      case Outcome::no_changes: std::cout << where << ": no changes\n"; break;
      case Outcome::changed:
      case Outcome::applied: {
        std::cout << where << ": " << result.changes.size() << (result.changes.size() == 1 ? " change" : " changes")
                  << (result.outcome == Outcome::applied ? " applied" : "") << '\n';
        std::istringstream lines(render_changes(result.changes, color));
        for (std::string line; std::getline(lines, line);) std::cout << "  " << line << '\n';
        break;
      }
    }
  }
  const auto summary = summarize(results);
  const auto changed = operation == ConfigOperation::apply ? summary.applied : summary.changed;
  std::cout << (operation == ConfigOperation::apply   ? "Applied: "
                : operation == ConfigOperation::drift ? "Drift: "
                                                      : "Plan: ")
            << summary.meters << (summary.meters == 1 ? " meter, " : " meters, ") << changed
            << (operation == ConfigOperation::apply ? " changed" : " would change") << " (" << summary.changes
            << (summary.changes == 1 ? " change), " : " changes), ") << summary.no_changes << " unchanged, "
            << summary.errors << " failed\n";
}

// Each meter's profile, loaded and checked once per file, with the meter's overrides laid
// over it and checked again; `problems` lists what is wrong with any of them.
struct PreparedFleet {
  std::vector<PreparedProfile> profiles;  // one per meter, in order
  std::vector<std::string> problems;
};

PreparedFleet prepare_fleet(const std::vector<InventoryMeter>& meters, const std::string& profile_option) {
  PreparedFleet fleet;
  auto& prepared = fleet.profiles;
  auto& problems = fleet.problems;
  std::map<std::filesystem::path, sec::LoadedProfile> loaded;  // files empty: not valid
  for (const auto& meter : meters) {
    const std::filesystem::path file = !profile_option.empty() ? std::filesystem::path(profile_option)
                                       : meter.profile         ? *meter.profile
                                                               : std::filesystem::path();
    if (file.empty()) {
      problems.push_back(meter.location + ": meter " + meter.name +
                         " has no profile: give profile in the inventory (defaults or the meter) or -f FILE");
      prepared.push_back({});
      continue;
    }
    auto found = loaded.find(file);
    if (found == loaded.end()) {
      auto check = check_profile_file(file);
      if (!check.problems.empty()) {
        problems.insert(problems.end(), check.problems.begin(), check.problems.end());
        loaded.emplace(file, sec::LoadedProfile{});
        prepared.push_back({});
        continue;
      }
      found = loaded.emplace(file, std::move(*check.loaded)).first;
    } else if (found->second.files.empty()) {
      prepared.push_back({});
      continue;
    }
    PreparedProfile profile{file.string(), found->second.profile};
    if (meter.overrides) {
      profile.profile = sec::overlay(profile.profile, *meter.overrides);
      auto rules = check_model_rules(profile.profile);
      for (auto& rule : rules) problems.push_back(rule + " (meter " + meter.name + ")");
    }
    prepared.push_back(std::move(profile));
  }
  return fleet;
}

int run_fleet_command(Context& context, const ConfigOptions& options, ConfigOperation operation) {
  if (options.confirm_timeout) {
    throw CommandError{exit_usage,
                       "--confirm-timeout needs a single meter (--meter): each meter is confirmed "
                       "on its own with `meterctl config confirm`"};
  }
  const auto environment = process_environment();
  const auto fleet_selection =
      select_fleet(context, options, {options.inventory, options.selectors, options.shard, options.shard_count},
                   environment);
  const auto& meters = fleet_selection.meters;

  // Every profile is loaded and checked, and every meter's overrides laid over it, before
  // any meter is contacted: a mistake fails the run at once, not meter by meter.
  const auto fleet = prepare_fleet(meters, options.profile);
  const auto& prepared = fleet.profiles;
  const auto& problems = fleet.problems;
  if (!problems.empty()) {
    print_problems(problems);
    throw CommandError{exit_data, "the inventory's profiles are not valid (" + std::to_string(problems.size()) +
                                      (problems.size() == 1 ? " problem" : " problems") + "); no meter was contacted"};
  }

  const auto login = fleet_login(options);
  const ApplySettings settings{options.force, std::nullopt};
  std::map<std::string, std::size_t> index_of;
  for (std::size_t i = 0; i < meters.size(); ++i) index_of[meters[i].name] = i;
  const MeterTask task = [&](const InventoryMeter& meter, const StatusCallback& status) {
    const auto& profile = prepared[index_of.at(meter.name)];
    const auto arguments = request_arguments(profile, read_passwords(profile.profile));
    auto client = connect_to_inventory_meter(meter, options, login, context, environment, status);
    auto run = run_on_meter(*client, operation, arguments, settings, status);
    client->logout();
    return std::move(run.result);
  };

  auto progress = make_fleet_progress(context, meters);
  const auto results = run_fleet(meters, options.parallel.value_or(k_default_parallel), task, *progress);
  progress.reset();

  const auto document = fleet_report(to_string(operation), results, fleet_selection.shard);
  if (!options.report.empty()) write_report_file(options.report, document);
  switch (context.format()) {
    case OutputFormat::table: print_fleet_table(context, operation, results); break;
    case OutputFormat::csv: {
      Report report;
      report.columns = {"name", "address", "port", "outcome", "changes", "config_version", "error", "duration_ms"};
      for (const auto& result : results) {
        report.rows.push_back({result.name, result.address, std::to_string(result.port),
                               std::string(to_string(result.outcome)), std::to_string(result.changes.size()),
                               result.config_version ? std::to_string(*result.config_version) : "", result.error,
                               std::to_string(result.duration.count())});
      }
      print(context, report);
      break;
    }
    default: {
      Report report;
      report.document = document;
      print(context, report);
    }
  }
  return fleet_exit_code(operation, results, options.detailed_exitcode);
}

int run_single(Context& context, const ConfigOptions& options, ConfigOperation operation) {
  if (!options.selectors.empty() || options.shard || options.shard_count || !options.report.empty() ||
      options.parallel) {
    throw CommandError{exit_usage, "--select, --shard, --shard-count, --parallel and --report need --inventory"};
  }
  if (options.profile.empty()) {
    throw CommandError{exit_usage, "no profile given: use -f FILE (or --inventory FILE for a fleet)"};
  }
  const auto loaded = load_checked(options.profile);
  const PreparedProfile prepared{options.profile, loaded.profile};
  const auto arguments = request_arguments(prepared, read_passwords(prepared.profile));
  const ApplySettings settings{options.force, options.confirm_timeout};
  std::string meter;
  const auto run = with_meter_errors([&] {
    auto session = open_session(context, options, true);
    meter = session.client->describe();
    auto outcome = run_on_meter(*session.client, operation, arguments, settings, [](std::string_view) {});
    session.client->logout();
    return outcome;
  });
  print_single(context, operation, meter, run, options.confirm_timeout);
  return single_exit_code(operation, run.result.outcome, options.detailed_exitcode);
}

int run_operation(Context& context, const ConfigOptions& options, ConfigOperation operation) {
  if (!options.inventory.empty()) return run_fleet_command(context, options, operation);
  return run_single(context, options, operation);
}

int run_plan(Context& context, const ConfigOptions& options) {
  return run_operation(context, options, ConfigOperation::plan);
}
int run_drift(Context& context, const ConfigOptions& options) {
  return run_operation(context, options, ConfigOperation::drift);
}
int run_apply(Context& context, const ConfigOptions& options) {
  return run_operation(context, options, ConfigOperation::apply);
}

// Whether `file` says it is an inventory (kind: Inventory); anything else is read as a profile.
bool is_inventory(const std::string& file) {
  auto text = sec::read_profile_file(file);
  if (!text) return false;
  auto document = proto::model::parse_yaml(*text, file);
  if (!document || !document->IsMap()) return false;
  const auto kind = (*document)["kind"];
  return kind.IsScalar() && kind.Scalar() == k_inventory_kind;
}

// An inventory passes when it parses and every meter's profile, with its overrides, does.
// `meters` tells how many it lists.
ProfileCheck check_inventory_file(const std::string& file, std::size_t& meters) {
  ProfileCheck check;
  auto inventory = parse_inventory(read_inventory_text(file), file);
  if (!inventory) {
    check.problems.push_back(inventory.error());
    return check;
  }
  check.problems = prepare_fleet(inventory->meters, "").problems;
  meters = inventory->meters.size();
  return check;
}

int run_validate(Context& context, const ConfigOptions& options) {
  nlohmann::json files = nlohmann::json::array();
  bool all_valid = true;
  const bool table = context.format() == OutputFormat::table;
  Report report;
  report.columns = {"file", "valid", "problem"};
  for (const auto& file : options.files) {
    const bool inventory = is_inventory(file);
    std::size_t meters = 0;
    const auto check = inventory ? check_inventory_file(file, meters) : check_profile_file(file);
    const bool valid = check.problems.empty();
    all_valid = all_valid && valid;
    if (table) {
      if (valid) {
        if (!context.global.quiet) {
          std::cout << (inventory ? file + ": valid inventory of " + std::to_string(meters) +
                                        (meters == 1 ? " meter" : " meters") + ", their profiles valid"
                                  : validity_line(file, check))
                    << '\n';
        }
      } else {
        for (const auto& problem : check.problems) std::cout << problem << '\n';
      }
    }
    for (const auto& problem : check.problems) report.rows.push_back({file, "no", problem});
    if (valid) report.rows.push_back({file, "yes", ""});
    files.push_back(
        {{"file", file},
         {"kind", inventory ? k_inventory_kind : sec::k_profile_kind},
         {"valid", valid},
         {"checked_against", check.checked_against.empty() ? nlohmann::json() : nlohmann::json(check.checked_against)},
         {"problems", check.problems}});
  }
  if (!table) {
    report.document = {{"files", files}, {"valid", all_valid}};
    print(context, report);
  }
  return all_valid ? exit_ok : exit_data;
}

int run_simple(Context& context, const ConfigOptions& options, const std::string& operation) {
  auto session = open_session(context, options, true);
  const auto result = request(session, operation);
  Report report;
  report.columns = {"field", "value"};
  for (const auto& [key, value] : result.items()) report.rows.push_back({key, text_of(value)});
  report.document = {{"meter", session.client->describe()}, {"result", result}};
  print_confirmation(context, report);
  session.client->logout();
  return exit_ok;
}

int run_confirm(Context& context, const ConfigOptions& options) {
  return run_simple(context, options, "config.confirm");
}
int run_rollback(Context& context, const ConfigOptions& options) {
  return run_simple(context, options, "config.rollback");
}

int run_export(Context& context, const ConfigOptions& options) {
  auto session = open_session(context, options, true);
  const auto result = request(session, "config.get");
  const auto& profile = result.at("profile");
  if (!profile.is_string()) {
    throw CommandError{exit_protocol, session.client->describe() + " sent no profile"};
  }
  const auto meter = session.client->describe();
  if (const auto pending = result.value("pending_confirm", nlohmann::json()); pending.is_object()) {
    std::cerr << "meterctl: warning: " << meter << " waits for `meterctl config confirm` until "
              << proto::model::iso_utc(pending.value("deadline", 0.0))
              << "; without it, the configuration exported here is rolled back\n";
  }
  const auto text = export_header(meter, session.client->serial_number(), std::chrono::system_clock::now()) +
                    profile.get<std::string>();
  session.client->logout();
  return deliver_export(context, meter, text, options.out);
}

}  // namespace

std::string_view to_string(ConfigOperation operation) {
  switch (operation) {
    case ConfigOperation::plan: return "plan";
    case ConfigOperation::drift: return "drift";
    case ConfigOperation::apply: return "apply";
  }
  return "plan";
}

ProfileCheck check_profile_file(const std::filesystem::path& file, const sec::ProfileFileReader& reader) {
  ProfileCheck check;
  std::vector<std::pair<std::filesystem::path, std::string>> read;
  const sec::ProfileFileReader recording = [&](const std::filesystem::path& path) {
    auto text = reader(path);
    if (text) read.emplace_back(path, *text);
    return text;
  };
  auto loaded = sec::load_profile(file, recording);
  std::vector<std::string> schema_problems;
  for (const auto& [path, text] : read) {
    // A file that is not YAML at all: the loader's report says where.
    auto document = proto::model::parse_yaml(text, path.string());
    if (!document) continue;
    for (const auto& problem : sec::validate_profile_schema(*document, path.string())) {
      schema_problems.push_back(problem.to_string());
    }
  }
  check.problems = schema_problems;
  if (!loaded) {
    // The loader stops at the first mistake, which the schema has usually named already;
    // anything else (a missing base, a cycle, a bad value) it alone reports.
    const auto& error = loaded.error();
    const auto location = error.substr(0, error.find(": "));
    bool named = false;
    for (const auto& problem : schema_problems) named = named || problem.rfind(location + ":", 0) == 0;
    if (!named || schema_problems.empty()) check.problems.push_back(error);
    return check;
  }
  if (!check.problems.empty()) return check;
  auto rules = check_model_rules(loaded->profile, &check.checked_against);
  check.problems.insert(check.problems.end(), rules.begin(), rules.end());
  check.loaded = std::move(*loaded);
  return check;
}

std::vector<std::string> check_model_rules(const sec::MeterProfile& profile, std::string* checked_against) {
  if (!profile.identity.model) return {};
  auto model = proto::model::find_device_model(*profile.identity.model);
  if (!model) {
    std::string known;
    for (const auto& name : proto::model::embedded_model_names()) known += (known.empty() ? "" : ", ") + name;
    return {sec::ProfileProblem{profile.location_of("meter.model"),
                                "unknown model '" + *profile.identity.model + "'; meterctl knows " + known}
                .to_string()};
  }
  auto capabilities = sec::offline_capabilities(profile, *model);
  if (!capabilities) return {sec::ProfileProblem{profile.location_of("meter"), capabilities.error()}.to_string()};
  std::vector<std::string> problems;
  for (const auto& problem : sec::check_profile(profile, *model, *capabilities))
    problems.push_back(problem.to_string());
  if (checked_against) {
    *checked_against = capabilities->model + " " + capabilities->feature_set + " " + capabilities->firmware.to_string();
  }
  return problems;
}

std::string validity_line(const std::string& file, const ProfileCheck& check) {
  if (check.checked_against.empty()) return file + ": valid (no meter.model: model rules not checked)";
  return file + ": valid for " + check.checked_against + " or later";
}

proto::Result<std::vector<sec::ProfileChange>, std::string> changes_from_json(const nlohmann::json& changes) {
  if (!changes.is_array()) return proto::unexpected(std::string("changes is not a list"));
  std::vector<sec::ProfileChange> result;
  for (const auto& item : changes) {
    if (!item.is_object() || !item.contains("path") || !item.at("path").is_string()) {
      return proto::unexpected(std::string("a change has no path"));
    }
    sec::ProfileChange change;
    change.path = item.at("path").get<std::string>();
    // Values are text (meter_profile.hpp: flatten_profile); a meter that sends a number
    // or a list is shown the same way.
    const auto side = [&item](const char* key) -> std::optional<std::string> {
      if (!item.contains(key) || item.at(key).is_null()) return std::nullopt;
      return text_of(item.at(key));
    };
    change.before = side("before");
    change.after = side("after");
    if (!change.before && !change.after) {
      return proto::unexpected("the change of " + change.path + " has neither before nor after");
    }
    result.push_back(std::move(change));
  }
  return result;
}

std::string render_changes(const std::vector<sec::ProfileChange>& changes, bool color) {
  std::string out;
  for (const auto& change : changes) {
    auto line = sec::to_string(change);
    if (color) {
      // ECMA-48 SGR 33, 32, 31: yellow for a change, green for an addition, red for a removal.
      const char* colour = !change.before ? "\x1b[32m" : !change.after ? "\x1b[31m" : "\x1b[33m";
      line = colour + line + "\x1b[0m";
    }
    out += line + "\n";
  }
  return out;
}

std::string plan_summary(ConfigOperation operation, std::size_t changes) {
  const bool drift = operation == ConfigOperation::drift;
  if (changes == 0) return drift ? "No drift." : "No changes.";
  return std::string(drift ? "Drift: " : "Plan: ") + std::to_string(changes) + (changes == 1 ? " change" : " changes");
}

std::string apply_summary(std::size_t changes, std::int64_t config_version) {
  return "Applied " + std::to_string(changes) + (changes == 1 ? " change" : " changes") + " (configuration version " +
         std::to_string(config_version) + ")";
}

std::string confirm_notice(std::int64_t deadline_unix_seconds, std::chrono::system_clock::time_point now,
                           const std::string& meter) {
  const auto now_seconds = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  const auto left = std::max<std::int64_t>(0, deadline_unix_seconds - now_seconds);
  const std::string meter_option = meter.empty() ? "" : " --meter " + meter;
  return "The meter rolls this change back at " + proto::model::iso_utc(static_cast<double>(deadline_unix_seconds)) +
         " (in " + std::to_string(left) + " s) unless it is confirmed: meterctl" + meter_option +
         " config confirm (or roll back now: meterctl" + meter_option + " config rollback)";
}

nlohmann::json single_report(const std::string& meter, const MeterResult& result,
                             std::optional<std::int64_t> confirm_deadline) {
  nlohmann::json changes = nlohmann::json::array();
  for (const auto& change : result.changes) changes.push_back(change_to_json(change));
  nlohmann::json document = {
      {"meter", meter},
      {"config_version", result.config_version ? nlohmann::json(*result.config_version) : nlohmann::json()},
      {"changed", result.outcome == Outcome::changed || result.outcome == Outcome::applied},
      {"changes", changes}};
  if (confirm_deadline) document["confirm_deadline"] = *confirm_deadline;
  return document;
}

int single_exit_code(ConfigOperation operation, Outcome outcome, bool detailed_exitcode) {
  switch (outcome) {
    case Outcome::error: return exit_config_failed;
    case Outcome::no_changes: return exit_ok;
    case Outcome::changed: return operation == ConfigOperation::apply ? exit_ok : exit_changes_pending;
    case Outcome::applied: return detailed_exitcode ? exit_changes_pending : exit_ok;
  }
  return exit_config_failed;
}

int fleet_exit_code(ConfigOperation operation, const std::vector<MeterResult>& results, bool detailed_exitcode) {
  int code = exit_ok;
  for (const auto& result : results) {
    const int one = single_exit_code(operation, result.outcome, detailed_exitcode);
    if (one == exit_config_failed) return exit_config_failed;
    if (one == exit_changes_pending) code = exit_changes_pending;
  }
  return code;
}

std::string export_header(const std::string& meter, const std::string& serial_number,
                          std::chrono::system_clock::time_point when) {
  const auto seconds = std::chrono::duration<double>(when.time_since_epoch()).count();
  std::string header = "# The configuration of the meter at " + meter;
  if (!serial_number.empty()) header += " (serial number " + serial_number + ")";
  header += ",\n# exported by meterctl config export at " + proto::model::iso_utc(seconds) + ".\n";
  header +=
      "# No password is in it. To set one, give the user a password_file (the first line of\n"
      "# that file, mode 0600, relative to this file) and keep the file out of version control:\n"
      "#   - name: operator\n"
      "#     permissions: [read, time-sync]\n"
      "#     password_file: secrets/operator.pw\n"
      "# A user without password_file or password_hash keeps the password it has.\n";
  return header;
}

void add_config_commands(CLI::App& app, Context& context) {
  auto options = std::make_shared<ConfigOptions>();
  auto* config = app.add_subcommand(
      "config", "Configuration as code: validate profiles, plan, apply and detect drift, export; one meter or a fleet");
  config->require_subcommand(1);
  config->fallthrough();
  const auto command = [&](const std::string& name, const std::string& description,
                           int (*run)(Context&, const ConfigOptions&)) {
    auto* sub = config->add_subcommand(name, description);
    sub->callback([&context, options, run] { context.exit_code = run_checking_answers(run, context, *options); });
    return sub;
  };
  const auto connect = [options](CLI::App* sub) {
    add_connection_options(*sub, *options, LoginPasswordOptions::login_password);
  };
  const auto fleet = [options](CLI::App* sub) {
    sub->add_option("-f,--file", options->profile,
                    "The profile (with --inventory: for every meter, instead of the inventory's)");
    sub->add_option("--inventory", options->inventory, "Work on the meters of this inventory instead of --meter");
    sub->add_option(
        "--select", options->selectors,
        "Only the meters whose tag KEY (or name) matches VALUE, a shell pattern; repeatable, all must match");
    sub->add_option("--parallel", options->parallel, "Meters at once (default 8)")
        ->check(CLI::Range(1U, k_max_parallel));
    sub->add_option("--shard", options->shard, "Only shard K of N of the inventory (K/N, 1 <= K <= N)");
    sub->add_option("--shard-count", options->shard_count,
                    "N shards, this one JOB_COMPLETION_INDEX + 1 (Kubernetes indexed Job)")
        ->check(CLI::Range(1U, k_max_shards));
    sub->add_option("--report", options->report, "Also write the JSON report of the run to FILE");
  };

  auto* validate = command("validate", "Check profiles offline: schema, values and the model's rules", run_validate);
  validate->add_option("files", options->files, "Profile files")->required();

  auto* plan = command("plan", "Show what applying the profile would change (status 2: changes)", run_plan);
  fleet(plan);
  connect(plan);

  auto* drift = command("drift", "Check the meter still matches the profile, read-only (status 2: drift)", run_drift);
  fleet(drift);
  connect(drift);

  auto* apply = command("apply", "Bring the meter to the profile, all or nothing", run_apply);
  fleet(apply);
  apply->add_flag("--force", options->force, "Apply even if the meter's configuration changed since the plan");
  apply
      ->add_option("--confirm-timeout", options->confirm_timeout,
                   "Roll back unless `config confirm` comes within SECONDS (10 to 3600)")
      ->check(CLI::Range(k_min_confirm_timeout, k_max_confirm_timeout));
  apply->add_flag("--detailed-exitcode", options->detailed_exitcode, "Exit with status 2 when something changed");
  connect(apply);

  connect(command("confirm", "Keep the configuration of an apply made with --confirm-timeout", run_confirm));
  connect(command("rollback", "Restore the configuration before an apply made with --confirm-timeout", run_rollback));

  auto* export_command = command("export", "Write the meter's configuration as a profile", run_export);
  export_command->add_option("--file", options->out, "Write it to FILE (mode 0600) instead of standard output");
  connect(export_command);
}

}  // namespace cli
