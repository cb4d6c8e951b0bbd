#include "cli/upgrade_status.hpp"

#include <limits>

#include "libproto/model/utc_time.hpp"

namespace cli {

namespace {

using proto::model::Version;
using json = nlohmann::json;

// The answer is outside input: every member read is checked for its type, and the first
// one that does not fit ends the parse with its path ("upgrade.status: trial.attempts ...").
class Reader {
 public:
  Reader(const json& object, std::string path) : object_(object), path_(std::move(path)) {}

  bool is_object() const { return object_.is_object(); }
  bool present(const char* key) const {
    const auto found = object_.find(key);
    return found != object_.end() && !found->is_null();
  }
  const json& at(const char* key) const { return object_.at(key); }
  std::string where(const char* key) const { return path_.empty() ? key : path_ + "." + key; }

  proto::Result<std::string, std::string> text(const char* key, bool required) const {
    if (!present(key)) {
      if (required) return proto::unexpected("upgrade.status: " + where(key) + " is missing");
      return std::string();
    }
    if (!at(key).is_string()) return proto::unexpected("upgrade.status: " + where(key) + " is not a string");
    return at(key).get<std::string>();
  }

  proto::Result<std::optional<Version>, std::string> version(const char* key, bool required) const {
    auto value = text(key, required);
    if (!value) return proto::unexpected(value.error());
    if (value->empty()) return std::optional<Version>();
    const auto parsed = Version::parse(*value);
    if (!parsed) return proto::unexpected("upgrade.status: " + where(key) + " '" + *value + "' is not a version");
    return std::optional<Version>(*parsed);
  }

  proto::Result<std::int64_t, std::string> integer(const char* key, std::int64_t min, std::int64_t max) const {
    if (!present(key)) return proto::unexpected("upgrade.status: " + where(key) + " is missing");
    const auto& value = at(key);
    std::optional<std::int64_t> number;
    if (value.is_number_unsigned()) {
      if (value.get<std::uint64_t>() <= static_cast<std::uint64_t>(max)) {
        number = static_cast<std::int64_t>(value.get<std::uint64_t>());
      }
    } else if (value.is_number_integer()) {
      number = value.get<std::int64_t>();
    }
    if (!number || *number < min || *number > max) {
      return proto::unexpected("upgrade.status: " + where(key) + " is not a number from " + std::to_string(min) +
                               " to " + std::to_string(max));
    }
    return *number;
  }

  proto::Result<bool, std::string> boolean(const char* key) const {
    if (!present(key) || !at(key).is_boolean()) {
      return proto::unexpected("upgrade.status: " + where(key) + " is not true or false");
    }
    return at(key).get<bool>();
  }

