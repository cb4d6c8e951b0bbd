#include "cli/upgrade_decision.hpp"

#include <catch2/catch.hpp>

using namespace cli;
using proto::model::Version;

namespace {

const std::string k_key = "1a2b3c4d5e6f7081";

UpgradeStatus status_on(Version running) {
  UpgradeStatus status;
  status.model = "ION7400";
  status.running_version = running;
  status.running_slot = "a";
  status.supervised = true;
  status.active = "a";
  status.trusted_key_ids = {k_key};
  return status;
}

sec::FirmwareManifest package_of(Version version, std::string model = "ION7400") {
  sec::FirmwareManifest manifest;
  manifest.model = std::move(model);
  manifest.firmware_version = version;
  manifest.key_id = k_key;
  return manifest;
}

proto::model::DeviceModel ion7400() { return proto::model::find_device_model("ION7400").value(); }

}  // namespace

TEST_CASE("An upgrade every check allows goes, with the checks it passed", "[cli][upgrade]") {
  const auto model = ion7400();
  const auto decision = decide_upgrade(status_on({4, 0, 0}), package_of({4, 6, 0}), &model);
  CHECK(decision.verdict == Verdict::go);
  REQUIRE(decision.passed.size() == 4);
  CHECK(decision.passed[0] == "the package is for this meter's model, ION7400");
  CHECK(decision.passed[2] == "the model's firmware rules allow 4.0.0 -> 4.6.0");
  CHECK(decision.passed[3] == "the meter trusts the signing key 1a2b3c4d5e6f7081");
}

TEST_CASE("A meter already on the package's version is skipped", "[cli][upgrade]") {
  const auto model = ion7400();
  const auto decision = decide_upgrade(status_on({4, 6, 0}), package_of({4, 6, 0}), &model);
  CHECK(decision.verdict == Verdict::skip);
  CHECK(decision.reason == "already runs 4.6.0");
}

TEST_CASE("Refusals before any byte is sent: model, version rules, key, pending trial", "[cli][upgrade]") {
  const auto model = ion7400();
  SECTION("another model: 65") {
    const auto decision = decide_upgrade(status_on({4, 0, 0}), package_of({4, 6, 0}, "ION9000"), &model);
    CHECK(decision.verdict == Verdict::refuse);
    CHECK(decision.code == exit_data);
    CHECK(decision.reason == "the package is for ION9000; this meter is an ION7400");
  }
  SECTION("a downgrade below a rollback floor: 65 naming the floor") {
    const auto decision = decide_upgrade(status_on({4, 0, 0}), package_of({3, 0, 0}), &model);
    CHECK(decision.verdict == Verdict::refuse);
    CHECK(decision.code == exit_data);
    CHECK(decision.reason.find("4.0.0 or later cannot be downgraded") != std::string::npos);
    CHECK(decision.reason.find("3.0.0 is refused") != std::string::npos);
  }
  SECTION("the meter's own rollback floor counts too") {
    auto status = status_on({4, 6, 0});
    status.rollback_floor = Version{4, 6, 0};
    const auto decision = decide_upgrade(status, package_of({4, 0, 0}), &model);
    CHECK(decision.verdict == Verdict::refuse);
    CHECK(decision.code == exit_data);
  }
  SECTION("a version the model does not list") {
    const auto decision = decide_upgrade(status_on({4, 0, 0}), package_of({4, 7, 0}), &model);
    CHECK(decision.code == exit_data);
    CHECK(decision.reason == "ION7400 has no firmware 4.7.0");
  }
  SECTION("a key the meter does not trust: 77 saying where the key goes") {
    auto status = status_on({4, 0, 0});
    status.trusted_key_ids = {"ffffffffffffffff"};
    const auto decision = decide_upgrade(status, package_of({4, 6, 0}), &model);
    CHECK(decision.verdict == Verdict::refuse);
    CHECK(decision.code == exit_denied);
    CHECK(decision.reason.find("the meter trusts no key 1a2b3c4d5e6f7081; install") == 0);
    CHECK(decision.reason.find("trusted-keys") != std::string::npos);
  }
  SECTION("a trial already pending: 75, try later") {
    auto status = status_on({4, 0, 0});
    status.trial = TrialStatus{"b", 1, 3, 60, {4, 0, 0}, {4, 6, 0}};
    const auto decision = decide_upgrade(status, package_of({4, 6, 0}), &model);
    CHECK(decision.verdict == Verdict::refuse);
    CHECK(decision.code == exit_timeout);
    CHECK(decision.reason.find("try again") != std::string::npos);
  }
}

TEST_CASE("A model meterctl does not know leaves the version rules to the meter", "[cli][upgrade]") {
  auto status = status_on({4, 0, 0});
  status.model = "ACME1";
  const auto decision = decide_upgrade(status, package_of({3, 0, 0}, "ACME1"), nullptr);
  CHECK(decision.verdict == Verdict::go);
  CHECK(decision.passed[2].find("not checked here") != std::string::npos);
}
