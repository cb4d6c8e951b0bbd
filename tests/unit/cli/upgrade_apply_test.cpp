#include "cli/upgrade_apply.hpp"

#include <catch2/catch.hpp>

#include <sstream>

#include "fake_upgrade_meter.hpp"

using namespace cli;
using cli::testing::FakeUpgradeMeter;
using proto::model::Version;

namespace {

struct Package {
  std::vector<std::byte> bytes = std::vector<std::byte>(5000, std::byte{0x42});
  CheckedPackage checked;
  PackageReader read;

  explicit Package(Version version = {4, 6, 0}) {
    auto& manifest = checked.verified.manifest;
    manifest.model = "ION7400";
    manifest.firmware_version = version;
    manifest.key_id = "1a2b3c4d5e6f7081";
    checked.length = bytes.size();
    checked.sha256 = std::string(64, 'f');
    read = [this](std::uint64_t offset, std::span<std::byte> into) -> proto::Result<std::size_t, CommandError> {
      const auto count = std::min<std::size_t>(into.size(), bytes.size() - static_cast<std::size_t>(offset));
      std::copy_n(bytes.begin() + static_cast<std::ptrdiff_t>(offset), count, into.begin());
      return count;
    };
  }
};

// A clock that moves only when the upgrade waits.
struct FakeClock {
  std::chrono::steady_clock::time_point now{};
  std::vector<std::chrono::milliseconds> slept;
  ApplyClock clock() {
    ApplyClock clock;
    clock.now = [this] { return now; };
    clock.sleep = [this](std::chrono::milliseconds duration) {
      slept.push_back(duration);
      now += duration;
    };
    return clock;
  }
};

ApplySettings settings(bool dry_run = false) {
  ApplySettings applied;
  applied.backup_directory = "/backups";
  applied.dry_run = dry_run;
  applied.upload.chunk_size = 2048;
  return applied;
}

}  // namespace

TEST_CASE("One meter from 4.0.0 to 4.6.0: backup, transfer, verify, activate, healthy", "[cli][upgrade]") {
  FakeUpgradeMeter meter;
  Package package;
  FakeClock time;
  std::ostringstream lines;
  auto observer = make_plain_observer(lines);
  const auto run = apply_package(meter, package.checked, package.read, settings(), *observer, time.clock());
  const auto& record = run.record;
  CHECK(record.outcome == UpgradeOutcome::upgraded);
  CHECK(record.before == "4.0.0");
  CHECK(record.after == "4.6.0");
  CHECK(record.meter == "127.0.0.1:7443");
  CHECK(record.serial_number == "MJ-0001");
  CHECK(record.backup == "/backups/MJ-0001-20250101T000000Z.mbak");
  CHECK(record.reason.empty());
  CHECK(meter.backups == 1);
  CHECK(meter.received.size() == 5000);
  CHECK(meter.running == "4.6.0");
  CHECK(meter.requests["upgrade.activate"] == 1);
  const auto text = lines.str();
  CHECK(text.find("check ok: 4.0.0 -> 4.6.0\n") != std::string::npos);
  CHECK(text.find("backup /backups/MJ-0001-20250101T000000Z.mbak\n") != std::string::npos);
  CHECK(text.find("transfer 4.9 KiB in ") != std::string::npos);
  CHECK(text.find("verify ok\nactivate slot b\n") != std::string::npos);
  CHECK(text.find("healthy on 4.6.0\n") != std::string::npos);
  // The health check polls at its interval until the trial has ended.
  CHECK(std::count(time.slept.begin(), time.slept.end(), k_health_poll_interval) >= 3);
  CHECK_FALSE(run.effects.empty());
}

TEST_CASE("a dry run (--dry-run) checks everything and writes nothing", "[cli][upgrade]") {
  FakeUpgradeMeter meter;
  Package package;
  FakeClock time;
  auto observer = make_silent_observer();
  const auto run = apply_package(meter, package.checked, package.read, settings(true), *observer, time.clock());
  CHECK(run.record.outcome == UpgradeOutcome::dry_run);
  CHECK(run.checks.size() == 4);
  CHECK(meter.backups == 0);
  CHECK(meter.requests.count("upgrade.begin") == 0);
  CHECK(meter.requests.count("upgrade.chunk") == 0);
  CHECK(meter.requests.count("upgrade.activate") == 0);
  CHECK(meter.running == "4.0.0");
}

