#include "firmware/boot_record.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <nlohmann/json.hpp>

#include "libsec/private_file.hpp"

namespace meterd {

using nlohmann::json;
using proto::model::Version;

namespace {

constexpr const char* k_boot_record_file_name = "boot.json";
constexpr const char* k_boot_lock_file_name = "boot.lock";
constexpr const char* k_pre_trial_state_file_name = "pre-trial-state.json";
// Generous bounds for text members: a path, a timestamp, a reason sentence.
constexpr std::size_t k_max_path_length = 4096;
constexpr std::size_t k_max_text_length = 1024;

// A schema violation inside a member, caught once by parse_boot_record.
struct FieldError {
  std::string what;
};

const json& member(const json& object, const std::string& where, const char* key) {
  if (!object.contains(key)) throw FieldError{where + key + " is missing"};
  return object.at(key);
}

void require_object(const json& value, const std::string& name) {
  if (!value.is_object()) throw FieldError{name + " is not an object"};
}

void refuse_unknown_members(const json& object, const std::string& where,
                            std::initializer_list<std::string_view> known) {
  for (const auto& [key, value] : object.items()) {
    bool found = false;
    for (const auto name : known) found = found || key == name;
    if (!found) throw FieldError{where + key + " is not a member this firmware knows"};
  }
}

std::string text(const json& value, const std::string& name, std::size_t max_length) {
  if (!value.is_string()) throw FieldError{name + " is not a string"};
  const auto& result = value.get_ref<const std::string&>();
  if (result.size() > max_length) throw FieldError{name + " is longer than " + std::to_string(max_length) + " bytes"};
  return result;
}

bool flag(const json& value, const std::string& name) {
  if (!value.is_boolean()) throw FieldError{name + " is not true or false"};
  return value.get<bool>();
}

// Integers must be stored as integers: converting 1e300 to int is undefined behaviour.
std::int64_t whole_number(const json& value, const std::string& name, std::int64_t min, std::int64_t max) {
  const auto out_of_range = FieldError{name + " is not a whole number from " + std::to_string(min) + " to " +
                                       std::to_string(max)};
  if (value.is_number_unsigned()) {
    const auto number = value.get<std::uint64_t>();
    if (number > static_cast<std::uint64_t>(max) || static_cast<std::int64_t>(number) < min) throw out_of_range;
    return static_cast<std::int64_t>(number);
  }
  if (value.is_number_integer()) {
    const auto number = value.get<std::int64_t>();
    if (number < min || number > max) throw out_of_range;
    return number;
  }
  throw out_of_range;
}

Version version(const json& value, const std::string& name) {
  const auto parsed = value.is_string() ? Version::parse(value.get_ref<const std::string&>()) : std::nullopt;
  if (!parsed) throw FieldError{name + " is not a version X.Y.Z"};
  return *parsed;
}

std::optional<Version> optional_version(const json& value, const std::string& name) {
  if (value.is_null()) return std::nullopt;
  return version(value, name);
}

Slot slot_name(const json& value, const std::string& name) {
  const auto parsed = value.is_string() ? parse_slot(value.get_ref<const std::string&>()) : std::nullopt;
  if (!parsed) throw FieldError{name + " is not \"a\" or \"b\""};
  return *parsed;
}

bool is_lower_hex(std::string_view value) {
  for (const char c : value) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

SlotRecord slot_from_json(const json& object, const std::string& name) {
  require_object(object, name);
  const auto where = name + ".";
  refuse_unknown_members(object, where,
                         {"factory", "version", "executable", "installed_at", "key_id", "payload_sha256"});
  SlotRecord slot;
  slot.factory = flag(member(object, where, "factory"), where + "factory");
  slot.version = optional_version(member(object, where, "version"), where + "version");
  slot.executable = text(member(object, where, "executable"), where + "executable", k_max_path_length);
  if (slot.executable.empty() || slot.executable.front() != '/') {
    throw FieldError{where + "executable is not an absolute path"};
  }
  slot.installed_at = text(member(object, where, "installed_at"), where + "installed_at", k_max_text_length);
  slot.key_id = text(member(object, where, "key_id"), where + "key_id", k_max_text_length);
  slot.payload_sha256 = text(member(object, where, "payload_sha256"), where + "payload_sha256", 64);
  if (!is_lower_hex(slot.key_id)) throw FieldError{where + "key_id is not lowercase hex"};
  if (!is_lower_hex(slot.payload_sha256) || (!slot.payload_sha256.empty() && slot.payload_sha256.size() != 64)) {
    throw FieldError{where + "payload_sha256 is not 64 lowercase hex digits"};
  }
  if (!slot.factory && !slot.version) throw FieldError{where + "version is missing for a package slot"};
  return slot;
}

TrialRecord trial_from_json(const json& object) {
  const std::string where = "trial.";
  require_object(object, "trial");
  refuse_unknown_members(object, where,
                         {"slot", "attempts", "max_attempts", "health_deadline_s", "from_version", "to_version",
                          "floor_on_commit", "requested_at"});
  TrialRecord trial;
  trial.slot = slot_name(member(object, where, "slot"), where + "slot");
  trial.max_attempts = static_cast<int>(
      whole_number(member(object, where, "max_attempts"), where + "max_attempts", 1, k_max_trial_attempts));
  trial.attempts =
      static_cast<int>(whole_number(member(object, where, "attempts"), where + "attempts", 0, trial.max_attempts));
  trial.health_deadline_s = static_cast<std::uint32_t>(whole_number(
      member(object, where, "health_deadline_s"), where + "health_deadline_s", 1, k_max_health_deadline_s));
  trial.from_version = version(member(object, where, "from_version"), where + "from_version");
  trial.to_version = version(member(object, where, "to_version"), where + "to_version");
  trial.floor_on_commit = optional_version(member(object, where, "floor_on_commit"), where + "floor_on_commit");
  trial.requested_at = whole_number(member(object, where, "requested_at"), where + "requested_at", 0, INT64_MAX);
  return trial;
}

BootOutcome outcome_from_json(const json& object) {
  const std::string where = "last_outcome.";
  require_object(object, "last_outcome");
  refuse_unknown_members(object, where, {"committed", "slot", "version", "reason", "at"});
  BootOutcome outcome;
  outcome.committed = flag(member(object, where, "committed"), where + "committed");
  outcome.slot = slot_name(member(object, where, "slot"), where + "slot");
  outcome.version = version(member(object, where, "version"), where + "version");
  outcome.reason = text(member(object, where, "reason"), where + "reason", k_max_text_length);
  outcome.at = whole_number(member(object, where, "at"), where + "at", 0, INT64_MAX);
  return outcome;
}

json optional_version_json(const std::optional<Version>& value) {
  return value ? json(value->to_string()) : json(nullptr);
}

json slot_json(const std::optional<SlotRecord>& slot) {
  if (!slot) return nullptr;
  return {{"factory", slot->factory},
          {"version", optional_version_json(slot->version)},
          {"executable", slot->executable},
          {"installed_at", slot->installed_at},
          {"key_id", slot->key_id},
          {"payload_sha256", slot->payload_sha256}};
}

std::string record_error(const std::filesystem::path& file, const std::string& what) {
  return file.string() + ": " + what +
         "; the boot record is written by meterd and should not be edited. Move the firmware directory away to "
         "boot the installed meterd again";
}

}  // namespace

std::string_view to_string(Slot slot) { return slot == Slot::a ? "a" : "b"; }

std::optional<Slot> parse_slot(std::string_view text) {
  if (text == "a") return Slot::a;
  if (text == "b") return Slot::b;
  return std::nullopt;
}

Slot other_slot(Slot slot) { return slot == Slot::a ? Slot::b : Slot::a; }

proto::Result<BootRecord, std::string> parse_boot_record(std::string_view json_text,
                                                         const std::filesystem::path& file) {
  if (json_text.size() > k_max_boot_record_bytes) {
    return proto::unexpected(record_error(file, "larger than " + std::to_string(k_max_boot_record_bytes) + " bytes"));
  }
  const json document = json::parse(json_text, nullptr, false);
  if (document.is_discarded() || !document.is_object()) {
    return proto::unexpected(record_error(file, "not a JSON object"));
  }
  try {
    refuse_unknown_members(document, "",
                           {"format_version", "active", "slots", "trial", "rollback_floor", "last_outcome"});
    if (whole_number(member(document, "", "format_version"), "format_version", 0, INT32_MAX) !=
        k_boot_record_format_version) {
      return proto::unexpected(record_error(file, "format_version is not " +
                                                      std::to_string(k_boot_record_format_version) +
                                                      " (written by a newer meterd?)"));
    }
    BootRecord record;
    record.active = slot_name(member(document, "", "active"), "active");
    const auto& slots = member(document, "", "slots");
    require_object(slots, "slots");
    refuse_unknown_members(slots, "slots.", {"a", "b"});
    for (const auto which : {Slot::a, Slot::b}) {
      const auto name = std::string(to_string(which));
      const auto& value = member(slots, "slots.", name.c_str());
      if (!value.is_null()) record.slot(which) = slot_from_json(value, "slots." + name);
    }
    if (!record.slot(record.active)) throw FieldError{"active names slot " + std::string(to_string(record.active)) +
                                                      ", which holds nothing"};
    const auto& trial = member(document, "", "trial");
    if (!trial.is_null()) {
      record.trial = trial_from_json(trial);
      if (record.trial->slot == record.active) throw FieldError{"trial.slot is the active slot"};
      if (!record.slot(record.trial->slot)) throw FieldError{"trial.slot names a slot that holds nothing"};
    }
    record.rollback_floor = optional_version(member(document, "", "rollback_floor"), "rollback_floor");
    const auto& outcome = member(document, "", "last_outcome");
    if (!outcome.is_null()) record.last_outcome = outcome_from_json(outcome);
    return record;
  } catch (const FieldError& error) {
    return proto::unexpected(record_error(file, error.what));
  }
}

std::string format_boot_record(const BootRecord& record) {
  json document = {{"format_version", k_boot_record_format_version},
                   {"active", to_string(record.active)},
                   {"slots", {{"a", slot_json(record.slot(Slot::a))}, {"b", slot_json(record.slot(Slot::b))}}},
                   {"trial", nullptr},
                   {"rollback_floor", optional_version_json(record.rollback_floor)},
                   {"last_outcome", nullptr}};
  if (const auto& trial = record.trial) {
    document["trial"] = {{"slot", to_string(trial->slot)},
                         {"attempts", trial->attempts},
                         {"max_attempts", trial->max_attempts},
                         {"health_deadline_s", trial->health_deadline_s},
                         {"from_version", trial->from_version.to_string()},
                         {"to_version", trial->to_version.to_string()},
                         {"floor_on_commit", optional_version_json(trial->floor_on_commit)},
                         {"requested_at", trial->requested_at}};
  }
  if (const auto& outcome = record.last_outcome) {
    document["last_outcome"] = {{"committed", outcome->committed},
                                {"slot", to_string(outcome->slot)},
                                {"version", outcome->version.to_string()},
                                {"reason", outcome->reason},
                                {"at", outcome->at}};
  }
  return document.dump(2) + "\n";
}

std::filesystem::path firmware_directory(const std::filesystem::path& state_dir) { return state_dir / "firmware"; }

std::filesystem::path slot_directory(const std::filesystem::path& state_dir, Slot slot) {
  return firmware_directory(state_dir) / ("slot-" + std::string(to_string(slot)));
}

std::filesystem::path pre_trial_state_file(const std::filesystem::path& state_dir) {
  return firmware_directory(state_dir) / k_pre_trial_state_file_name;
}

proto::Result<std::optional<BootRecord>, std::string> load_boot_record(const std::filesystem::path& state_dir) {
  const auto file = firmware_directory(state_dir) / k_boot_record_file_name;
  auto text = sec::read_file_if_exists(file, k_max_boot_record_bytes);
  if (!text) return proto::unexpected(text.error());
  if (!text->has_value()) return std::optional<BootRecord>{};
  auto record = parse_boot_record(**text, file);
  if (!record) return proto::unexpected(record.error());
  return std::optional<BootRecord>(std::move(*record));
}

proto::Result<proto::Ok, std::string> save_boot_record(const std::filesystem::path& state_dir,
                                                       const BootRecord& record) {
  const auto directory = firmware_directory(state_dir);
  auto created = sec::create_private_directory(directory);
  if (!created) return created;
  return sec::write_private_file_atomically(directory / k_boot_record_file_name, format_boot_record(record));
}

BootRecordLock& BootRecordLock::operator=(BootRecordLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

BootRecordLock::~BootRecordLock() {
  if (fd_ >= 0) ::close(fd_);
}

proto::Result<BootRecordLock, std::string> lock_boot_record(const std::filesystem::path& state_dir) {
  const auto directory = firmware_directory(state_dir);
  auto created = sec::create_private_directory(directory);
  if (!created) return proto::unexpected(created.error());
  const auto path = directory / k_boot_lock_file_name;
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, sec::k_private_file_mode);
  if (fd < 0) return proto::unexpected("cannot open " + path.string() + ": " + std::strerror(errno));
  BootRecordLock lock(fd);
  while (::flock(fd, LOCK_EX) != 0) {
    if (errno != EINTR) return proto::unexpected("cannot lock " + path.string() + ": " + std::strerror(errno));
  }
  return lock;
}

}  // namespace meterd
