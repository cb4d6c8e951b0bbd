#include "firmware/backup_operations.hpp"

#include <algorithm>
#include <optional>

#include "firmware/config_operations.hpp"
#include "firmware/config_profile.hpp"
#include "firmware/log.hpp"
#include "firmware/native_replies.hpp"
#include "firmware/security_operations.hpp"

namespace meterd {

namespace native = proto::codec::native;
using native::ErrorCode;
using nlohmann::json;
using proto::model::Version;
using sec::SecurityEventType;

namespace {

constexpr std::string_view k_operations[] = {"backup.get", "backup.restore"};

// Error text within the protocol's limit, which clients enforce: `message` cut short at
// a UTF-8 character boundary so that `tail` fits whole. A backup is outside input, and
// the names it holds may be of any length.
std::string within_limit(std::string message, const std::string& tail = "") {
  const std::size_t limit = native::k_max_message_length;
  const std::string ellipsis = "...";
  if (message.size() + tail.size() > limit) {
    std::size_t cut = limit > tail.size() + ellipsis.size() ? limit - tail.size() - ellipsis.size() : 0;
    cut = std::min(cut, message.size());
    while (cut > 0 && (static_cast<unsigned char>(message[cut]) & 0xC0) == 0x80) --cut;
    message = message.substr(0, cut) + ellipsis;
  }
  return (message + tail).substr(0, limit);
}

// Refusals quote the backup (keys, names, time zones), which may hold control characters;
// the text sent is printable ASCII and line breaks.
NativeReply invalid(std::uint32_t id, std::string message) {
  auto text = within_limit(std::move(message));
  for (auto& c : text) {
    if ((c < 0x20 && c != '\n') || c > 0x7e) c = '?';
  }
  return error_reply(id, ErrorCode::invalid_argument, std::move(text));
}

json identity_json(const MeterState& state) {
  return {{"serial_number", state.serial_number},
          {"model", state.model},
          {"feature_set", state.feature_set},
          {"firmware", state.firmware.to_string()},
          {"shipped_firmware", state.shipped_firmware.to_string()}};
}

void collect_unknown(const json& given, const json& understood, const std::string& path,
                     std::vector<std::string>& unknown) {
  if (given.is_object()) {
    for (const auto& [key, value] : given.items()) {
      const auto where = path.empty() ? key : path + "." + key;
      if (!understood.is_object() || !understood.contains(key)) {
        unknown.push_back(where);
      } else {
        collect_unknown(value, understood.at(key), where, unknown);
      }
    }
  } else if (given.is_array() && understood.is_array()) {
    for (std::size_t i = 0; i < std::min(given.size(), understood.size()); ++i) {
      collect_unknown(given[i], understood[i], path + "[" + std::to_string(i) + "]", unknown);
    }
  }
}

// A name a backup gives (model, serial number), fit for messages, the event log and
// meterd's log: it comes from outside and may hold anything, line breaks and control
// characters included. Printable ASCII is kept, the rest shown as '?', 64 at most.
std::string shown(const json& value) {
  constexpr std::size_t k_max_shown = 64;
  if (!value.is_string()) return "unknown";
  auto text = value.get<std::string>().substr(0, k_max_shown);
  for (auto& c : text) {
    if (c < 0x21 || c > 0x7e) c = '?';
  }
  return text;
}

std::string serial_of(const json& identity) {
  return identity.is_object() ? shown(identity.value("serial_number", json())) : std::string("unknown");
}

// "a, b, c and 4 more": the paths, within the protocol's limit on error text.
std::string listed(const std::vector<std::string>& paths) {
  constexpr std::size_t k_shown = 8;
  std::string text;
  for (std::size_t i = 0; i < std::min(paths.size(), k_shown); ++i) text += (i == 0 ? "" : ", ") + paths[i];
  if (paths.size() > k_shown) text += " and " + std::to_string(paths.size() - k_shown) + " more";
  return text;
}

std::string version_of(const json& backup) {
  const auto version = backup.value("config_version", json());
  return version.is_number_unsigned() ? std::to_string(version.get<std::uint64_t>()) : std::string("unknown");
}

class BackupOperations {
 public:
  BackupOperations(NativeService& service, std::uint32_t id, std::string operation, const json& arguments,
                   const Caller& caller)
      : service_(service), meter_(service.meter()), id_(id), operation_(std::move(operation)), arguments_(arguments),
        caller_(caller) {}