TEST_CASE("A meter already on the target is skipped without a backup", "[cli][upgrade]") {
  FakeUpgradeMeter meter;
  meter.running = "4.6.0";
  Package package;
  FakeClock time;
  auto observer = make_silent_observer();
  const auto run = apply_package(meter, package.checked, package.read, settings(), *observer, time.clock());
  CHECK(run.record.outcome == UpgradeOutcome::skipped);
  CHECK(run.record.reason == "already runs 4.6.0");
  CHECK(run.record.after == "4.6.0");
  CHECK(meter.backups == 0);
  CHECK(meter.requests.count("upgrade.begin") == 0);
}

TEST_CASE("Refusals before any byte: a downgrade below the floor, an untrusted key", "[cli][upgrade]") {
  FakeClock time;
  auto observer = make_silent_observer();
  SECTION("3.0.0 on a meter running 4.0.0: 65") {
    FakeUpgradeMeter meter;
    Package package(Version{3, 0, 0});
    const auto run = apply_package(meter, package.checked, package.read, settings(), *observer, time.clock());
    CHECK(run.record.outcome == UpgradeOutcome::failed);
    CHECK(run.record.exit_code == exit_data);
    CHECK(run.record.reason.find("4.0.0 or later cannot be downgraded") != std::string::npos);
    CHECK(meter.backups == 0);
    CHECK(meter.requests.count("upgrade.begin") == 0);
  }
  SECTION("a key the meter does not trust: 77") {
    FakeUpgradeMeter meter;
    meter.trusted_key_ids = {"0000000000000000"};
    Package package;
    const auto run = apply_package(meter, package.checked, package.read, settings(), *observer, time.clock());
    CHECK(run.record.exit_code == exit_denied);
    CHECK(run.record.reason.find("the meter trusts no key 1a2b3c4d5e6f7081") == 0);
    CHECK(meter.requests.count("upgrade.begin") == 0);
  }
}

TEST_CASE("A package the meter refuses after the transfer gives the meter's reason", "[cli][upgrade]") {
  FakeClock time;
  auto observer = make_silent_observer();
  FakeUpgradeMeter meter;
  Package package;
  SECTION("the signature: 77") {
    meter.finish_refusal = "the signature does not verify with key 1a2b3c4d5e6f7081 (trusted-keys/vendor.pub)";
    const auto run = apply_package(meter, package.checked, package.read, settings(), *observer, time.clock());
    CHECK(run.record.outcome == UpgradeOutcome::failed);
    CHECK(run.record.exit_code == exit_denied);
    CHECK(run.record.reason ==
          "the meter refused the package: the signature does not verify with key 1a2b3c4d5e6f7081 "
          "(trusted-keys/vendor.pub)");
  }
  SECTION("anything else: 65") {
    meter.finish_refusal = "expired on 2025-01-01";
    const auto run = apply_package(meter, package.checked, package.read, settings(), *observer, time.clock());
    CHECK(run.record.exit_code == exit_data);
  }
  CHECK(meter.requests.count("upgrade.activate") == 0);
  CHECK(meter.running == "4.0.0");
}

TEST_CASE("A trial that fails is reported as the meter's fallback, status 1", "[cli][upgrade]") {
  FakeUpgradeMeter meter;
  meter.fall_back = true;
  meter.fall_back_reason = "exited with status 3 on 3 boots";
  Package package;
  FakeClock time;
  auto observer = make_silent_observer();
  const auto run = apply_package(meter, package.checked, package.read, settings(), *observer, time.clock());
  CHECK(run.record.outcome == UpgradeOutcome::failed);
  CHECK(run.record.exit_code == 1);
  CHECK(run.record.reason == "meter fell back to 4.0.0: exited with status 3 on 3 boots");
  CHECK(run.record.after == "4.0.0");
}

