#include "cli/rollout_state.hpp"

#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "cli/exit_codes.hpp"

using namespace cli;

namespace {

const std::string k_sha = std::string(64, 'a');
const std::string k_other_sha = std::string(64, 'b');

UpgradeRecord record(UpgradeOutcome outcome, std::string reason = {}) {
  UpgradeRecord r;
  r.outcome = outcome;
  r.reason = std::move(reason);
  return r;
}

RolloutState sample() {
  RolloutState state;
  state.package_sha256 = k_sha;
  state.inventory = "fleet/inventory.yaml";
  UpgradeRecord upgraded;
  upgraded.outcome = UpgradeOutcome::upgraded;
  upgraded.meter = "127.0.0.1:7443";
  upgraded.serial_number = "MJ-2301-0001";
  upgraded.before = "4.0.0";
  upgraded.after = "4.6.0";
  upgraded.backup = "/var/backups/MJ-2301-0001-20250101T000000Z.mbak";
  upgraded.duration_ms = 4200;
  state.meters["meter-1"] = upgraded;
  state.meters["meter-2"] = record(UpgradeOutcome::failed, "meter fell back to 4.0.0: exited with status 3 on 3 boots");
  state.meters["meter-3"] = record(UpgradeOutcome::not_started);
  state.meters["meter-4"] = record(UpgradeOutcome::skipped, "already runs 4.6.0");
  state.stopped = true;
  state.stop_reason = "rollout stopped: 1 failure exceeds --max-failures 0";
  return state;
}

class TemporaryDirectory {
 public:
  TemporaryDirectory() {
    char name[] = "/tmp/rollout-state-XXXXXX";
    REQUIRE(::mkdtemp(name) != nullptr);
    path_ = name;
  }
  ~TemporaryDirectory() { std::filesystem::remove_all(path_); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace

TEST_CASE("A rollout state survives its own file format", "[cli][rollout]") {
  const auto state = sample();
  const auto text = format_rollout_state(state);
  const auto parsed = parse_rollout_state(text, "state.json");
  REQUIRE(parsed);
  CHECK(*parsed == state);
  const auto document = nlohmann::json::parse(text);
  CHECK(document["format_version"] == 1);
  CHECK(document["meters"]["meter-2"]["outcome"] == "failed");
  CHECK(document["meters"]["meter-3"]["before"].is_null());
  CHECK(document["stopped"] == true);
}

TEST_CASE("A rollout state file that is not one is refused with what is wrong", "[cli][rollout]") {
  const std::pair<const char*, const char*> cases[] = {
      {"", "not a JSON object"},
      {"[]", "not a JSON object"},
      {R"({"package_sha256": "x"})", "no format_version"},
      {R"({"format_version": 2})", "format_version 2"},
      {R"({"format_version": 1, "package_sha256": "ABC", "meters": {}})", "package_sha256"},
      {R"({"format_version": 1, "package_sha256": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"})",
       "meters is not an object"},
      {R"({"format_version": 1, "package_sha256": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
           "meters": {"m": {"outcome": "exploded"}}})",
       "meters.m.outcome 'exploded'"},
      {R"({"format_version": 1, "package_sha256": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
           "meters": {"m": {"outcome": "failed", "reason": 3}}})",
       "meters.m.reason is not a string"},
      {R"({"format_version": 1, "package_sha256": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
           "meters": {"../x": {"outcome": "failed"}}})",
       "is not a meter name"},
      {R"({"format_version": 1, "package_sha256": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
           "meters": {"m": {"outcome": "failed", "duration_ms": -1}}})",
       "duration_ms"},
      {R"({"format_version": 1, "package_sha256": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
           "meters": {}, "stopped": "yes"})",
       "stopped is not true or false"},
  };
  for (const auto& [text, expected] : cases) {
    INFO(text);
    const auto parsed = parse_rollout_state(text, "fleet.rollout.json");
    REQUIRE_FALSE(parsed);
    CHECK(parsed.error().find("fleet.rollout.json") == 0);
    CHECK(parsed.error().find(expected) != std::string::npos);
  }
}

