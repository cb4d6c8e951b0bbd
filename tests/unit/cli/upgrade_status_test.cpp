#include "cli/upgrade_status.hpp"

#include <catch2/catch.hpp>

#include <map>

using namespace cli;
using proto::model::Version;

namespace {

nlohmann::json sample() {
  return nlohmann::json::parse(R"({
    "model": "ION7400", "feature_set": "Advanced", "serial_number": "MJ-2301-0001",
    "running": {"slot": "b", "version": "4.6.0", "vendor_version": "V004.006.000"},
    "supervised": true,
    "slots": {
      "a": {"version": "4.0.0", "factory": true, "installed_at": "2025-01-01T00:00:00Z", "key_id": "",
            "payload_sha256": ""},
      "b": {"version": "4.6.0", "factory": false, "installed_at": "2025-06-01T12:00:00Z",
            "key_id": "1a2b3c4d5e6f7081", "payload_sha256": "ab"}
    },
    "active": "b",
    "trial": null,
    "rollback_floor": "4.0.0",
    "last_outcome": {"committed": true, "slot": "b", "version": "4.6.0", "reason": "", "at": 1748779200},
    "trusted_key_ids": ["1a2b3c4d5e6f7081"],
    "upload": {"length": 1048576, "sha256": "cd", "offset": 65536}
  })");
}

std::map<std::string, std::string> rows_of(const UpgradeStatus& status) {
  std::map<std::string, std::string> rows;
  for (const auto& row : status_rows(status)) rows[row.at(0)] = row.at(1);
  return rows;
}

}  // namespace

TEST_CASE("upgrade.status answers are read into what meterctl decides on", "[cli][upgrade]") {
  const auto status = parse_upgrade_status(sample());
  REQUIRE(status);
  CHECK(status->model == "ION7400");
  CHECK(status->running_slot == "b");
  CHECK(status->running_version == Version{4, 6, 0});
  CHECK(status->supervised);
  REQUIRE(status->slots[0]);
  CHECK(status->slots[0]->factory);
  REQUIRE(status->slots[1]);
  CHECK(status->slots[1]->key_id == "1a2b3c4d5e6f7081");
  CHECK(status->rollback_floor == Version{4, 0, 0});
  REQUIRE(status->last_outcome);
  CHECK(status->last_outcome->committed);
  CHECK(status->trusted_key_ids == std::vector<std::string>{"1a2b3c4d5e6f7081"});
  REQUIRE(status->upload);
  CHECK(status->upload->offset == 65536);

  const auto rows = rows_of(*status);
  CHECK(rows.at("running") == "4.6.0 (V004.006.000), slot b");
  CHECK(rows.at("slot_a") == "4.0.0, factory, installed 2025-01-01T00:00:00Z");
  CHECK(rows.at("slot_b") == "4.6.0, package, key 1a2b3c4d5e6f7081, installed 2025-06-01T12:00:00Z");
  CHECK(rows.at("active_slot") == "b");
  CHECK(rows.at("trial") == "none");
  CHECK(rows.at("rollback_floor") == "4.0.0");
  CHECK(rows.at("last_outcome") == "committed 4.6.0 in slot b at 2025-06-01T12:00:00Z");
  CHECK(rows.at("pending_upload") == "65536 of 1048576 bytes, sha256 cd");
}

TEST_CASE("A pending trial, a fallback and an unsupervised meter are shown as such", "[cli][upgrade]") {
  auto answer = sample();
  answer["trial"] = {{"slot", "b"},           {"attempts", 1},           {"max_attempts", 3},
                     {"health_deadline_s", 60}, {"from_version", "4.0.0"}, {"to_version", "4.6.0"}};
  answer["last_outcome"] = {{"committed", false}, {"slot", "b"},    {"version", "4.6.0"},
                            {"reason", "no health report within 60 s"}, {"at", 0}};
  answer["running"]["slot"] = nullptr;
  answer["upload"] = nullptr;
  answer["slots"]["b"] = nullptr;
  const auto status = parse_upgrade_status(answer);
  REQUIRE(status);
  REQUIRE(status->trial);
  CHECK(status->trial->to_version == Version{4, 6, 0});
  CHECK_FALSE(status->running_slot);
  const auto rows = rows_of(*status);
  CHECK(rows.at("trial") == "slot b, 4.0.0 -> 4.6.0, attempt 1 of 3, health deadline 60 s");
  CHECK(rows.at("last_outcome") == "fell back from 4.6.0 (slot b): no health report within 60 s");
  CHECK(rows.at("running") == "4.6.0 (V004.006.000), not supervised");
  CHECK(rows.at("slot_b") == "empty");
  CHECK(rows.at("pending_upload") == "none");
}

TEST_CASE("An upgrade.status answer without what meterctl needs names the member", "[cli][upgrade]") {
  const std::pair<std::function<void(nlohmann::json&)>, const char*> cases[] = {
      {[](nlohmann::json& a) { a.erase("model"); }, "model is missing"},
      {[](nlohmann::json& a) { a["running"] = "4.6.0"; }, "running is not an object"},
      {[](nlohmann::json& a) { a["running"]["version"] = "4.six"; }, "running.version '4.six' is not a version"},
      {[](nlohmann::json& a) { a["trusted_key_ids"] = "x"; }, "trusted_key_ids is not a list"},
      {[](nlohmann::json& a) { a["trial"] = {{"slot", "b"}}; }, "trial.attempts is missing"},
      {[](nlohmann::json& a) {
         a["trial"] = {{"slot", "b"},           {"attempts", -1},          {"max_attempts", 3},
                       {"health_deadline_s", 60}, {"from_version", "4.0.0"}, {"to_version", "4.6.0"}};
       },
       "trial.attempts is not a number"},
      {[](nlohmann::json& a) { a["upload"]["offset"] = 2000000; }, "upload.offset is not a number"},
      {[](nlohmann::json& a) { a["last_outcome"]["committed"] = "yes"; }, "last_outcome.committed"},
      {[](nlohmann::json& a) { a["slots"]["a"] = 3; }, "slots.a is not an object"},
  };
  for (const auto& [change, expected] : cases) {
    auto answer = sample();
    change(answer);
    INFO(answer.dump());
    const auto status = parse_upgrade_status(answer);
    REQUIRE_FALSE(status);
    CHECK(status.error().find(expected) != std::string::npos);
  }
  CHECK_FALSE(parse_upgrade_status(nlohmann::json::array()));
}
