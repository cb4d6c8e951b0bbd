#pragma once
// A meter's firmware status as the upgrade.status operation reports it
// (meter-native-protocol(7)): read into types meterctl decides on, and shown as the
// table of `meterctl upgrade status`. Pure.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "libproto/model/version.hpp"
#include "libproto/result.hpp"

namespace cli {

struct SlotStatus {
  std::optional<proto::model::Version> version;  // a factory slot may not know its own
  bool factory = false;
  std::string installed_at;
  std::string key_id;
  std::string payload_sha256;
};

struct TrialStatus {
  std::string slot;
  int attempts = 0;
  int max_attempts = 0;
  std::int64_t health_deadline_s = 0;
  proto::model::Version from_version;
  proto::model::Version to_version;
};

struct BootOutcomeStatus {
  bool committed = false;
  std::string slot;
  proto::model::Version version;
  std::string reason;
  std::int64_t at = 0;  // unix seconds
};

struct UploadStatus {
  std::uint64_t length = 0;
  std::string sha256;
  std::uint64_t offset = 0;
};

struct UpgradeStatus {
  std::string model;
  std::string feature_set;
  std::string serial_number;
  std::optional<std::string> running_slot;  // none: the meter runs without its boot supervisor
  proto::model::Version running_version;
  std::string running_vendor_version;
  bool supervised = false;
  std::array<std::optional<SlotStatus>, 2> slots;  // a, b
  std::string active;
  std::optional<TrialStatus> trial;
  std::optional<proto::model::Version> rollback_floor;
  std::optional<BootOutcomeStatus> last_outcome;
  std::vector<std::string> trusted_key_ids;
  std::optional<UploadStatus> upload;
};

// Reads an upgrade.status result; an answer without what meterctl decides on (model,
// running version, trial, trusted keys, ...) or with a member of another type is an
// error naming the member.
proto::Result<UpgradeStatus, std::string> parse_upgrade_status(const nlohmann::json& answer);

// The field/value rows of `meterctl upgrade status`.
std::vector<std::vector<std::string>> status_rows(const UpgradeStatus& status);

}  // namespace cli
