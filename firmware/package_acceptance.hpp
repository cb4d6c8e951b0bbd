#pragma once
// Whether a verified firmware package may be installed on this meter (upgrade.finish) and
// activated (upgrade.activate): the model, the expiry date against the meter's clock, and
// the version rules. Pure: the caller says what the meter runs and what day it is.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "libproto/model/device_model.hpp"
#include "libproto/model/version.hpp"
#include "libsec/firmware_package.hpp"

namespace meterd {

// What the meter knows when a package arrives.
struct FirmwareSituation {
  proto::model::Version running;                        // the firmware it runs now
  std::optional<proto::model::Version> rollback_floor;  // the boot record's: no version below it
  sec::Date today{};                                    // the meter clock's date (UTC)
};

// Why the version `to` may not replace the running one: the same version ("already
// runs"), a version the model does not list, a downgrade the model's rollback floors
// forbid, or one below the meter's recorded rollback floor. nullopt: allowed.
std::optional<std::string> version_refusal(const proto::model::DeviceModel& model, const FirmwareSituation& situation,
                                           const proto::model::Version& to);

// version_refusal, and before it: the package is for this model and has not expired.
// The manifest's min_meterctl_version is the client's business, not the meter's.
std::optional<std::string> package_refusal(const sec::FirmwareManifest& manifest,
                                           const proto::model::DeviceModel& model, const FirmwareSituation& situation);

// The UTC date of a Unix time (the meter clock's `now()`).
sec::Date utc_date(double unix_time);

}  // namespace meterd
