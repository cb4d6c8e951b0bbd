#include "firmware/boot_decisions.hpp"

#include <catch2/catch.hpp>

#include <csignal>

using namespace meterd;
using proto::model::Version;

namespace {

constexpr std::int64_t k_now = 1'780'000'000;

BootRecord committed_record() {
  auto record = first_boot_record("/usr/sbin/meterd", "2026-01-01T00:00:00Z");
  record.slot(Slot::b) = SlotRecord{.factory = false,
                                    .version = Version{4, 6, 0},
                                    .executable = "/state/firmware/slot-b/meterd",
                                    .installed_at = "2026-02-01T00:00:00Z",
                                    .key_id = "0123456789abcdef",
                                    .payload_sha256 = std::string(64, 'a')};
  return record;
}

BootRecord trial_record(int attempts, int max_attempts = 3) {
  auto record = committed_record();
  record.rollback_floor = Version{3, 0, 0};
  record.trial = TrialRecord{.slot = Slot::b,
                             .attempts = attempts,
                             .max_attempts = max_attempts,
                             .health_deadline_s = 30,
                             .from_version = Version{4, 0, 0},
                             .to_version = Version{4, 6, 0},
                             .floor_on_commit = Version{4, 0, 0},
                             .requested_at = k_now - 10};
  return record;
}

}  // namespace

TEST_CASE("Without a trial the active slot boots and the record is left alone", "[firmware][supervisor]") {
  const auto decision = decide_boot(committed_record(), {}, k_now);
  CHECK(decision.slot == Slot::a);
  CHECK_FALSE(decision.trial);
  CHECK_FALSE(decision.record_to_save);
  CHECK_FALSE(decision.fell_back_because);
  // Whatever happened before: the counter changes only while a trial is pending.
  const TrialHistory history{.failures = {"exited with status 3"}, .fall_back = std::nullopt};
  const auto after_failures = decide_boot(committed_record(), history, k_now);
  CHECK_FALSE(after_failures.record_to_save);
}

TEST_CASE("A trial boot is counted before it runs", "[firmware][supervisor]") {
  const auto decision = decide_boot(trial_record(0), {}, k_now);
  CHECK(decision.slot == Slot::b);
  CHECK(decision.trial);
  CHECK(decision.attempt == 1);
  CHECK(decision.max_attempts == 3);
  CHECK(decision.health_deadline_s == 30);
  REQUIRE(decision.record_to_save);
  CHECK(decision.record_to_save->trial->attempts == 1);
  CHECK(decision.record_to_save->active == Slot::a);
  CHECK_FALSE(decision.fell_back_because);

  const auto last = decide_boot(trial_record(2), {}, k_now);
  CHECK(last.trial);
  CHECK(last.attempt == 3);
}

TEST_CASE("A trial whose boots are used up falls back, saying how they ended", "[firmware][supervisor]") {
  SECTION("every boot ended the same way") {
    const TrialHistory history{.failures = {"exited with status 3", "exited with status 3", "exited with status 3"},
                               .fall_back = std::nullopt};
    const auto decision = decide_boot(trial_record(3), history, k_now);
    CHECK(decision.slot == Slot::a);
    CHECK_FALSE(decision.trial);
    REQUIRE(decision.fell_back_because);
    CHECK(*decision.fell_back_because == "exited with status 3 on 3 boots");
    REQUIRE(decision.record_to_save);
    const auto& record = *decision.record_to_save;
    CHECK_FALSE(record.trial);
    CHECK(record.active == Slot::a);
    CHECK(record.rollback_floor == Version{3, 0, 0});
    REQUIRE(record.last_outcome);
    CHECK_FALSE(record.last_outcome->committed);
    CHECK(record.last_outcome->slot == Slot::b);
    CHECK(record.last_outcome->version == Version{4, 6, 0});
    CHECK(record.last_outcome->reason == "exited with status 3 on 3 boots");
    CHECK(record.last_outcome->at == k_now);
  }
  SECTION("the boots ended differently") {
    const TrialHistory history{.failures = {"killed by signal 11 (SIGSEGV)", "exited with status 3"},
                               .fall_back = std::nullopt};
    const auto decision = decide_boot(trial_record(2, 2), history, k_now);
    CHECK(*decision.fell_back_because == "exited with status 3 on the last of 2 boots");
  }
  SECTION("the boots happened under a supervisor that is gone") {
    const auto decision = decide_boot(trial_record(3), {}, k_now);
    CHECK(*decision.fell_back_because == "no health report in 3 boots");
  }
  SECTION("one boot") {
    const TrialHistory history{.failures = {"exited with status 1"}, .fall_back = std::nullopt};
    const auto decision = decide_boot(trial_record(1, 1), history, k_now);
    CHECK(*decision.fell_back_because == "exited with status 1 on 1 boot");
  }
}