 private:
  const json& object_;
  std::string path_;
};

// Propagates the first error of a member read (the answer has many; a helper per member
// would hide the order they are read in).
#define STATUS_TRY(target, expression)                                          \
  do {                                                                          \
    auto status_try_value = (expression);                                       \
    if (!status_try_value) return proto::unexpected(status_try_value.error()); \
    target = std::move(*status_try_value);                                      \
  } while (false)

constexpr std::int64_t k_max_count = std::numeric_limits<std::int32_t>::max();
constexpr std::int64_t k_max_length = std::numeric_limits<std::int64_t>::max();

proto::Result<std::optional<SlotStatus>, std::string> parse_slot(const json& value, const std::string& path) {
  if (value.is_null()) return std::optional<SlotStatus>();
  const Reader slot(value, path);
  if (!slot.is_object()) return proto::unexpected("upgrade.status: " + path + " is not an object");
  SlotStatus status;
  STATUS_TRY(status.version, slot.version("version", false));
  if (slot.present("factory")) STATUS_TRY(status.factory, slot.boolean("factory"));
  STATUS_TRY(status.installed_at, slot.text("installed_at", false));
  STATUS_TRY(status.key_id, slot.text("key_id", false));
  STATUS_TRY(status.payload_sha256, slot.text("payload_sha256", false));
  return std::optional<SlotStatus>(std::move(status));
}

proto::Result<std::optional<TrialStatus>, std::string> parse_trial(const Reader& root) {
  if (!root.present("trial")) return std::optional<TrialStatus>();
  const Reader trial(root.at("trial"), "trial");
  if (!trial.is_object()) return proto::unexpected(std::string("upgrade.status: trial is not an object"));
  TrialStatus status;
  STATUS_TRY(status.slot, trial.text("slot", true));
  std::int64_t number = 0;
  STATUS_TRY(number, trial.integer("attempts", 0, k_max_count));
  status.attempts = static_cast<int>(number);
  STATUS_TRY(number, trial.integer("max_attempts", 0, k_max_count));
  status.max_attempts = static_cast<int>(number);
  STATUS_TRY(status.health_deadline_s, trial.integer("health_deadline_s", 0, k_max_count));
  std::optional<Version> version;
  STATUS_TRY(version, trial.version("from_version", true));
  status.from_version = *version;
  STATUS_TRY(version, trial.version("to_version", true));
  status.to_version = *version;
  return std::optional<TrialStatus>(std::move(status));
}

proto::Result<std::optional<BootOutcomeStatus>, std::string> parse_outcome(const Reader& root) {
  if (!root.present("last_outcome")) return std::optional<BootOutcomeStatus>();
  const Reader outcome(root.at("last_outcome"), "last_outcome");
  if (!outcome.is_object()) return proto::unexpected(std::string("upgrade.status: last_outcome is not an object"));
  BootOutcomeStatus status;
  STATUS_TRY(status.committed, outcome.boolean("committed"));
  STATUS_TRY(status.slot, outcome.text("slot", false));
  std::optional<Version> version;
  STATUS_TRY(version, outcome.version("version", true));
  status.version = *version;
  STATUS_TRY(status.reason, outcome.text("reason", false));
  if (outcome.present("at")) STATUS_TRY(status.at, outcome.integer("at", 0, k_max_length));
  return std::optional<BootOutcomeStatus>(std::move(status));
}

proto::Result<std::optional<UploadStatus>, std::string> parse_upload(const Reader& root) {
  if (!root.present("upload")) return std::optional<UploadStatus>();
  const Reader upload(root.at("upload"), "upload");
  if (!upload.is_object()) return proto::unexpected(std::string("upgrade.status: upload is not an object"));
  UploadStatus status;
  std::int64_t number = 0;
  STATUS_TRY(number, upload.integer("length", 0, k_max_length));
  status.length = static_cast<std::uint64_t>(number);
  STATUS_TRY(number, upload.integer("offset", 0, number));
  status.offset = static_cast<std::uint64_t>(number);
  STATUS_TRY(status.sha256, upload.text("sha256", false));
  return std::optional<UploadStatus>(std::move(status));
}

std::string version_text(const std::optional<Version>& version) {
  return version ? version->to_string() : "unknown";
}

std::string slot_text(const std::optional<SlotStatus>& slot) {
  if (!slot) return "empty";
  std::string text = version_text(slot->version) + (slot->factory ? ", factory" : ", package");
  if (!slot->key_id.empty()) text += ", key " + slot->key_id;
  if (!slot->installed_at.empty()) text += ", installed " + slot->installed_at;
  return text;
}

std::string joined(const std::vector<std::string>& items) {
  std::string text;
  for (const auto& item : items) text += (text.empty() ? "" : " ") + item;
  return text;
}

}  // namespace

proto::Result<UpgradeStatus, std::string> parse_upgrade_status(const nlohmann::json& answer) {
  const Reader root(answer, "");
  if (!root.is_object()) return proto::unexpected(std::string("upgrade.status: the answer is not an object"));
  UpgradeStatus status;
  STATUS_TRY(status.model, root.text("model", true));
  STATUS_TRY(status.feature_set, root.text("feature_set", false));
  STATUS_TRY(status.serial_number, root.text("serial_number", false));
  if (!root.present("running")) return proto::unexpected(std::string("upgrade.status: running is missing"));
  const Reader running(root.at("running"), "running");
  if (!running.is_object()) return proto::unexpected(std::string("upgrade.status: running is not an object"));
  std::string slot;
  STATUS_TRY(slot, running.text("slot", false));
  if (!slot.empty()) status.running_slot = slot;
  std::optional<Version> version;
  STATUS_TRY(version, running.version("version", true));
  status.running_version = *version;
  STATUS_TRY(status.running_vendor_version, running.text("vendor_version", false));
  if (root.present("supervised")) STATUS_TRY(status.supervised, root.boolean("supervised"));
  if (root.present("slots")) {
    const Reader slots(root.at("slots"), "slots");
    if (!slots.is_object()) return proto::unexpected(std::string("upgrade.status: slots is not an object"));
    const char* names[] = {"a", "b"};
    for (std::size_t i = 0; i < 2; ++i) {
      if (slots.present(names[i])) STATUS_TRY(status.slots[i], parse_slot(slots.at(names[i]), slots.where(names[i])));
    }
  }
  STATUS_TRY(status.active, root.text("active", false));
  STATUS_TRY(status.trial, parse_trial(root));
  STATUS_TRY(status.rollback_floor, root.version("rollback_floor", false));
  STATUS_TRY(status.last_outcome, parse_outcome(root));
  if (!root.present("trusted_key_ids") || !root.at("trusted_key_ids").is_array()) {
    return proto::unexpected(std::string("upgrade.status: trusted_key_ids is not a list"));
  }
  for (const auto& id : root.at("trusted_key_ids")) {
    if (!id.is_string()) return proto::unexpected(std::string("upgrade.status: trusted_key_ids holds a non-string"));
    status.trusted_key_ids.push_back(id.get<std::string>());
  }
  STATUS_TRY(status.upload, parse_upload(root));
  return status;
}

#undef STATUS_TRY

std::vector<std::vector<std::string>> status_rows(const UpgradeStatus& status) {
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"model", status.model + (status.feature_set.empty() ? "" : " " + status.feature_set)});
  rows.push_back({"serial_number", status.serial_number});
  std::string running = status.running_version.to_string();
  if (!status.running_vendor_version.empty()) running += " (" + status.running_vendor_version + ")";
  running += status.running_slot ? ", slot " + *status.running_slot : ", not supervised";
  rows.push_back({"running", running});
  rows.push_back({"slot_a", slot_text(status.slots[0])});
  rows.push_back({"slot_b", slot_text(status.slots[1])});
  rows.push_back({"active_slot", status.active.empty() ? "none" : status.active});
  if (status.trial) {
    const auto& trial = *status.trial;
    rows.push_back({"trial", "slot " + trial.slot + ", " + trial.from_version.to_string() + " -> " +
                                 trial.to_version.to_string() + ", attempt " + std::to_string(trial.attempts) +
                                 " of " + std::to_string(trial.max_attempts) + ", health deadline " +
                                 std::to_string(trial.health_deadline_s) + " s"});
  } else {
    rows.push_back({"trial", "none"});
  }
  rows.push_back({"rollback_floor", status.rollback_floor ? status.rollback_floor->to_string() : "none"});
  if (status.last_outcome) {
    const auto& outcome = *status.last_outcome;
    const auto when = outcome.at > 0 ? " at " + proto::model::iso_utc(static_cast<double>(outcome.at)) : "";
    rows.push_back({"last_outcome", outcome.committed ? "committed " + outcome.version.to_string() + " in slot " +
                                                            outcome.slot + when
                                                      : "fell back from " + outcome.version.to_string() +
                                                            " (slot " + outcome.slot + ")" + when + ": " +
                                                            outcome.reason});
  } else {
    rows.push_back({"last_outcome", "none"});
  }
  if (status.upload) {
    rows.push_back({"pending_upload", std::to_string(status.upload->offset) + " of " +
                                          std::to_string(status.upload->length) + " bytes, sha256 " +
                                          status.upload->sha256});
  } else {
    rows.push_back({"pending_upload", "none"});
  }
  rows.push_back({"trusted_keys", status.trusted_key_ids.empty() ? "none" : joined(status.trusted_key_ids)});
  return rows;
}

}  // namespace cli
