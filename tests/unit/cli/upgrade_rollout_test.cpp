#include "cli/upgrade_rollout.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <mutex>
#include <set>
#include <thread>

using namespace cli;

namespace {

const std::string k_sha = std::string(64, 'c');

std::vector<InventoryMeter> fleet(std::size_t count) {
  std::vector<InventoryMeter> meters;
  for (std::size_t i = 0; i < count; ++i) {
    InventoryMeter meter;
    meter.name = "meter-" + std::to_string(i + 1);
    meter.address = "10.0.0." + std::to_string(i + 1);
    meters.push_back(meter);
  }
  return meters;
}

std::vector<std::string> names(const std::vector<InventoryMeter>& meters) {
  std::vector<std::string> list;
  for (const auto& meter : meters) list.push_back(meter.name);
  return list;
}

// Upgrades every meter but those named to fail; records the order meters started in.
struct FakeFleet {
  std::set<std::string> failing;
  std::mutex mutex;
  std::vector<std::string> started;

  UpgradeTask task() {
    return [this](const InventoryMeter& meter, const StatusCallback& status) {
      {
        std::lock_guard lock(mutex);
        started.push_back(meter.name);
      }
      status("transfer 50%");
      UpgradeRecord record;
      record.before = "4.0.0";
      if (failing.count(meter.name)) {
        record.outcome = UpgradeOutcome::failed;
        record.reason = "meter fell back to 4.0.0: no health report within 60 s";
        record.exit_code = 1;
        record.after = "4.0.0";
      } else {
        record.outcome = UpgradeOutcome::upgraded;
        record.after = "4.6.0";
      }
      return record;
    };
  }
};

ProgressFactory silent() {
  return [](const std::vector<InventoryMeter>&) { return make_silent_progress(); };
}

struct Kept {
  std::vector<RolloutState> states;
  StateKeeper keeper() {
    return [this](const RolloutState& state) -> proto::Result<proto::Ok, std::string> {
      states.push_back(state);
      return proto::Ok{};
    };
  }
};

RolloutState fresh_state(const std::vector<InventoryMeter>& meters) {
  return start_rollout_state(std::nullopt, false, "f.rollout.json", k_sha, "f.yaml", names(meters)).value();
}

}  // namespace

TEST_CASE("A rollout upgrades every meter and keeps the state after each one", "[cli][rollout]") {
  const auto meters = fleet(5);
  auto state = fresh_state(meters);
  FakeFleet fake;
  Kept kept;
  RolloutSettings settings;
  settings.parallel = 2;
  const auto result = run_rollout(meters, state, settings, fake.task(), silent(), kept.keeper());
  REQUIRE(result);
  CHECK_FALSE(result->stopped);
  CHECK(result->failures == 0);
  CHECK(rollout_exit_code(*result) == 0);
  for (const auto& record : result->records) CHECK(record.outcome == UpgradeOutcome::upgraded);
  // One state per meter, then the final one.
  CHECK(kept.states.size() == 6);
  CHECK(kept.states.back().meters.at("meter-5").outcome == UpgradeOutcome::upgraded);
  CHECK_FALSE(kept.states.back().stopped);
  const auto report = rollout_report(meters, *result, k_sha, std::nullopt);
  CHECK(report["operation"] == "upgrade");
  CHECK(report["summary"]["upgraded"] == 5);
  CHECK(report["meters"][0]["name"] == "meter-1");
  CHECK(report["meters"][0]["address"] == "10.0.0.1");
  CHECK(report["meters"][0]["after"] == "4.6.0");
  CHECK(report["stopped"] == false);
}

TEST_CASE("max failures 2 (--max-failures) stops the rollout at the third failure; the rest are not started", "[cli][rollout]") {
  const auto meters = fleet(10);
  auto state = fresh_state(meters);
  FakeFleet fake;
  fake.failing = {"meter-2", "meter-3", "meter-4", "meter-5"};
  Kept kept;
  RolloutSettings settings;
  settings.parallel = 1;  // one at a time: the stop point is exact
  settings.max_failures = {false, 2};
  const auto result = run_rollout(meters, state, settings, fake.task(), silent(), kept.keeper());
  REQUIRE(result);
  CHECK(result->stopped);
  CHECK(result->failures == 3);
  CHECK(result->stop_reason == "rollout stopped: 3 failures exceed --max-failures 2");
  CHECK(fake.started == std::vector<std::string>{"meter-1", "meter-2", "meter-3", "meter-4"});
  CHECK(result->records[0].outcome == UpgradeOutcome::upgraded);
  CHECK(result->records[3].outcome == UpgradeOutcome::failed);
  for (std::size_t i = 4; i < 10; ++i) CHECK(result->records[i].outcome == UpgradeOutcome::not_started);
  CHECK(rollout_exit_code(*result) == 1);
  CHECK(state.stopped);
  CHECK(state.stop_reason == result->stop_reason);
  CHECK(state.meters.at("meter-9").outcome == UpgradeOutcome::not_started);
  CHECK(kept.states.back().stopped);
}