TEST_CASE("The state file is written whole and read back; none is not an error", "[cli][rollout]") {
  TemporaryDirectory directory;
  const auto file = directory.path() / "inventory.yaml.rollout.json";
  CHECK(default_state_file(directory.path() / "inventory.yaml") == file);
  const auto none = load_rollout_state(file);
  REQUIRE(none);
  CHECK_FALSE(none->has_value());
  REQUIRE(save_rollout_state(file, sample()));
  auto state = sample();
  state.meters["meter-3"] = record(UpgradeOutcome::upgraded);
  REQUIRE(save_rollout_state(file, state));
  const auto loaded = load_rollout_state(file);
  REQUIRE(loaded);
  REQUIRE(loaded->has_value());
  CHECK(**loaded == state);
  // Replaced by rename: no temporary file is left beside it.
  std::size_t files = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(directory.path())) ++files;
  CHECK(files == 1);
  std::ofstream(file) << "{";
  CHECK_FALSE(load_rollout_state(file));
}

TEST_CASE("Resuming contacts failed and not-started meters, never upgraded or skipped ones", "[cli][rollout]") {
  const auto state = sample();
  CHECK(settled(state, "meter-1"));
  CHECK_FALSE(settled(state, "meter-2"));
  CHECK_FALSE(settled(state, "meter-3"));
  CHECK(settled(state, "meter-4"));
  CHECK_FALSE(settled(state, "meter-5"));  // not in the file: new to the rollout
  auto dry = state;
  dry.meters["meter-1"] = record(UpgradeOutcome::dry_run);
  CHECK_FALSE(settled(dry, "meter-1"));
}

TEST_CASE("Where a run starts: a new rollout, a resumed one, or a refusal", "[cli][rollout]") {
  const std::filesystem::path file = "fleet.yaml.rollout.json";
  const std::vector<std::string> selected = {"meter-1", "meter-2", "meter-5"};

  SECTION("no state file: every selected meter not started") {
    const auto state = start_rollout_state(std::nullopt, false, file, k_sha, "fleet.yaml", selected);
    REQUIRE(state);
    CHECK(state->package_sha256 == k_sha);
    CHECK(state->meters.size() == 3);
    for (const auto& [name, entry] : state->meters) CHECK(entry.outcome == UpgradeOutcome::not_started);
  }
  SECTION("--resume without a state file") {
    const auto state = start_rollout_state(std::nullopt, true, file, k_sha, "fleet.yaml", selected);
    REQUIRE_FALSE(state);
    CHECK(state.error().code == exit_usage);
    CHECK(state.error().message.find("no state file fleet.yaml.rollout.json") != std::string::npos);
  }
  SECTION("a state file of this package without --resume") {
    const auto state = start_rollout_state(sample(), false, file, k_sha, "fleet.yaml", selected);
    REQUIRE_FALSE(state);
    CHECK(state.error().code == exit_usage);
    CHECK(state.error().message.find("a rollout of this package has a state file") == 0);
    CHECK(state.error().message.find("--resume to continue") != std::string::npos);
  }
  SECTION("a state file of another package without --resume") {
    const auto state = start_rollout_state(sample(), false, file, k_other_sha, "fleet.yaml", selected);
    REQUIRE_FALSE(state);
    CHECK(state.error().code == exit_usage);
    CHECK(state.error().message.find("another package") != std::string::npos);
  }
  SECTION("--resume of another package's state file is a data error") {
    const auto state = start_rollout_state(sample(), true, file, k_other_sha, "fleet.yaml", selected);
    REQUIRE_FALSE(state);
    CHECK(state.error().code == exit_data);
    CHECK(state.error().message.find(k_other_sha) != std::string::npos);
  }
  SECTION("--resume keeps what was done, adds new meters and clears the stop") {
    const auto state = start_rollout_state(sample(), true, file, k_sha, "fleet.yaml", selected);
    REQUIRE(state);
    CHECK_FALSE(state->stopped);
    CHECK(state->stop_reason.empty());
    CHECK(state->meters.at("meter-1").outcome == UpgradeOutcome::upgraded);
    CHECK(state->meters.at("meter-2").outcome == UpgradeOutcome::failed);
    CHECK(state->meters.at("meter-5").outcome == UpgradeOutcome::not_started);
    // Meters of the file this run does not select stay as they were.
    CHECK(state->meters.at("meter-4").outcome == UpgradeOutcome::skipped);
  }
}