  NativeOutcome run();

 private:
  NativeOutcome get();
  NativeOutcome restore();

  NativeService& service_;
  Meter& meter_;
  std::uint32_t id_;
  std::string operation_;
  const json& arguments_;
  const Caller& caller_;
};

NativeOutcome BackupOperations::get() {
  // Recorded first, so the backup's events include the taking of the backup.
  meter_.record_security_event(SecurityEventType::configuration_access, caller_.source, "backup.get");
  json result = {{"identity", identity_json(meter_.state())},
                 {"configuration", configuration_to_json(meter_.configuration())},
                 {"config_version", meter_.config_version()}};
  const auto fixed = json::to_cbor(result).size() + k_backup_reply_margin_bytes;
  const std::size_t budget = native::k_max_body_size > fixed ? native::k_max_body_size - fixed : 0;
  const auto records = meter_.security_events().records();
  std::vector<json> newest_first;
  std::size_t used = 0;
  for (auto record = records.rbegin(); record != records.rend(); ++record) {
    auto entry = security_event_json(*record);
    used += json::to_cbor(entry).size();
    if (used > budget) break;
    newest_first.push_back(std::move(entry));
  }
  result["events_omitted"] = records.size() - newest_first.size();
  json events = json::array();
  for (auto entry = newest_first.rbegin(); entry != newest_first.rend(); ++entry) events.push_back(std::move(*entry));
  result["events"] = std::move(events);
  log::info("backup.taken", {{"serial", meter_.state().serial_number},
                             {"user", caller_.user},
                             {"version", std::to_string(meter_.config_version())}});
  return response_reply(id_, std::move(result));
}

NativeOutcome BackupOperations::restore() {
  if (!arguments_.is_object() || !arguments_.contains("backup") || !arguments_.at("backup").is_object()) {
    return invalid(id_, "backup.restore needs backup: the object backup.get returned");
  }
  std::optional<std::uint64_t> expected_version;
  if (arguments_.contains("expected_version")) {
    if (!arguments_.at("expected_version").is_number_unsigned()) {
      return invalid(id_, "backup.restore: expected_version must be a whole number (the meter's config_version)");
    }
    expected_version = arguments_.at("expected_version").get<std::uint64_t>();
  }
  const auto& backup = arguments_.at("backup");
  const auto& state = meter_.state();
  const auto identity = backup.value("identity", json());
  const auto model = identity.is_object() ? identity.value("model", json()) : json();
  const auto firmware_text = identity.is_object() ? identity.value("firmware", json()) : json();
  if (!model.is_string() || !firmware_text.is_string() || !Version::parse(firmware_text.get<std::string>())) {
    return invalid(id_, "backup.restore: the backup has no identity with its model and firmware; it does not come "
                        "from backup.get");
  }
  if (model.get<std::string>() != state.model) {
    return invalid(id_, "this backup was taken on model " + shown(model) + " (serial number " +
                            serial_of(identity) + "); this meter is model " +
                            state.model + " (serial number " + state.serial_number +
                            "): a backup is restored onto a meter of the same model only");
  }
  const auto backup_firmware = *Version::parse(firmware_text.get<std::string>());
  // A refusal of a backup from a newer firmware says what is the likely cause, and what to do.
  const auto with_hint = [&](std::string message) {
    if (backup_firmware <= state.firmware) return message;
    return within_limit(std::move(message),
                        "; the backup comes from firmware " + backup_firmware.to_string() + ", newer than this meter's " +
                            state.firmware.to_string() + ": upgrade this meter to " + backup_firmware.to_string() +
                            " or later (meterctl upgrade) and restore again, or restore a backup taken on firmware " +
                            state.firmware.to_string() + " or older");
  };
  if (!backup.contains("configuration") || !backup.at("configuration").is_object()) {
    return invalid(id_, "backup.restore: the backup has no configuration");
  }
  const auto& stored = backup.at("configuration");
  auto target = parse_meter_configuration(stored);
  if (!target) return invalid(id_, with_hint("the backup's configuration is not valid: " + target.error()));
  if (const auto unknown = unknown_members(stored, configuration_to_json(*target)); !unknown.empty()) {
    const auto message = "the backup holds settings firmware " + state.firmware.to_string() +
                         " does not have: " + listed(unknown);
    return invalid(id_, backup_firmware > state.firmware
                            ? with_hint(message)
                            : within_limit(message, "; it was not written by a meterd this meter knows: restore a "
                                                    "backup that backup.get of this firmware wrote"));
  }
  if (auto checked = meter_.check_configuration(*target); !checked) {
    return invalid(id_, with_hint("the backup's configuration does not fit this meter: " + checked.error()));
  }
  auto& runtime = service_.config_runtime();
  const auto wanted = wanted_ports(*target, runtime);
  const auto problems = check_profile_for_meter(configuration_profile(meter_, *target, wanted, PasswordHashes::left_out),
                                               meter_, runtime);
  if (!problems.empty()) {
    return invalid(id_, with_hint(problems_text(problems)));
  }

  const auto version = meter_.config_version();
  if (expected_version && *expected_version != version) {
    return error_reply(id_, ErrorCode::conflict,
                       "the configuration is at version " + std::to_string(version) + "; this restore expected " +
                           std::to_string(*expected_version) +
                           ": it changed meanwhile. Look at it and restore again, or use --force");
  }
  const auto current = meter_.configuration();
  const auto changes = sec::diff_profiles(
      configuration_profile(meter_, current, runtime.listening(), PasswordHashes::included),
      configuration_profile(meter_, *target, wanted, PasswordHashes::included));
  if (changes.empty()) {
    log::info("backup.unchanged", {{"serial", state.serial_number}, {"user", caller_.user}});
    return response_reply(id_, {{"changed", false},
                                {"config_version", version},
                                {"previous_version", version},
                                {"changes", json::array()}});
  }
  // The backup is the configuration asked for, to be kept: a pending confirm's deadline
  // must not put back what came before it.
  const bool was_pending = meter_.pending_confirm().has_value();
  if (auto switched = switch_configuration(service_, std::move(*target), std::nullopt); !switched) {
    return error_reply(id_, switched.error().first, switched.error().second);
  }
  if (was_pending) runtime.cancel_confirm_timer();
  const auto source = serial_of(identity);
  const auto detail = "backup.restore of the backup of " + source + " (firmware " + backup_firmware.to_string() +
                      ", configuration version " + version_of(backup) + "): version " +
                      std::to_string(version) + " -> " + std::to_string(meter_.config_version()) + ", " +
                      std::to_string(changes.size()) + " changes";
  const bool security_changed = current.security != meter_.configuration().security;
  meter_.record_security_event(
      security_changed ? SecurityEventType::security_configuration_change : SecurityEventType::configuration_change,
      caller_.source, detail);
  log::info("backup.restored", {{"serial", state.serial_number},
                                {"backup_of", source},
                                {"user", caller_.user},
                                {"from_version", std::to_string(version)},
                                {"version", std::to_string(meter_.config_version())},
                                {"changes", std::to_string(changes.size())}});
  return response_reply(id_, {{"changed", true},
                              {"config_version", meter_.config_version()},
                              {"previous_version", version},
                              {"changes", changes_json(changes)}});
}

// The permission (security-config: a backup holds password hashes) was checked by
// NativeService::execute against its table.
NativeOutcome BackupOperations::run() {
  if (operation_ == "backup.get") return get();
  if (operation_ == "backup.restore") return restore();
  return error_reply(id_, ErrorCode::unknown_operation, "no operation '" + operation_ + "'");
}

}  // namespace

bool is_backup_operation(std::string_view operation) {
  return std::find(std::begin(k_operations), std::end(k_operations), operation) != std::end(k_operations);
}

NativeOutcome run_backup_operation(NativeService& service, std::uint32_t request_id, const std::string& operation,
                                   const json& arguments, const Caller& caller) {
  return BackupOperations(service, request_id, operation, arguments, caller).run();
}

std::vector<std::string> unknown_members(const json& given, const json& understood) {
  std::vector<std::string> unknown;
  collect_unknown(given, understood, "", unknown);
  return unknown;
}

}  // namespace meterd
