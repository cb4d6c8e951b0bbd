#include "cli/upgrade_rollout.hpp"

#include <map>

namespace cli {

namespace {

Outcome fleet_outcome(UpgradeOutcome outcome) {
  switch (outcome) {
    case UpgradeOutcome::upgraded: return Outcome::applied;
    case UpgradeOutcome::skipped:
    case UpgradeOutcome::dry_run: return Outcome::no_changes;
    case UpgradeOutcome::failed:
    case UpgradeOutcome::not_started: return Outcome::error;
  }
  return Outcome::error;
}

}  // namespace

proto::Result<RolloutResult, CommandError> run_rollout(const std::vector<InventoryMeter>& selected,
                                                       RolloutState& state, const RolloutSettings& settings,
                                                       const UpgradeTask& task, const ProgressFactory& make_progress,
                                                       const StateKeeper& keep) {
  RolloutResult result;
  result.records.resize(selected.size());
  std::vector<InventoryMeter> pending;
  std::vector<std::size_t> position;  // pending index -> selected index
  for (std::size_t i = 0; i < selected.size(); ++i) {
    const auto& name = selected[i].name;
    if (settled(state, name)) {
      result.records[i] = state.meters.at(name);
    } else {
      pending.push_back(selected[i]);
      position.push_back(i);
    }
  }
  auto ends = plan_waves(settings.waves, pending.size());
  if (!ends) return proto::unexpected(CommandError{exit_usage, ends.error()});
  result.tolerated = tolerated_failures(settings.max_failures, selected.size());

  std::map<std::string, std::size_t> pending_index;
  for (std::size_t i = 0; i < pending.size(); ++i) pending_index[pending[i].name] = i;
  std::vector<UpgradeRecord> ran(pending.size());
  const MeterTask meter_task = [&](const InventoryMeter& meter, const StatusCallback& status) {
    auto record = task(meter, status);
    MeterResult outcome;
    outcome.outcome = fleet_outcome(record.outcome);
    outcome.summary = describe(record);
    if (record.outcome == UpgradeOutcome::failed) {
      outcome.error = record.reason;
      outcome.exit_code = record.exit_code;
    }
    ran[pending_index.at(meter.name)] = std::move(record);
    return outcome;
  };

  FleetRunOptions options;
  options.parallel = settings.parallel;
  options.wave_ends = *ends;
  options.after_each = [&](std::size_t index, const MeterResult& finished) {
    auto& record = ran[index];
    // A task that threw left no record of its own; the runner caught what it threw.
    if (finished.outcome == Outcome::error && record.outcome != UpgradeOutcome::failed) {
      record.outcome = UpgradeOutcome::failed;
      record.reason = finished.error;
      record.exit_code = finished.exit_code;
    }
    state.meters[pending[index].name] = record;
    if (record.outcome == UpgradeOutcome::failed) ++result.failures;
    if (!result.stopped && threshold_passed(result.failures, result.tolerated)) {
      result.stopped = true;
      result.stop_reason = stop_message(result.failures, settings.max_failures, settings.threshold_source,
                                        result.tolerated, selected.size());
    }
    if (auto kept = keep(state); !kept && !result.stopped) {
      result.stopped = true;
      result.stop_reason = "rollout stopped: the state file was not written: " + kept.error();
    }
    return !result.stopped;
  };
  auto progress = make_progress(pending);
  const auto finished = run_fleet_in_waves(pending, options, meter_task, *progress);
  progress.reset();

  for (std::size_t i = 0; i < pending.size(); ++i) {
    if (finished[i]) {
      result.records[position[i]] = ran[i];
      continue;
    }
    UpgradeRecord not_started;
    not_started.reason = "the rollout stopped before this meter";
    result.records[position[i]] = not_started;
    state.meters[pending[i].name] = not_started;
  }
  state.stopped = result.stopped;
  state.stop_reason = result.stop_reason;
  if (auto kept = keep(state); !kept && !result.stopped) {
    result.stopped = true;
    result.stop_reason = "the state file was not written: " + kept.error();
  }
  return result;
}

int rollout_exit_code(const RolloutResult& result) {
  if (result.stopped) return exit_upgrade_failed;
  for (const auto& record : result.records) {
    switch (record.outcome) {
      case UpgradeOutcome::upgraded:
      case UpgradeOutcome::skipped:
      case UpgradeOutcome::dry_run: break;
      case UpgradeOutcome::failed:
      case UpgradeOutcome::not_started: return exit_upgrade_failed;
    }
  }
  return exit_ok;
}

nlohmann::json rollout_report(const std::vector<InventoryMeter>& selected, const RolloutResult& result,
                              const std::string& package_sha256, const std::optional<Shard>& shard) {
  nlohmann::json meters = nlohmann::json::array();
  std::map<UpgradeOutcome, std::size_t> counts;
  for (std::size_t i = 0; i < selected.size() && i < result.records.size(); ++i) {
    const auto& record = result.records[i];
    nlohmann::json entry = {{"name", selected[i].name}, {"address", selected[i].address}, {"port", selected[i].port}};
    entry.update(record_to_json(record));
    meters.push_back(std::move(entry));
    ++counts[record.outcome];
  }
  nlohmann::json summary = {{"meters", result.records.size()}};
  for (const auto outcome : {UpgradeOutcome::upgraded, UpgradeOutcome::skipped, UpgradeOutcome::failed,
                             UpgradeOutcome::not_started, UpgradeOutcome::dry_run}) {
    summary[std::string(to_string(outcome))] = counts[outcome];
  }
  return {{"operation", "upgrade"},
          {"package_sha256", package_sha256},
          {"shard", shard ? nlohmann::json(to_string(*shard)) : nlohmann::json()},
          {"meters", meters},
          {"summary", summary},
          {"stopped", result.stopped},
          {"stop_reason", result.stop_reason.empty() ? nlohmann::json() : nlohmann::json(result.stop_reason)}};
}

}  // namespace cli
