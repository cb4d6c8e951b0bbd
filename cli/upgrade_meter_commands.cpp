#include "cli/upgrade_meter_commands.hpp"

#include <unistd.h>

#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cli/backup_commands.hpp"
#include "cli/fleet_access.hpp"
#include "cli/native_session.hpp"
#include "cli/package_file.hpp"
#include "cli/rollout_plan.hpp"
#include "cli/rollout_state.hpp"
#include "cli/upgrade_apply.hpp"
#include "cli/upgrade_commands.hpp"
#include "cli/upgrade_rollout.hpp"
#include "cli/upgrade_status.hpp"

namespace cli {

namespace {

struct UpgradeMeterOptions : ConnectionOptions {
  std::string package;
  std::string key;
  bool no_backup = false;
  std::string backup_dir;
  bool dry_run = false;
  std::uint32_t health_deadline_s = k_default_health_deadline_s;
  std::size_t chunk_size = k_default_chunk_size;
  // Fleet.
  std::string inventory;
  std::vector<std::string> selectors;
  std::optional<std::string> shard;
  std::optional<unsigned> shard_count;
  std::optional<unsigned> parallel;
  std::optional<std::string> waves;
  std::optional<std::string> max_failures;
  std::string state_file;
  bool resume = false;
  std::string report;
};

Report record_report(const UpgradeRecord& record) {
  Report report;
  report.columns = {"field", "value"};
  const auto document = record_to_json(record);
  for (const auto* key : {"meter", "serial_number", "before", "after", "outcome", "backup", "duration_ms", "reason"}) {
    report.rows.push_back({key, text_of(document.at(key))});
  }
  report.document = document;
  return report;
}

std::unique_ptr<UpgradeObserver> single_meter_observer(const Context& context) {
  if (context.global.quiet) return make_silent_observer();
  if (stderr_is_terminal()) return make_terminal_observer(STDERR_FILENO);
  return make_plain_observer(std::cerr);
}

ApplySettings apply_settings(const UpgradeMeterOptions& options) {
  ApplySettings settings;
  settings.backup = !options.no_backup;
  settings.backup_directory =
      options.backup_dir.empty() ? default_backup_directory() : std::filesystem::path(options.backup_dir);
  settings.dry_run = options.dry_run;
  settings.health_deadline_s = options.health_deadline_s;
  settings.upload.chunk_size = options.chunk_size;
  return settings;
}

PackageReader reader_of(const PackageFile& file) {
  return [&file](std::uint64_t offset, std::span<std::byte> into) { return file.read_at(offset, into); };
}

int run_status(Context& context, const UpgradeMeterOptions& options) {
  auto session = open_session(context, options, true);
  const auto answer = request(session, "upgrade.status");
  auto status = parse_upgrade_status(answer);
  if (!status) throw CommandError{exit_protocol, session.client->describe() + ": " + status.error()};
  Report report;
  report.columns = {"field", "value"};
  report.rows = status_rows(*status);
  report.document = answer;
  print(context, report);
  session.client->logout();
  return exit_ok;
}

int run_single(Context& context, const UpgradeMeterOptions& options, const CheckedPackage& package,
               const PackageFile& file) {
  auto session = open_session(context, options, true);
  // Everything another connection needs, without the connection itself.
  auto again = std::make_shared<Session>();
  again->endpoint = session.endpoint;
  again->logged_in = session.logged_in;
  again->user = session.user;
  again->password = session.password;
  const auto timeout = context.timeout();
  auto link = make_client_link(
      std::move(session), [again, timeout] { return reconnect_session(*again, timeout); }, timeout);
  const auto observer = single_meter_observer(context);
  const auto run = apply_package(*link, package, reader_of(file), apply_settings(options), *observer,
                                 system_apply_clock());
  link.reset();
  const auto& record = run.record;
  const auto format = context.format();
  if (format == OutputFormat::table) {
    if (record.outcome == UpgradeOutcome::dry_run && !context.global.quiet) {
      for (const auto& check : run.checks) std::cout << "check: " << check << '\n';
      for (const auto& effect : run.effects) std::cout << "effect: " << effect << '\n';
    }
    print_confirmation(context, record_report(record));
  } else {
    auto report = record_report(record);
    if (record.outcome == UpgradeOutcome::dry_run) {
      report.document["checks"] = run.checks;
      report.document["effects"] = run.effects;
    }
    print(context, report);
  }
  if (record.outcome == UpgradeOutcome::failed) {
    std::cerr << "meterctl: " << record.meter << ": " << record.reason << '\n';
    return record.exit_code == exit_ok ? exit_upgrade_failed : record.exit_code;
  }
  return exit_ok;
}

// The wave steps and threshold: the command line's, else the inventory's, else one wave
// and no failure tolerated.
RolloutSettings rollout_settings(const UpgradeMeterOptions& options, const Inventory& inventory) {
  RolloutSettings settings;
  settings.parallel = options.parallel.value_or(k_default_parallel);
  if (options.waves) {
    auto waves = parse_waves(*options.waves);
    if (!waves) throw CommandError{exit_usage, waves.error()};
    settings.waves = std::move(*waves);
  } else if (inventory.rollout && inventory.rollout->waves) {
    settings.waves = *inventory.rollout->waves;
  }
  if (options.max_failures) {
    auto threshold = parse_portion(*options.max_failures, "--max-failures");
    if (!threshold) throw CommandError{exit_usage, threshold.error()};
    settings.max_failures = *threshold;
  } else if (inventory.rollout && inventory.rollout->max_failures) {
    settings.max_failures = *inventory.rollout->max_failures;
    settings.threshold_source = "the inventory's rollout.max_failures";
  }
  return settings;
}

void print_rollout_table(const std::vector<InventoryMeter>& meters, const RolloutResult& result) {
  std::map<UpgradeOutcome, std::size_t> counts;
  for (std::size_t i = 0; i < meters.size(); ++i) {
    const auto& record = result.records[i];
    std::cout << meters[i].name << " (" << meters[i].address << ":" << meters[i].port << "): " << describe(record)
              << '\n';
    ++counts[record.outcome];
  }
  std::cout << "Upgrade: " << meters.size() << (meters.size() == 1 ? " meter, " : " meters, ")
            << counts[UpgradeOutcome::upgraded] << " upgraded, " << counts[UpgradeOutcome::skipped] << " skipped, ";
  if (counts[UpgradeOutcome::dry_run] > 0) std::cout << counts[UpgradeOutcome::dry_run] << " passed the dry run, ";
  std::cout << counts[UpgradeOutcome::failed] << " failed, " << counts[UpgradeOutcome::not_started]
            << " not started\n";
}

int run_fleet(Context& context, const UpgradeMeterOptions& options, const CheckedPackage& package,
              const PackageFile& file) {
  if (!options.report.empty() && options.report == options.state_file) {
    throw CommandError{exit_usage, "--report and --state-file name the same file"};
  }
  const auto environment = process_environment();
  const auto fleet = select_fleet(context, options, {options.inventory, options.selectors, options.shard,
                                                     options.shard_count},
                                  environment);
  const auto& meters = fleet.meters;
  const auto settings = rollout_settings(options, fleet.inventory);
  const std::filesystem::path state_file =
      options.state_file.empty() ? default_state_file(options.inventory) : std::filesystem::path(options.state_file);
  auto existing = load_rollout_state(state_file);
  if (!existing) throw CommandError{exit_data, existing.error()};
  std::vector<std::string> names;
  for (const auto& meter : meters) names.push_back(meter.name);
  // A dry run writes nothing, the state file included: it starts from a blank state
  // unless it previews a --resume.
  const bool keep_state = !options.dry_run;
  auto state = unwrap(start_rollout_state(options.dry_run && !options.resume ? std::nullopt : *existing,
                                          options.resume, state_file, package.sha256, options.inventory, names));
  const StateKeeper keep = [&](const RolloutState& current) -> proto::Result<proto::Ok, std::string> {
    if (!keep_state) return proto::Ok{};
    return save_rollout_state(state_file, current);
  };
  // Written before the first meter, so that a rollout killed at once still has its file.
  if (auto kept = keep(state); !kept) throw CommandError{exit_io, "the state file was not written: " + kept.error()};

  const auto login = fleet_login(options, "--password-file");
  const auto apply = apply_settings(options);
  const auto clock = system_apply_clock();
  const auto reader = reader_of(file);
  const StatusCallback quiet_status = [](std::string_view) {};
  const UpgradeTask task = [&](const InventoryMeter& meter, const StatusCallback& status) {
    const auto observer = make_fleet_observer(status);
    Session first;
    try {
      first.client = connect_to_inventory_meter(meter, options, login, context, environment, status);
    } catch (const CommandError& error) {
      UpgradeRecord record;
      record.outcome = UpgradeOutcome::failed;
      record.meter = meter.address + ":" + std::to_string(meter.port);
      record.reason = error.message;
      record.exit_code = error.code;
      return record;
    }
    first.logged_in = true;
    first.user = inventory_login_user(meter, login);
    const SessionOpener reopen = [&]() -> proto::Result<Session, CommandError> {
      try {
        Session fresh;
        fresh.client = connect_to_inventory_meter(meter, options, login, context, environment, quiet_status);
        fresh.logged_in = true;
        fresh.user = inventory_login_user(meter, login);
        return fresh;
      } catch (const CommandError& error) {
        return proto::unexpected(error);
      }
    };
    auto link = make_client_link(std::move(first), reopen, context.timeout());
    return apply_package(*link, package, reader, apply, *observer, clock).record;
  };
  const ProgressFactory make_progress = [&](const std::vector<InventoryMeter>& contacted) {
    return make_fleet_progress(context, contacted, {"upgraded", "skipped", "failed"});
  };
  const auto result = unwrap(run_rollout(meters, state, settings, task, make_progress, keep));

  const auto document = rollout_report(meters, result, package.sha256, fleet.shard);
  if (!options.report.empty()) write_report_file(options.report, document);
  switch (context.format()) {
    case OutputFormat::table: print_rollout_table(meters, result); break;
    case OutputFormat::csv: {
      Report report;
      report.columns = {"name", "address", "port", "outcome", "before", "after", "backup", "duration_ms", "reason"};
      for (std::size_t i = 0; i < meters.size(); ++i) {
        const auto& record = result.records[i];
        report.rows.push_back({meters[i].name, meters[i].address, std::to_string(meters[i].port),
                               std::string(to_string(record.outcome)), record.before, record.after, record.backup,
                               std::to_string(record.duration_ms), record.reason});
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
  if (result.stopped) {
    std::cerr << "meterctl: " << result.stop_reason
              << (keep_state ? "; fix what failed, then continue with --resume (state: " + state_file.string() + ")"
                             : std::string())
              << '\n';
  }
  return rollout_exit_code(result);
}

int run_apply(Context& context, const UpgradeMeterOptions& options) {
  const bool fleet = !options.inventory.empty();
  if (!fleet && (!options.selectors.empty() || options.shard || options.shard_count || options.parallel ||
                 options.waves || options.max_failures || !options.state_file.empty() || options.resume ||
                 !options.report.empty())) {
    throw CommandError{exit_usage,
                       "--select, --shard, --shard-count, --parallel, --waves, --max-failures, --state-file, "
                       "--resume and --report need --inventory"};
  }
  // Offline first: a package that fails here never reaches a meter.
  const auto keys = unwrap(verification_keys(options.key));
  const auto file = unwrap(PackageFile::open(options.package));
  const auto package = unwrap(check_package(file, keys, meterctl_acceptance_policy()));
  return fleet ? run_fleet(context, options, package, file) : run_single(context, options, package, file);
}

}  // namespace

void add_upgrade_meter_commands(CLI::App& upgrade, Context& context) {
  auto options = std::make_shared<UpgradeMeterOptions>();
  const auto command = [&](const std::string& name, const std::string& description,
                           int (*run)(Context&, const UpgradeMeterOptions&)) {
    auto* sub = upgrade.add_subcommand(name, description);
    sub->callback([&context, options, run] { context.exit_code = run_checking_answers(run, context, *options); });
    return sub;
  };

  auto* status = command(
      "status", "Show the meter's firmware: running slot and version, slots, trial, rollback floor", run_status);
  add_connection_options(*status, *options);

  auto* apply = command("apply", "Install a signed package on a meter, or roll it out over an inventory", run_apply);
  apply->add_option("package", options->package, "The package (FILE.upg)")->required();
  apply->add_option("--key", options->key,
                    "Verify with this public key (PREFIX.pub); default: the keys in trusted-keys/ beside the config "
                    "file");
  apply->add_flag("--no-backup", options->no_backup, "Do not back the meter up first");
  apply->add_option("--backup-dir", options->backup_dir,
                    "Put the backups here (default: $XDG_STATE_HOME/meterctl/backups)");
  apply->add_flag("--dry-run", options->dry_run, "Check everything, then stop: no backup, no upload, no change");
  apply
      ->add_option("--health-deadline", options->health_deadline_s,
                   "Seconds the new firmware has to report healthy on each boot (5 to 3600)")
      ->check(CLI::Range(k_min_health_deadline_s, k_max_health_deadline_s))
      ->capture_default_str();
  apply->add_option("--chunk-size", options->chunk_size, "Bytes per upgrade.chunk (1 to 196608)")
      ->check(CLI::Range(std::size_t{1}, k_max_chunk_size))
      ->capture_default_str();
  apply->add_option("--inventory", options->inventory, "Roll out over the meters of this inventory instead of --meter");
  apply->add_option("--select", options->selectors,
                    "Only the meters whose tag KEY (or name) matches VALUE, a shell pattern; repeatable, all must "
                    "match");
  apply->add_option("--shard", options->shard, "Only shard K of N of the inventory (K/N, 1 <= K <= N)");
  apply
      ->add_option("--shard-count", options->shard_count,
                   "N shards, this one JOB_COMPLETION_INDEX + 1 (Kubernetes indexed Job)")
      ->check(CLI::Range(1U, k_max_shards));
  apply->add_option("--parallel", options->parallel, "Meters at once (default 8)")
      ->check(CLI::Range(1U, k_max_parallel));
  apply->add_option("--waves", options->waves,
                    "Cumulative wave sizes, counts or percentages: 1,5%,100% (default: one wave)");
  apply->add_option("--max-failures", options->max_failures,
                    "Failed meters tolerated, N or P% of those selected; more stop the rollout (default 0)");
  apply->add_option("--state-file", options->state_file,
                    "The rollout's state file (default: INVENTORY.rollout.json)");
  apply->add_flag("--resume", options->resume,
                  "Continue the rollout of the state file: meters upgraded or skipped are left alone");
  apply->add_option("--report", options->report, "Also write the JSON report of the rollout to FILE");
  add_connection_options(*apply, *options);
}

}  // namespace cli