TEST_CASE("A missed health deadline falls back at once", "[firmware][supervisor]") {
  const auto decision = decide_boot(trial_record(1), {.failures = {}, .fall_back = missed_deadline_reason(30)}, k_now);
  CHECK(decision.slot == Slot::a);
  REQUIRE(decision.fell_back_because);
  CHECK(*decision.fell_back_because == "no health report within 30 s");
  CHECK(decision.record_to_save->last_outcome->reason == "no health report within 30 s");
}

TEST_CASE("A healthy trial commits: its slot becomes active and the floor rises", "[firmware][supervisor]") {
  const auto committed = commit_trial(trial_record(1), k_now);
  CHECK(committed.active == Slot::b);
  CHECK_FALSE(committed.trial);
  CHECK(committed.rollback_floor == Version{4, 0, 0});
  REQUIRE(committed.last_outcome);
  CHECK(committed.last_outcome->committed);
  CHECK(committed.last_outcome->slot == Slot::b);
  CHECK(committed.last_outcome->version == Version{4, 6, 0});
  CHECK(committed.last_outcome->reason.empty());
  CHECK(committed.slots == trial_record(1).slots);

  // A floor already higher than the trial's stays.
  auto high = trial_record(1);
  high.rollback_floor = Version{4, 5, 0};
  CHECK(commit_trial(high, k_now).rollback_floor == Version{4, 5, 0});
  auto none = trial_record(1);
  none.rollback_floor.reset();
  none.trial->floor_on_commit.reset();
  CHECK_FALSE(commit_trial(none, k_now).rollback_floor);
  // Booting the committed record runs the new slot without counting anything.
  const auto next = decide_boot(committed, {}, k_now);
  CHECK(next.slot == Slot::b);
  CHECK_FALSE(next.record_to_save);
}

TEST_CASE("What follows the end of a firmware process", "[firmware][supervisor]") {
  SECTION("a trial boot that ends unhealthy boots again and is remembered") {
    const auto after = decide_after_run({.end = ChildEnd::exited(3), .trial = true, .healthy = false});
    CHECK(after.step == NextStep::boot_now);
    CHECK(after.trial_failure == "exited with status 3");
    const auto crashed = decide_after_run({.end = ChildEnd::killed(SIGSEGV), .trial = true});
    CHECK(crashed.trial_failure == "killed by signal 11 (SIGSEGV)");
  }
  SECTION("a firmware asking to reboot boots again at once") {
    const auto after = decide_after_run({.end = ChildEnd::exited(k_exit_reboot), .healthy = true});
    CHECK(after.step == NextStep::boot_now);
    CHECK_FALSE(after.trial_failure);
  }
  SECTION("a committed firmware that never got healthy ends the supervisor with its status") {
    CHECK(decide_after_run({.end = ChildEnd::exited(78)}).step == NextStep::exit);
    CHECK(decide_after_run({.end = ChildEnd::exited(78)}).exit_status == 78);
    CHECK(decide_after_run({.end = ChildEnd::exited(0)}).exit_status == 0);
    CHECK(decide_after_run({.end = ChildEnd::killed(SIGABRT)}).exit_status == 128 + SIGABRT);
  }
  SECTION("a committed firmware that dies after being healthy boots again after a pause") {
    CHECK(decide_after_run({.end = ChildEnd::killed(SIGKILL), .healthy = true}).step == NextStep::boot_after_pause);
    CHECK(decide_after_run({.end = ChildEnd::exited(1), .healthy = true}).step == NextStep::boot_after_pause);
    // Stopped cleanly by someone else: that was on purpose.
    CHECK(decide_after_run({.end = ChildEnd::exited(0), .healthy = true}).step == NextStep::exit);
  }
  SECTION("a stop the supervisor passed on ends it with 0, or the firmware's own failure") {
    CHECK(decide_after_run({.end = ChildEnd::exited(0), .healthy = true, .stopping = true}).exit_status == 0);
    CHECK(decide_after_run({.end = ChildEnd::killed(SIGTERM), .stopping = true}).exit_status == 0);
    CHECK(decide_after_run({.end = ChildEnd::exited(k_exit_reboot), .stopping = true}).exit_status == 0);
    CHECK(decide_after_run({.end = ChildEnd::exited(70), .stopping = true}).exit_status == 70);
    CHECK(decide_after_run({.end = ChildEnd::exited(3), .trial = true, .stopping = true}).step == NextStep::exit);
  }
}

