#include "firmware/upgrade_operations.hpp"

#include <cmath>
#include <memory>
#include <optional>

#include "firmware/boot_record.hpp"
#include "firmware/log.hpp"
#include "firmware/meter_clock.hpp"
#include "firmware/meter_state.hpp"
#include "firmware/native_replies.hpp"
#include "firmware/package_acceptance.hpp"
#include "firmware/package_installer.hpp"
#include "libproto/model/firmware_rules.hpp"
#include "libsec/private_file.hpp"

namespace meterd {

namespace native = proto::codec::native;
using native::ErrorCode;
using nlohmann::json;
using sec::SecurityEventType;

namespace {

constexpr std::string_view k_operations[] = {"upgrade.status", "upgrade.begin",    "upgrade.chunk",
                                             "upgrade.finish", "upgrade.activate", "upgrade.abort"};

// Error text is bounded by the protocol (k_max_message_length); a refusal can quote a
// long list (the keys offered), so it is cut at a character boundary.
std::string fitted(std::string message) {
  const std::size_t limit = native::k_max_message_length;
  if (message.size() <= limit) return message;
  const std::string_view ellipsis = " ...";
  std::size_t cut = limit - ellipsis.size();
  while (cut > 0 && (static_cast<unsigned char>(message[cut]) & 0xC0) == 0x80) --cut;
  message.resize(cut);
  message += ellipsis;
  return message;
}

NativeReply failure(std::uint32_t id, ErrorCode code, std::string message) {
  return error_reply(id, code, fitted(std::move(message)));
}

NativeReply invalid(std::uint32_t id, std::string message) {
  return failure(id, ErrorCode::invalid_argument, std::move(message));
}

NativeReply verifying_busy(std::uint32_t id) {
  return failure(id, ErrorCode::busy, "upgrade.finish is verifying the upload; wait for its answer");
}

std::int64_t wall_seconds() { return static_cast<std::int64_t>(std::floor(MeterClock::wall_now())); }

std::shared_ptr<UpgradeSession> session_of(NativeService& service) {
  auto& session = service.upgrade_session();
  if (!session) session = std::make_shared<UpgradeSession>(service.meter().state_dir());
  return session;
}

// Clears UpgradeSession::verifying when upgrade.finish's work is done with, whether its
// answer was given or the worker's queue was full and the work was dropped unrun.
class VerifyingFlag {
 public:
  explicit VerifyingFlag(std::shared_ptr<UpgradeSession> session) : session_(std::move(session)) {
    session_->verifying = true;
  }
  VerifyingFlag(const VerifyingFlag&) = delete;
  VerifyingFlag& operator=(const VerifyingFlag&) = delete;
  ~VerifyingFlag() { release(); }

  // Once only: a later upgrade.finish may have set the flag again by the time the last
  // copy of this one goes.
  void release() {
    if (!released_.exchange(true)) session_->verifying = false;
  }

 private:
  std::shared_ptr<UpgradeSession> session_;
  std::atomic<bool> released_{false};
};

json version_json(const std::optional<proto::model::Version>& version) {
  return version ? json(version->to_string()) : json(nullptr);
}

json slot_json(const std::optional<SlotRecord>& slot) {
  if (!slot) return nullptr;
  return {{"version", version_json(slot->version)},
          {"factory", slot->factory},
          {"installed_at", slot->installed_at},
          {"key_id", slot->key_id},
          {"payload_sha256", slot->payload_sha256}};
}

json upload_json(const std::optional<UploadProgress>& upload) {
  if (!upload) return nullptr;
  return {{"length", upload->length}, {"sha256", upload->sha256}, {"offset", upload->offset}};
}

bool supervised(NativeService& service) {
  const auto* control = service.boot_control();
  return control != nullptr && control->supervised();
}

// The executable running now: slot a of a boot record this meter creates itself.
std::filesystem::path running_executable() {
  std::error_code error;
  auto path = std::filesystem::read_symlink("/proc/self/exe", error);
  return error ? std::filesystem::path() : path;
}

// A pending trial freezes the slots: the supervisor is about to boot one of them.
std::optional<NativeReply> refuse_during_trial(std::uint32_t id, const std::filesystem::path& state_dir,
                                               std::string_view operation) {
  auto record = load_boot_record(state_dir);
  if (!record) return failure(id, ErrorCode::internal_error, record.error());
  if (*record && (*record)->trial) {
    return failure(id, ErrorCode::busy,
                   std::string(operation) + ": slot " + std::string(to_string((*record)->trial->slot)) +
                       " is on trial; wait until it commits or falls back (upgrade.status shows it)");
  }
  return std::nullopt;
}

class UpgradeOperations {
 public:
  UpgradeOperations(NativeService& service, std::uint32_t id, const json& arguments, const Caller& caller)
      : service_(service),
        meter_(service.meter()),
        id_(id),
        arguments_(arguments),
        caller_(caller),
        session_(session_of(service)) {}

