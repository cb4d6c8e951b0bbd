#include "firmware/boot_record.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <fstream>
#include <functional>
#include <random>
#include <thread>

#include <nlohmann/json.hpp>

using namespace meterd;
using nlohmann::json;
using proto::model::Version;

namespace {

std::filesystem::path fresh_directory() {
  std::random_device entropy;
  auto path = std::filesystem::temp_directory_path() / ("meterd-boot-record-test-" + std::to_string(entropy()));
  std::filesystem::create_directories(path);
  return path;
}

// Both slots filled, a trial pending and an earlier outcome: every member set.
BootRecord full_record() {
  BootRecord record;
  record.active = Slot::a;
  record.slot(Slot::a) = SlotRecord{.factory = true,
                                    .version = std::nullopt,
                                    .executable = "/usr/sbin/meterd",
                                    .installed_at = "2026-01-02T03:04:05Z",
                                    .key_id = {},
                                    .payload_sha256 = {}};
  record.slot(Slot::b) = SlotRecord{.factory = false,
                                    .version = Version{4, 6, 0},
                                    .executable = "/var/lib/meterd/firmware/slot-b/meterd",
                                    .installed_at = "2026-02-03T04:05:06Z",
                                    .key_id = "0123456789abcdef",
                                    .payload_sha256 = std::string(64, 'e')};
  record.trial = TrialRecord{.slot = Slot::b,
                             .attempts = 2,
                             .max_attempts = 3,
                             .health_deadline_s = 45,
                             .from_version = Version{4, 0, 0},
                             .to_version = Version{4, 6, 0},
                             .floor_on_commit = Version{4, 0, 0},
                             .requested_at = 1'770'000'000};
  record.rollback_floor = Version{3, 2, 0};
  record.last_outcome = BootOutcome{.committed = false,
                                    .slot = Slot::b,
                                    .version = Version{4, 5, 0},
                                    .reason = "exited with status 3 on 3 boots",
                                    .at = 1'760'000'000};
  return record;
}

json document_of(const BootRecord& record) { return json::parse(format_boot_record(record)); }

std::string refusal_of(const json& document) {
  const auto parsed = parse_boot_record(document.dump(), "/state/firmware/boot.json");
  REQUIRE_FALSE(parsed);
  return parsed.error();
}

}  // namespace

TEST_CASE("A boot record round trips through its JSON", "[firmware][boot_record]") {
  for (const auto& record : {full_record(), BootRecord{.active = Slot::a,
                                                       .slots = {full_record().slot(Slot::a), std::nullopt},
                                                       .trial = std::nullopt,
                                                       .rollback_floor = std::nullopt,
                                                       .last_outcome = std::nullopt}}) {
    const auto text = format_boot_record(record);
    const auto parsed = parse_boot_record(text, "boot.json");
    REQUIRE(parsed);
    CHECK(*parsed == record);
    CHECK(format_boot_record(*parsed) == text);
  }
}

TEST_CASE("A boot record says what it holds in named members", "[firmware][boot_record]") {
  const auto document = document_of(full_record());
  CHECK(document["format_version"] == 1);
  CHECK(document["active"] == "a");
  CHECK(document["slots"]["a"]["version"].is_null());
  CHECK(document["slots"]["b"]["version"] == "4.6.0");
  CHECK(document["trial"]["slot"] == "b");
  CHECK(document["trial"]["attempts"] == 2);
  CHECK(document["trial"]["floor_on_commit"] == "4.0.0");
  CHECK(document["rollback_floor"] == "3.2.0");
  CHECK(document["last_outcome"]["reason"] == "exited with status 3 on 3 boots");
}

TEST_CASE("A damaged boot record is refused with the file and the member named", "[firmware][boot_record]") {
  const auto good = document_of(full_record());
  struct Damage {
    const char* name;
    std::function<void(json&)> apply;
    const char* expected;
  };
  const std::vector<Damage> damages = {
      {"newer format", [](json& d) { d["format_version"] = 2; }, "format_version"},
      {"unknown member", [](json& d) { d["extra"] = true; }, "extra is not a member"},
      {"no active", [](json& d) { d.erase("active"); }, "active is missing"},
      {"active c", [](json& d) { d["active"] = "c"; }, "active is not \"a\" or \"b\""},
      {"active empty slot", [](json& d) { d["slots"]["a"] = nullptr; }, "holds nothing"},
      {"relative executable", [](json& d) { d["slots"]["b"]["executable"] = "meterd"; }, "absolute path"},
      {"package without version", [](json& d) { d["slots"]["b"]["version"] = nullptr; }, "version is missing"},
      {"bad version", [](json& d) { d["slots"]["b"]["version"] = "4.6"; }, "slots.b.version is not a version"},
      {"short hash", [](json& d) { d["slots"]["b"]["payload_sha256"] = "abc"; }, "payload_sha256"},
      {"upper hex key", [](json& d) { d["slots"]["b"]["key_id"] = "ABCDEF"; }, "key_id"},
      {"trial of active", [](json& d) { d["trial"]["slot"] = "a"; }, "trial.slot is the active slot"},
      {"trial of empty slot",
       [](json& d) {
         d["slots"]["b"] = nullptr;
       },
       "trial.slot names a slot that holds nothing"},
      {"attempts above max", [](json& d) { d["trial"]["attempts"] = 4; }, "trial.attempts"},
      {"negative attempts", [](json& d) { d["trial"]["attempts"] = -1; }, "trial.attempts"},
      {"zero max attempts", [](json& d) { d["trial"]["max_attempts"] = 0; }, "trial.max_attempts"},
      {"float attempts", [](json& d) { d["trial"]["attempts"] = 1.5; }, "trial.attempts"},
      {"huge deadline", [](json& d) { d["trial"]["health_deadline_s"] = 1e300; }, "trial.health_deadline_s"},
      {"zero deadline", [](json& d) { d["trial"]["health_deadline_s"] = 0; }, "trial.health_deadline_s"},
      {"string committed", [](json& d) { d["last_outcome"]["committed"] = "yes"; }, "committed is not true or false"},
      {"long reason", [](json& d) { d["last_outcome"]["reason"] = std::string(2000, 'x'); }, "reason is longer"},
      {"slots array", [](json& d) { d["slots"] = json::array(); }, "slots is not an object"},
  };
  for (const auto& damage : damages) {
    INFO(damage.name);
    auto document = good;
    damage.apply(document);
    const auto message = refusal_of(document);
    CHECK_THAT(message, Catch::Contains("/state/firmware/boot.json") && Catch::Contains(damage.expected));
  }
  CHECK_THAT(refusal_of(json::array()), Catch::Contains("not a JSON object"));
  const auto garbage = parse_boot_record("{\"active\":", "boot.json");
  REQUIRE_FALSE(garbage);
  CHECK_THAT(garbage.error(), Catch::Contains("not a JSON object"));
}

TEST_CASE("A boot record over 64 KiB is refused before it is parsed", "[firmware][boot_record]") {
  const std::string padded = format_boot_record(full_record()) + std::string(k_max_boot_record_bytes, ' ');
  const auto parsed = parse_boot_record(padded, "boot.json");
  REQUIRE_FALSE(parsed);
  CHECK_THAT(parsed.error(), Catch::Contains("larger than 65536 bytes"));

  const auto directory = fresh_directory();
  std::filesystem::create_directories(firmware_directory(directory));
  std::ofstream(firmware_directory(directory) / "boot.json") << padded;
  const auto loaded = load_boot_record(directory);
  REQUIRE_FALSE(loaded);
  CHECK_THAT(loaded.error(), Catch::Contains("larger than"));
  std::filesystem::remove_all(directory);
}

TEST_CASE("The boot record is saved owner-only in the firmware directory and loaded back", "[firmware][boot_record]") {
  const auto directory = fresh_directory();
  const auto none = load_boot_record(directory);
  REQUIRE(none);
  CHECK_FALSE(none->has_value());

  REQUIRE(save_boot_record(directory, full_record()));
  const auto file = directory / "firmware" / "boot.json";
  CHECK(std::filesystem::status(file).permissions() ==
        (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write));
  const auto loaded = load_boot_record(directory);
  REQUIRE(loaded);
  REQUIRE(loaded->has_value());
  CHECK(**loaded == full_record());
  CHECK(slot_directory(directory, Slot::b) == directory / "firmware" / "slot-b");
  CHECK(pre_trial_state_file(directory) == directory / "firmware" / "pre-trial-state.json");
  std::filesystem::remove_all(directory);
}

TEST_CASE("The boot record lock excludes a second holder until the first lets go", "[firmware][boot_record]") {
  const auto directory = fresh_directory();
  std::optional<BootRecordLock> first;
  {
    auto lock = lock_boot_record(directory);
    REQUIRE(lock);
    first.emplace(std::move(*lock));
  }
  std::atomic<bool> second_held = false;
  std::thread contender([&] {
    auto lock = lock_boot_record(directory);
    second_held = lock.has_value();
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  // flock locks belong to open file descriptions, so another open() in this process waits too.
  CHECK_FALSE(second_held);
  first.reset();
  contender.join();
  CHECK(second_held);
  std::filesystem::remove_all(directory);
}

TEST_CASE("Slots name each other and print as letters", "[firmware][boot_record]") {
  CHECK(to_string(Slot::a) == "a");
  CHECK(to_string(Slot::b) == "b");
  CHECK(other_slot(Slot::a) == Slot::b);
  CHECK(other_slot(Slot::b) == Slot::a);
  CHECK(parse_slot("b") == Slot::b);
  CHECK_FALSE(parse_slot("B"));
}