TEST_CASE("The firmware's command line", "[firmware][supervisor]") {
  const std::vector<std::string> given = {"--state-dir", "/s", "--firmware", "4.0.0", "--modbus-port", "0",
                                          "--firmware=4.1.0"};
  const auto record = committed_record();
  SECTION("a factory slot keeps the command line's firmware") {
    const auto arguments = firmware_arguments(given, *record.slot(Slot::a));
    auto expected = given;
    expected.emplace_back("--no-supervisor");
    CHECK(arguments == expected);
  }
  SECTION("a package slot runs its own version") {
    const auto arguments = firmware_arguments(given, *record.slot(Slot::b));
    CHECK(arguments == std::vector<std::string>{"--state-dir", "/s", "--modbus-port", "0", "--firmware", "4.6.0",
                                                "--no-supervisor"});
  }
}

TEST_CASE("How a firmware process ended, in words", "[firmware][supervisor]") {
  CHECK(describe(ChildEnd::exited(3)) == "exited with status 3");
  CHECK(describe(ChildEnd::killed(SIGKILL)) == "killed by signal 9 (SIGKILL)");
  CHECK(shell_status(ChildEnd::killed(SIGKILL)) == 137);
  CHECK(shell_status(ChildEnd::exited(64)) == 64);
}

TEST_CASE("A first boot record runs the factory meterd from slot a", "[firmware][supervisor]") {
  const auto record = first_boot_record("/usr/sbin/meterd", "2026-01-01T00:00:00Z");
  CHECK(record.active == Slot::a);
  REQUIRE(record.slot(Slot::a));
  CHECK(record.slot(Slot::a)->factory);
  CHECK_FALSE(record.slot(Slot::a)->version);
  CHECK(record.slot(Slot::a)->executable == "/usr/sbin/meterd");
  CHECK_FALSE(record.slot(Slot::b));
  CHECK_FALSE(record.trial);
  // The parser accepts what the supervisor writes.
  CHECK(parse_boot_record(format_boot_record(record), "boot.json"));
}

TEST_CASE("boot ports: the health report carries them and a later boot reads them back", "[boot][supervisor]") {
  const meterd::BootPorts ports{std::uint16_t{40123}, std::uint16_t{40124}, std::nullopt};
  CHECK(meterd::format_boot_ports(ports) == "40123 40124 -");
  CHECK(meterd::parse_boot_ports("40123 40124 -") == ports);
  const auto report = meterd::health_report(ports);
  CHECK(report == "ports 40123 40124 -\nhealthy\n");
  CHECK(meterd::reported_ports(report) == ports);
  CHECK_FALSE(meterd::reported_ports("healthy\n"));
  for (const auto* bad : {"", "1 2", "1 2 3 4", "0 1 2", "65536 1 2", "a 1 2", "1  2 3", "1 2 3 ", "-1 2 3"}) {
    INFO(bad);
    CHECK_FALSE(meterd::parse_boot_ports(bad));
  }
}
