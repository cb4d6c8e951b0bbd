#pragma once
// A fleet rollout (`meterctl upgrade apply --inventory`, meterctl-upgrade(1)): the meters
// still to do, in waves, stopping once the failures exceed the threshold, with the state
// file written after every meter. What happens to one meter is the task's business, so
// the tests drive a rollout with fake tasks.

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/fleet_runner.hpp"
#include "cli/inventory.hpp"
#include "cli/rollout_plan.hpp"
#include "cli/rollout_state.hpp"
#include "cli/upgrade_record.hpp"

namespace cli {

struct RolloutSettings {
  std::vector<Portion> waves;  // empty: one wave
  Portion max_failures;        // default 0: the first failure stops the rollout
  std::string threshold_source = "--max-failures";  // where max_failures came from, for the stop message
  unsigned parallel = k_default_parallel;
};

// Upgrades one meter; runs on a worker thread. Never throws for what a meter does.
using UpgradeTask = std::function<UpgradeRecord(const InventoryMeter& meter, const StatusCallback& status)>;
// The display of the meters a run contacts (the live display needs their names).
using ProgressFactory = std::function<std::unique_ptr<FleetProgress>(const std::vector<InventoryMeter>& contacted)>;
// Keeps the state after a meter (the state file); an error stops the rollout.
using StateKeeper = std::function<proto::Result<proto::Ok, std::string>(const RolloutState& state)>;

struct RolloutResult {
  std::vector<UpgradeRecord> records;  // one per selected meter, in order
  std::size_t failures = 0;            // in this run
  std::size_t tolerated = 0;
  bool stopped = false;
  std::string stop_reason;
};

// Runs the rollout over `selected` (the meters of the inventory this run is for, in
// order). Meters `state` records as settled (upgraded, skipped) are not contacted and keep
// their records; the others go in waves planned over them alone. The failure count
// starts at 0 with every run, resumed or not; the threshold is tolerated_failures of
// all the selected meters. `state` is updated after every meter and handed to `keep`;
// at the end stopped and stop_reason are set in it too.
//
// Wave plans that do not fit (a list that leaves meters out) are refused before any
// meter is contacted (exit_usage).
proto::Result<RolloutResult, CommandError> run_rollout(const std::vector<InventoryMeter>& selected,
                                                       RolloutState& state, const RolloutSettings& settings,
                                                       const UpgradeTask& task, const ProgressFactory& make_progress,
                                                       const StateKeeper& keep);

// The exit status of a rollout: 0 when every selected meter was upgraded or skipped (or
// passed a dry run), 1 otherwise (some failed, or the rollout stopped).
int rollout_exit_code(const RolloutResult& result);

// The fleet report (--report FILE, -o json), without format_version: {"operation":
// "upgrade", "package_sha256", "shard", "meters": [{"name", "address", "port", "meter",
// "serial_number", "before", "after", "outcome", "backup", "duration_ms", "reason"}],
// "summary": {"meters", "upgraded", "skipped", "failed", "not_started", "dry_run"},
// "stopped", "stop_reason"}.
nlohmann::json rollout_report(const std::vector<InventoryMeter>& selected, const RolloutResult& result,
                              const std::string& package_sha256, const std::optional<Shard>& shard);

}  // namespace cli