TEST_CASE("A meter that never answers after activation runs out the health deadline: 75", "[cli][upgrade]") {
  FakeUpgradeMeter meter;
  meter.reboot_polls = 1000000;
  Package package;
  FakeClock time;
  auto observer = make_silent_observer();
  auto applied = settings();
  applied.health_deadline_s = 5;
  const auto run = apply_package(meter, package.checked, package.read, applied, *observer, time.clock());
  CHECK(run.record.exit_code == exit_timeout);
  CHECK(run.record.reason.find("no verdict from the meter within 45 s") == 0);
  // 5 s per boot, 3 boots, and the margin.
  CHECK(health_wait(5, 3) == std::chrono::seconds(45));
  CHECK(health_wait(60, 3) == std::chrono::seconds(210));
}

TEST_CASE("A verification whose answer is lost counts once the meter shows the package installed",
          "[cli][upgrade]") {
  // The connection drops with upgrade.finish's answer: the link reports it lost, though
  // the meter installed the package.
  struct LosingFinish final : public UpgradeLink {
    FakeUpgradeMeter meter;
    bool lost = false;
    proto::Result<nlohmann::json, CommandError> request(const std::string& operation, const nlohmann::json& arguments,
                                                        std::optional<std::chrono::milliseconds> timeout) override {
      auto answer = meter.request(operation, arguments, timeout);
      if (operation == "upgrade.finish" && !lost) {
        lost = true;
        meter.installed_slot["payload_sha256"] = std::string(64, '0');
        return proto::unexpected(CommandError{exit_timeout, "no answer from 127.0.0.1:7443 within 3000 ms"});
      }
      return answer;
    }
    proto::Result<proto::Ok, CommandError> reconnect() override { return meter.reconnect(); }
    std::filesystem::path backup(const std::filesystem::path& directory) override { return meter.backup(directory); }
    std::string describe() const override { return meter.describe(); }
  };
  LosingFinish link;
  Package package;
  FakeClock time;
  auto observer = make_silent_observer();
  const auto run = apply_package(link, package.checked, package.read, settings(), *observer, time.clock());
  CHECK(run.record.outcome == UpgradeOutcome::upgraded);
  CHECK(link.meter.requests["upgrade.finish"] == 1);
}

TEST_CASE("The meter's refusal reason decides between 77 and 65", "[cli][upgrade]") {
  CHECK(refusal_exit_code("the signature does not verify with key 1a2b (x.pub)") == exit_denied);
  CHECK(refusal_exit_code("signed with key 1a2b, which is not among the keys offered (none)") == exit_denied);
  CHECK(refusal_exit_code("the manifest has an unknown key \"x\"") == exit_data);
  CHECK(refusal_exit_code("package is for ION9000; this meter is an ION7400") == exit_data);
}

TEST_CASE("Health verdicts from the status after activation", "[cli][upgrade]") {
  UpgradeStatus status;
  status.running_version = {4, 0, 0};
  const Version target{4, 6, 0};
  const BootOutcomeStatus old_fallback{false, "b", {4, 6, 0}, "no health report within 60 s", 100};
  status.trial = TrialStatus{"b", 1, 3, 60, {4, 0, 0}, target};
  CHECK(health_verdict(status, target, std::nullopt) == HealthVerdict::waiting);
  status.trial.reset();
  CHECK(health_verdict(status, target, std::nullopt) == HealthVerdict::not_started);
  // An old fallback of the same version is not this trial's.
  status.last_outcome = old_fallback;
  CHECK(health_verdict(status, target, old_fallback) == HealthVerdict::not_started);
  auto fresh = old_fallback;
  fresh.at = 200;
  status.last_outcome = fresh;
  CHECK(health_verdict(status, target, old_fallback) == HealthVerdict::fell_back);
  status.running_version = target;
  status.last_outcome = BootOutcomeStatus{true, "b", target, "", 300};
  CHECK(health_verdict(status, target, old_fallback) == HealthVerdict::committed);
}