TEST_CASE("Two failures under --max-failures 2 finish the rollout, with exit status 1", "[cli][rollout]") {
  const auto meters = fleet(6);
  auto state = fresh_state(meters);
  FakeFleet fake;
  fake.failing = {"meter-2", "meter-6"};
  Kept kept;
  RolloutSettings settings;
  settings.max_failures = {false, 2};
  const auto result = run_rollout(meters, state, settings, fake.task(), silent(), kept.keeper());
  REQUIRE(result);
  CHECK_FALSE(result->stopped);
  CHECK(fake.started.size() == 6);
  CHECK(rollout_exit_code(*result) == 1);
}

TEST_CASE("Meters in flight when the threshold passes finish; no new one starts", "[cli][rollout]") {
  const auto meters = fleet(20);
  auto state = fresh_state(meters);
  std::atomic<int> running{0};
  std::atomic<int> finished_after_stop{0};
  std::atomic<bool> stop_seen{false};
  const UpgradeTask task = [&](const InventoryMeter& meter, const StatusCallback&) {
    ++running;
    UpgradeRecord record;
    if (meter.name == "meter-1") {
      record.outcome = UpgradeOutcome::failed;
      record.reason = "refused";
    } else {
      // The others take a moment, so that some run when meter-1 fails.
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      record.outcome = UpgradeOutcome::upgraded;
      if (stop_seen) ++finished_after_stop;
    }
    --running;
    return record;
  };
  Kept kept;
  RolloutSettings settings;
  settings.parallel = 4;
  const auto result = run_rollout(meters, state, settings, task, silent(), [&](const RolloutState& s) {
    if (s.meters.at("meter-1").outcome == UpgradeOutcome::failed) stop_seen = true;
    return proto::Result<proto::Ok, std::string>(proto::Ok{});
  });
  REQUIRE(result);
  CHECK(result->stopped);
  std::size_t done = 0, not_started = 0;
  for (const auto& record : result->records) {
    if (record.outcome == UpgradeOutcome::upgraded) ++done;
    if (record.outcome == UpgradeOutcome::not_started) ++not_started;
  }
  // At most the three others running beside meter-1 finished.
  CHECK(done <= 3);
  CHECK(not_started >= 16);
  CHECK(done + not_started + 1 == 20);
}

TEST_CASE("Waves run one after the other: 1, 5%, 100% over 100 meters", "[cli][rollout]") {
  const auto meters = fleet(100);
  auto state = fresh_state(meters);
  std::mutex mutex;
  std::vector<std::string> phases;
  struct PhaseRecorder final : public FleetProgress {
    std::vector<std::string>* phases;
    void started(std::size_t) override {}
    void step(std::size_t, std::string_view) override {}
    void finished(std::size_t, const MeterResult&) override {}
    void phase(std::string_view text) override { phases->emplace_back(text); }
  };
  // Meter index -> how many meters had finished when it started.
  std::vector<int> finished_before(100, -1);
  std::atomic<int> finished{0};
  const UpgradeTask task = [&](const InventoryMeter& meter, const StatusCallback&) {
    const auto index = static_cast<std::size_t>(std::stoi(meter.name.substr(6)) - 1);
    finished_before[index] = finished.load();
    UpgradeRecord record;
    record.outcome = UpgradeOutcome::upgraded;
    ++finished;
    return record;
  };
  RolloutSettings settings;
  settings.parallel = 8;
  settings.waves = parse_waves("1,5%,100%").value();
  Kept kept;
  const auto result = run_rollout(
      meters, state, settings, task,
      [&](const std::vector<InventoryMeter>&) {
        auto recorder = std::make_unique<PhaseRecorder>();
        recorder->phases = &phases;
        return std::unique_ptr<FleetProgress>(std::move(recorder));
      },
      kept.keeper());
  REQUIRE(result);
  CHECK(phases == std::vector<std::string>{"wave 1/3: 1 meter", "wave 2/3: 4 meters", "wave 3/3: 95 meters"});
  CHECK(finished_before[0] == 0);
  // Wave 2 (meters 2..5) starts after wave 1; wave 3 after both.
  for (std::size_t i = 1; i < 5; ++i) CHECK(finished_before[i] >= 1);
  for (std::size_t i = 5; i < 100; ++i) CHECK(finished_before[i] >= 5);
}

TEST_CASE("A failure in the canary wave stops the rollout before wave 2", "[cli][rollout]") {
  const auto meters = fleet(10);
  auto state = fresh_state(meters);
  FakeFleet fake;
  fake.failing = {"meter-1"};
  RolloutSettings settings;
  settings.waves = parse_waves("1,100%").value();
  Kept kept;
  const auto result = run_rollout(meters, state, settings, fake.task(), silent(), kept.keeper());
  REQUIRE(result);
  CHECK(result->stopped);
  CHECK(fake.started == std::vector<std::string>{"meter-1"});
}

