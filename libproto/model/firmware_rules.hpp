#pragma once
// The rules for changing a meter's firmware, read from its model file: which versions it
// may move to (rollback floors) and what the move does to it (each release's on_upgrade
// and on_downgrade). Pure: the firmware applies the effects at start-up
// (firmware/firmware_migration.hpp) and meterctl describes them before an upgrade.
//
// Seeds: 000 (ION7400 4.0.0: "A meter upgraded to firmware version 4.0.0 or later cannot
// be downgraded to an earlier firmware version"), 004 (3.0.0: "Do not upgrade to firmware
// version 3.0.0 or later if you need to downgrade the meter in the future"), 003 (ION8650
// 4.40.1: "Yes, meter can be downgraded", and what a downgrade does).

#include <optional>
#include <string>
#include <vector>

#include "libproto/model/device_model.hpp"
#include "libproto/model/version.hpp"

namespace proto::model {

// Why a meter running `from` must not move to `to`, or nullopt when it may. A meter that
// runs a rollback floor release or anything later accepts no older version; `floor` is a
// floor the meter keeps itself (the boot record's), refused below and treated the same
// way. Upgrades, and versions the model does not list, are the caller's business. The
// message names the floor: "this meter runs firmware 4.6.0; an ION7400 on 4.0.0 or later
// cannot be downgraded, so 3.0.0 is refused".
std::optional<std::string> check_firmware_change(const DeviceModel& model, const Version& from, const Version& to,
                                                 const std::optional<Version>& floor = std::nullopt);

// The highest release marked rollback_floor at or below `version`: the floor a meter
// running `version` has reached. nullopt when none is.
std::optional<Version> rollback_floor_at(const DeviceModel& model, const Version& version);

// One release whose effects a firmware change applies.
struct FirmwareChangeStep {
  const FirmwareRelease* release = nullptr;  // points into the model
  bool upgrade = true;  // true: its on_upgrade (entering it); false: its on_downgrade (leaving it)
};

// The releases a move from `from` to `to` passes, in the order their effects apply: on
// an upgrade every release in (from, to], ascending; on a downgrade every release in
// (to, from], descending. Empty when the versions are equal.
std::vector<FirmwareChangeStep> firmware_change_steps(const DeviceModel& model, const Version& from, const Version& to);

// What moving from `from` to `to` does, one line a fact, for people (meterctl prints them
// before an upgrade): each step's effects, the features gained and lost, the limits that
// change and a floor the meter would reach. `shipped` is the meter's shipped firmware
// (features some releases bring only to meters shipped with them); default `from`.
std::vector<std::string> describe_firmware_change(const DeviceModel& model, const Version& from, const Version& to,
                                                  const std::optional<Version>& shipped = std::nullopt);

}  // namespace proto::model