  NativeOutcome status();
  NativeOutcome begin();
  NativeOutcome chunk();
  NativeOutcome finish();
  NativeOutcome activate();
  NativeOutcome abort();

 private:
  std::optional<std::uint64_t> unsigned_argument(std::string_view name) const {
    const auto it = arguments_.find(std::string(name));
    if (it == arguments_.end() || !it->is_number_unsigned()) return std::nullopt;
    return it->get<std::uint64_t>();
  }

  NativeService& service_;
  Meter& meter_;
  std::uint32_t id_;
  const json& arguments_;
  const Caller& caller_;
  std::shared_ptr<UpgradeSession> session_;
};

NativeOutcome UpgradeOperations::status() {
  const auto& state = meter_.state();
  auto loaded = load_boot_record(meter_.state_dir());
  if (!loaded) return failure(id_, ErrorCode::internal_error, loaded.error());
  const auto* control = service_.boot_control();
  const auto running_slot = control ? control->running_slot() : std::nullopt;
  json result = {{"model", state.model},
                 {"feature_set", state.feature_set},
                 {"serial_number", state.serial_number},
                 {"running",
                  {{"slot", running_slot ? json(std::string(to_string(*running_slot))) : json(nullptr)},
                   {"version", state.firmware.to_string()},
                   {"vendor_version", state.firmware.vendor_form()}}},
                 {"supervised", supervised(service_)}};
  // A meter that never ran under its supervisor has no record: one slot, the executable.
  const BootRecord record = *loaded ? **loaded : BootRecord{};
  result["slots"] = {{"a", slot_json(record.slot(Slot::a))}, {"b", slot_json(record.slot(Slot::b))}};
  // A factory slot runs whatever --firmware says; while it runs, that version is known.
  if (running_slot && record.slot(*running_slot) && record.slot(*running_slot)->factory) {
    result["slots"][std::string(to_string(*running_slot))]["version"] = state.firmware.to_string();
  }
  result["active"] = std::string(to_string(record.active));
  if (record.trial) {
    const auto& trial = *record.trial;
    result["trial"] = {{"slot", std::string(to_string(trial.slot))},
                       {"attempts", trial.attempts},
                       {"max_attempts", trial.max_attempts},
                       {"health_deadline_s", trial.health_deadline_s},
                       {"from_version", trial.from_version.to_string()},
                       {"to_version", trial.to_version.to_string()}};
  } else {
    result["trial"] = nullptr;
  }
  result["rollback_floor"] = version_json(record.rollback_floor);
  if (record.last_outcome) {
    const auto& outcome = *record.last_outcome;
    result["last_outcome"] = {{"committed", outcome.committed},
                              {"slot", std::string(to_string(outcome.slot))},
                              {"version", outcome.version.to_string()},
                              {"reason", outcome.reason},
                              {"at", outcome.at}};
  } else {
    result["last_outcome"] = nullptr;
  }
  json key_ids = json::array();
  if (auto keys = load_trusted_keys(meter_.state_dir()); keys) {
    for (const auto& key : *keys) key_ids.push_back(key.id);
  } else {
    // Shown rather than failing the whole status: it is what upgrade.finish will say.
    result["trusted_keys_problem"] = keys.error();
  }
  result["trusted_key_ids"] = std::move(key_ids);
  result["upload"] = upload_json(session_->upload.current());
  return response_reply(id_, std::move(result));
}

NativeOutcome UpgradeOperations::begin() {
  if (session_->verifying) return verifying_busy(id_);
  const auto length = unsigned_argument("length");
  const auto sha256 = arguments_.find("sha256");
  if (!length || sha256 == arguments_.end() || !sha256->is_string()) {
    return invalid(id_, "upgrade.begin needs length (bytes of the package) and sha256 (its SHA-256, hex)");
  }
  if (auto refused = refuse_during_trial(id_, meter_.state_dir(), "upgrade.begin")) return *refused;
  const auto before = session_->upload.current();
  auto progress = session_->upload.begin(*length, sha256->get<std::string>());
  if (!progress) {
    const auto code =
        progress.error().kind == UploadError::storage_failed ? ErrorCode::internal_error : ErrorCode::invalid_argument;
    return failure(id_, code, progress.error().message);
  }
  const bool resumed = before && before->length == progress->length && before->sha256 == progress->sha256;
  log::info(resumed ? "upgrade.upload_resumed" : "upgrade.upload_started",
            {{"serial", meter_.state().serial_number},
             {"length", std::to_string(progress->length)},
             {"offset", std::to_string(progress->offset)},
             {"user", caller_.user}});
  return response_reply(id_, {{"offset", progress->offset}});
}

NativeOutcome UpgradeOperations::chunk() {
  if (session_->verifying) return verifying_busy(id_);
  const auto offset = unsigned_argument("offset");
  const auto data = arguments_.find("data");
  if (!offset || data == arguments_.end() || !data->is_binary()) {
    return invalid(id_, "upgrade.chunk needs offset (where the data goes) and data (a byte string)");
  }
  const auto& bytes = data->get_binary();
  if (bytes.empty() || bytes.size() > k_max_upload_chunk_bytes) {
    return invalid(id_, "upgrade.chunk data is " + std::to_string(bytes.size()) + " bytes; send 1 to " +
                            std::to_string(k_max_upload_chunk_bytes) + " at a time");
  }
  auto progress =
      session_->upload.append(*offset, std::span(reinterpret_cast<const std::byte*>(bytes.data()), bytes.size()));
  if (!progress) {
    const auto code =
        progress.error().kind == UploadError::storage_failed ? ErrorCode::internal_error : ErrorCode::invalid_argument;
    return failure(id_, code, progress.error().message);
  }
  return response_reply(id_, {{"offset", progress->offset}});
}

NativeOutcome UpgradeOperations::finish() {
  if (session_->verifying) return verifying_busy(id_);
  const auto upload = session_->upload.current();
  if (!upload) return invalid(id_, "no firmware upload is in progress; start one with upgrade.begin");
  if (upload->offset != upload->length) {
    return invalid(id_, "the upload holds " + std::to_string(upload->offset) + " of " + std::to_string(upload->length) +
                            " bytes; send the rest with upgrade.chunk first");
  }
  InstallTarget target;
  target.state_dir = meter_.state_dir();
  target.model = meter_.model();
  target.running = meter_.state().firmware;
  target.today = utc_date(meter_.now());
  target.factory_executable = running_executable();
  target.now = wall_seconds();

  using Installed = proto::Result<InstalledPackage, PackageRefusal>;
  struct Work {
    std::optional<Installed> installed;
    std::optional<std::string> discard_problem;
  };
  auto work = std::make_shared<Work>();
  auto flag = std::make_shared<VerifyingFlag>(session_);
  auto session = session_;
  DeferredReply deferred;
  deferred.work = [work, flag, session, target = std::move(target), expected = *upload] {
    work->installed = install_package(session->upload.package_file(), expected, target);
    // Installed or refused, the upload has served; a meter that failed to write keeps it
    // for another upgrade.finish.
    if (work->installed->has_value() || work->installed->error().kind == PackageRefusal::refused) {
      if (auto discarded = session->upload.discard(); !discarded) work->discard_problem = discarded.error();
    }
  };
  deferred.finish = [service = &service_, id = id_, caller = caller_, work, flag](NativeConnection&) -> NativeOutcome {
    flag->release();
    auto& meter = service->meter();
    const auto& serial = meter.state().serial_number;
    if (work->discard_problem) {
      log::warning("upgrade.upload_not_removed", {{"serial", serial}, {"error", *work->discard_problem}});
    }
    const auto& installed = *work->installed;
    if (installed) {
      const auto slot = std::string(to_string(installed->slot));
      const auto version = installed->manifest.firmware_version.to_string();
      meter.record_security_event(
          SecurityEventType::firmware_change, caller.source,
          "package " + version + " verified (key " + installed->manifest.key_id + ") and installed in slot " + slot);
      log::info("upgrade.installed", {{"serial", serial},
                                      {"slot", slot},
                                      {"version", version},
                                      {"key", installed->manifest.key_id},
                                      {"user", caller.user}});
      auto manifest = sec::encode_manifest(installed->manifest);
      return response_reply(id, {{"slot", slot}, {"manifest", manifest ? json::parse(*manifest) : json::object()}});
    }
    const auto& refusal = installed.error();
    switch (refusal.kind) {
      case PackageRefusal::refused:
        meter.record_security_event(SecurityEventType::firmware_change, caller.source,
                                    "package refused: " + refusal.message);
        log::warning("upgrade.refused", {{"serial", serial}, {"reason", refusal.message}, {"user", caller.user}});
        return failure(id, ErrorCode::package_refused, refusal.message);
      case PackageRefusal::busy: return failure(id, ErrorCode::busy, refusal.message);
      case PackageRefusal::failed: break;
    }
    log::error("upgrade.install_failed", {{"serial", serial}, {"error", refusal.message}});
    return failure(id, ErrorCode::internal_error, refusal.message + "; the upload is kept: try upgrade.finish again");
  };
  return deferred;
}

NativeOutcome UpgradeOperations::activate() {
  auto* control = service_.boot_control();
  if (control == nullptr || !control->supervised()) {
    return failure(id_, ErrorCode::not_available,
                   "meterd runs without its boot supervisor (--no-supervisor): start it without that flag to "
                   "activate firmware");
  }
  if (session_->verifying) return verifying_busy(id_);
  std::uint32_t deadline = k_default_health_deadline_s;
  int attempts = k_default_trial_attempts;
  if (arguments_.contains("health_deadline_s")) {
    const auto value = unsigned_argument("health_deadline_s");
    if (!value || *value < k_min_activation_deadline_s || *value > k_max_activation_deadline_s) {
      return invalid(id_, "upgrade.activate: health_deadline_s must be " + std::to_string(k_min_activation_deadline_s) +
                              " to " + std::to_string(k_max_activation_deadline_s) + " seconds");
    }
    deadline = static_cast<std::uint32_t>(*value);
  }
  if (arguments_.contains("max_attempts")) {
    const auto value = unsigned_argument("max_attempts");
    if (!value || *value < 1 || *value > static_cast<std::uint64_t>(k_max_activation_attempts)) {
      return invalid(id_, "upgrade.activate: max_attempts must be 1 to " + std::to_string(k_max_activation_attempts));
    }
    attempts = static_cast<int>(*value);
  }

  const auto& state_dir = meter_.state_dir();
  auto lock = lock_boot_record(state_dir);
  if (!lock) return failure(id_, ErrorCode::internal_error, lock.error());
  auto loaded = load_boot_record(state_dir);
  if (!loaded) return failure(id_, ErrorCode::internal_error, loaded.error());
  if (!*loaded) {
    return failure(id_, ErrorCode::internal_error,
                   "no boot record in " + firmware_directory(state_dir).string() + " although the supervisor runs");
  }
  auto record = std::move(**loaded);
  if (record.trial) {
    return failure(id_, ErrorCode::busy, "slot " + std::string(to_string(record.trial->slot)) + " is already on trial");
  }
  const auto slot = other_slot(record.active);
  const auto slot_name = std::string(to_string(slot));
  const auto& waiting = record.slot(slot);
  if (!waiting || waiting->factory || !waiting->version) {
    return invalid(id_, "no verified package waits in slot " + slot_name +
                            "; upload one (upgrade.begin, upgrade.chunk, upgrade.finish)");
  }
  const auto target = *waiting->version;
  const auto running = meter_.state().firmware;
  // Checked again: the slot was filled against the firmware that ran then.
  if (auto refusal =
          version_refusal(meter_.model(), {running, record.rollback_floor, utc_date(meter_.now())}, target)) {
    return failure(id_, ErrorCode::package_refused, "slot " + slot_name + ": " + *refusal);
  }

  // The state a fallback puts back: saved now, so it holds everything up to this moment.
  if (auto saved = meter_.save(); !saved) return failure(id_, ErrorCode::internal_error, saved.error());
  const auto state_file = state_dir / k_state_file_name;
  auto state_text = sec::read_file_if_exists(state_file, k_max_state_file_bytes);
  if (!state_text) return failure(id_, ErrorCode::internal_error, state_text.error());
  if (!*state_text) return failure(id_, ErrorCode::internal_error, state_file.string() + " is missing after a save");
  if (auto copied = sec::write_private_file_atomically(pre_trial_state_file(state_dir), **state_text); !copied) {
    return failure(id_, ErrorCode::internal_error, copied.error());
  }

  TrialRecord trial;
  trial.slot = slot;
  trial.attempts = 0;
  trial.max_attempts = attempts;
  trial.health_deadline_s = deadline;
  trial.from_version = running;
  trial.to_version = target;
  trial.floor_on_commit = proto::model::rollback_floor_at(meter_.model(), target);
  trial.requested_at = wall_seconds();
  record.trial = trial;
  if (auto saved = save_boot_record(state_dir, record); !saved) {
    return failure(id_, ErrorCode::internal_error, saved.error());
  }
  meter_.record_security_event(SecurityEventType::firmware_change, caller_.source,
                               "activation of slot " + slot_name + ": " + running.to_string() + " -> " +
                                   target.to_string() + " on trial (" + std::to_string(attempts) + " boots, " +
                                   std::to_string(deadline) + " s to report healthy)");
  log::info("upgrade.activating", {{"serial", meter_.state().serial_number},
                                   {"slot", slot_name},
                                   {"from", running.to_string()},
                                   {"to", target.to_string()},
                                   {"user", caller_.user}});
  control->reboot_after_reply();
  return response_reply(id_, {{"slot", slot_name}, {"version", target.to_string()}, {"rebooting", true}});
}

NativeOutcome UpgradeOperations::abort() {
  if (session_->verifying) return verifying_busy(id_);
  auto discarded = session_->upload.discard();
  if (!discarded) return failure(id_, ErrorCode::internal_error, discarded.error());
  if (*discarded) {
    log::info("upgrade.upload_discarded", {{"serial", meter_.state().serial_number}, {"user", caller_.user}});
  }
  return response_reply(id_, {{"discarded", *discarded}});
}

}  // namespace

bool is_upgrade_operation(std::string_view operation) {
  for (const auto name : k_operations) {
    if (name == operation) return true;
  }
  return false;
}

NativeOutcome run_upgrade_operation(NativeService& service, std::uint32_t request_id, const std::string& operation,
                                    const json& arguments, const Caller& caller) {
  UpgradeOperations operations(service, request_id, arguments, caller);
  if (operation == "upgrade.status") return operations.status();
  if (operation == "upgrade.begin") return operations.begin();
  if (operation == "upgrade.chunk") return operations.chunk();
  if (operation == "upgrade.finish") return operations.finish();
  if (operation == "upgrade.activate") return operations.activate();
  return operations.abort();
}

}  // namespace meterd
