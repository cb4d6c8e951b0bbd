#include "firmware/package_acceptance.hpp"

#include <catch2/catch.hpp>

#include "upgrade_test_support.hpp"

using namespace meterd;
using namespace upgrade_test;
using proto::model::Version;

namespace {

const proto::model::DeviceModel& ion7400() {
  static const auto model = *proto::model::find_device_model("ION7400");
  return model;
}

FirmwareSituation running(const std::string& version, std::optional<Version> floor = std::nullopt) {
  return {*Version::parse(version), floor, date(2026, 6, 1)};
}

}  // namespace

TEST_CASE("A package for this model, in date, with a newer listed version is accepted", "[firmware][upgrade]") {
  CHECK_FALSE(package_refusal(manifest("4.6.0"), ion7400(), running("4.0.0")));
}

TEST_CASE("A package for another model is refused naming both", "[firmware][upgrade]") {
  const auto refusal = package_refusal(manifest("3.0.0", "ION9000"), ion7400(), running("4.0.0"));
  REQUIRE(refusal);
  CHECK(*refusal == "the package is for ION9000; this meter is an ION7400");
}

TEST_CASE("A package is installable on its expiry date and refused the day after", "[firmware][upgrade]") {
  auto package = manifest("4.6.0");
  package.expires = date(2026, 6, 1);
  CHECK_FALSE(package_refusal(package, ion7400(), running("4.0.0")));
  package.expires = date(2026, 5, 31);
  const auto refusal = package_refusal(package, ion7400(), running("4.0.0"));
  REQUIRE(refusal);
  CHECK_THAT(*refusal, Catch::StartsWith("the package expired on 2026-05-31"));
  CHECK_THAT(*refusal, Catch::Contains("2026-06-01"));
}

TEST_CASE("The version a meter runs, and versions its model does not list, are refused", "[firmware][upgrade]") {
  const auto same = package_refusal(manifest("4.6.0"), ion7400(), running("4.6.0"));
  REQUIRE(same);
  CHECK(*same == "this meter already runs firmware 4.6.0");
  const auto unknown = package_refusal(manifest("4.7.0"), ion7400(), running("4.6.0"));
  REQUIRE(unknown);
  CHECK_THAT(*unknown, Catch::StartsWith("ION7400 has no firmware 4.7.0 (known: "));
}

TEST_CASE("Downgrades below a rollback floor are refused with the model's rule", "[firmware][upgrade]") {
  const auto below_floor = version_refusal(ion7400(), running("4.6.0"), *Version::parse("3.0.0"));
  REQUIRE(below_floor);
  CHECK_THAT(*below_floor, Catch::Contains("this meter runs firmware 4.6.0"));
  CHECK_THAT(*below_floor, Catch::Contains("3.0.0 is refused"));
  CHECK(version_refusal(ion7400(), running("4.6.0"), *Version::parse("4.0.0")));
  CHECK_FALSE(version_refusal(ion7400(), running("3.0.0"), *Version::parse("4.6.0")));
}

TEST_CASE("The boot record's rollback floor refuses what lies below it", "[firmware][upgrade]") {
  // A meter whose state came back from before the floor it committed.
  const auto refusal = version_refusal(ion7400(), running("2.0.0", Version{4, 0, 0}), *Version::parse("3.0.0"));
  REQUIRE(refusal);
  CHECK_THAT(*refusal, Catch::Contains("4.0.0"));
  CHECK_FALSE(version_refusal(ion7400(), running("2.0.0", Version{4, 0, 0}), *Version::parse("4.6.0")));
}

TEST_CASE("The meter clock's date is its UTC date", "[firmware][upgrade]") {
  CHECK(utc_date(0) == date(1970, 1, 1));
  CHECK(utc_date(1780271999.9) == date(2026, 5, 31));
  CHECK(utc_date(1780272000) == date(2026, 6, 1));
}