TEST_CASE("A wave list that leaves meters out is refused before any meter is contacted", "[cli][rollout]") {
  const auto meters = fleet(10);
  auto state = fresh_state(meters);
  FakeFleet fake;
  RolloutSettings settings;
  settings.waves = parse_waves("1,5").value();
  Kept kept;
  const auto result = run_rollout(meters, state, settings, fake.task(), silent(), kept.keeper());
  REQUIRE_FALSE(result);
  CHECK(result.error().code == exit_usage);
  CHECK(fake.started.empty());
  CHECK(kept.states.empty());
}

TEST_CASE("A resumed rollout leaves settled meters alone and counts failures from zero", "[cli][rollout]") {
  const auto meters = fleet(8);
  // The run before: two upgraded, one skipped, three failed (over --max-failures 2, so it
  // stopped), two never started.
  RolloutState before = fresh_state(meters);
  before.meters["meter-1"].outcome = UpgradeOutcome::upgraded;
  before.meters["meter-2"].outcome = UpgradeOutcome::upgraded;
  before.meters["meter-3"].outcome = UpgradeOutcome::skipped;
  for (const auto* name : {"meter-4", "meter-5", "meter-6"}) before.meters[name].outcome = UpgradeOutcome::failed;
  before.stopped = true;
  before.stop_reason = "rollout stopped: 3 failures exceed --max-failures 2";
  auto state = start_rollout_state(before, true, "f.rollout.json", k_sha, "f.yaml", names(meters)).value();

  FakeFleet fake;
  fake.failing = {"meter-5", "meter-7"};
  RolloutSettings settings;
  settings.parallel = 1;
  settings.max_failures = {false, 2};
  Kept kept;
  const auto result = run_rollout(meters, state, settings, fake.task(), silent(), kept.keeper());
  REQUIRE(result);
  // Only the failed and not-started meters were contacted.
  CHECK(fake.started == std::vector<std::string>{"meter-4", "meter-5", "meter-6", "meter-7", "meter-8"});
  // Three failures before plus two now would exceed 2; the count starts again, so two
  // failures in this run do not stop it.
  CHECK(result->failures == 2);
  CHECK_FALSE(result->stopped);
  CHECK(result->records[0].outcome == UpgradeOutcome::upgraded);
  CHECK(result->records[2].outcome == UpgradeOutcome::skipped);
  CHECK(result->records[3].outcome == UpgradeOutcome::upgraded);
  CHECK(result->records[4].outcome == UpgradeOutcome::failed);
  CHECK_FALSE(state.stopped);
  CHECK(rollout_exit_code(*result) == 1);

  // Once the meters are fixed, a third run touches only them and finishes clean.
  fake.failing.clear();
  fake.started.clear();
  auto third = start_rollout_state(state, true, "f.rollout.json", k_sha, "f.yaml", names(meters)).value();
  const auto last = run_rollout(meters, third, settings, fake.task(), silent(), kept.keeper());
  REQUIRE(last);
  CHECK(fake.started == std::vector<std::string>{"meter-5", "meter-7"});
  CHECK(rollout_exit_code(*last) == 0);
}

TEST_CASE("A rollout whose state file cannot be written stops", "[cli][rollout]") {
  const auto meters = fleet(4);
  auto state = fresh_state(meters);
  FakeFleet fake;
  RolloutSettings settings;
  settings.parallel = 1;
  const auto result = run_rollout(meters, state, settings, fake.task(), silent(),
                                  [](const RolloutState&) -> proto::Result<proto::Ok, std::string> {
                                    return proto::unexpected(std::string("disk full"));
                                  });
  REQUIRE(result);
  CHECK(result->stopped);
  CHECK(result->stop_reason.find("disk full") != std::string::npos);
  CHECK(fake.started.size() == 1);
}

TEST_CASE("Percent thresholds count the selected meters", "[cli][rollout]") {
  const auto meters = fleet(40);
  auto state = fresh_state(meters);
  FakeFleet fake;
  fake.failing = {"meter-1", "meter-2", "meter-3"};
  RolloutSettings settings;
  settings.parallel = 1;
  settings.max_failures = {true, 500};  // 5% of 40: 2 tolerated
  settings.threshold_source = "the inventory's rollout.max_failures";
  Kept kept;
  const auto result = run_rollout(meters, state, settings, fake.task(), silent(), kept.keeper());
  REQUIRE(result);
  CHECK(result->tolerated == 2);
  CHECK(result->stopped);
  CHECK(result->stop_reason ==
        "rollout stopped: 3 failures exceed the inventory's rollout.max_failures 5% (2 of 40 meters)");
}
