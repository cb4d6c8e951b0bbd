#include "cli/upgrade_apply.hpp"

#include <algorithm>
#include <cctype>
#include <thread>

#include "cli/upgrade_decision.hpp"
#include "libproto/model/device_model.hpp"
#include "libproto/model/firmware_rules.hpp"

namespace cli {

namespace {

using proto::model::Version;

// Verifying is hashing and checking a signature over the whole package on the meter's
// worker thread: seconds for the largest package, more on a slow meter. --timeout is
// meant for one answer of an ordinary operation, so verify waits at least this, plus a
// second per 8 MiB.
constexpr std::chrono::seconds k_min_verify_wait{10};
constexpr std::uint64_t k_verify_bytes_per_second = 8ULL * 1024 * 1024;

// A failure of one meter's upgrade, carried to the record.
struct Failure {
  ExitCode code;
  std::string reason;
};

bool connection_lost(const CommandError& error) {
  return (error.code == exit_unavailable || error.code == exit_timeout) &&
         error.message.find("(busy)") == std::string::npos;
}

bool meter_busy(const CommandError& error) { return error.message.find("(busy)") != std::string::npos; }

// The meter's words without "host:port: " before them (the record names the meter).
std::string meter_words(const CommandError& error, const std::string& meter) {
  const auto prefix = meter + ": ";
  if (error.message.rfind(prefix, 0) == 0) return error.message.substr(prefix.size());
  return error.message;
}

std::string without_suffix(std::string text, std::string_view suffix) {
  if (text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0) {
    text.resize(text.size() - suffix.size());
  }
  return text;
}

std::string hex(std::span<const std::byte> bytes) {
  static constexpr char k_digits[] = "0123456789abcdef";
  std::string text;
  for (const auto byte : bytes) {
    text += k_digits[std::to_integer<unsigned>(byte) >> 4];
    text += k_digits[std::to_integer<unsigned>(byte) & 0x0f];
  }
  return text;
}

// The model of the meter, when it is one this meterctl embeds. Never a path: the name
// comes from the meter, and find_device_model would read a file of that name.
std::optional<proto::model::DeviceModel> known_model(const std::string& name) {
  for (const auto& embedded : proto::model::embedded_model_names()) {
    const bool same = std::equal(embedded.begin(), embedded.end(), name.begin(), name.end(), [](char a, char b) {
      return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
    });
    if (!same) continue;
    auto model = proto::model::find_device_model(embedded);
    if (model) return std::move(*model);
  }
  return std::nullopt;
}

bool same_outcome(const std::optional<BootOutcomeStatus>& a, const std::optional<BootOutcomeStatus>& b) {
  if (a.has_value() != b.has_value()) return false;
  if (!a) return true;
  return a->committed == b->committed && a->slot == b->slot && a->version == b->version && a->at == b->at &&
         a->reason == b->reason;
}

class MeterUpgrade {
 public:
  MeterUpgrade(UpgradeLink& link, const CheckedPackage& package, const PackageReader& read,
               const ApplySettings& settings, UpgradeObserver& observer, const ApplyClock& clock)
      : link_(link),
        package_(package),
        manifest_(package.verified.manifest),
        read_(read),
        settings_(settings),
        observer_(observer),
        clock_(clock),
        started_(clock.now()) {}

  ApplyRun run() {
    run_.record.meter = link_.describe();
    run_.record.after.clear();
    try {
      if (auto failure = steps()) {
        run_.record.outcome = UpgradeOutcome::failed;
        run_.record.exit_code = failure->code;
        run_.record.reason = std::move(failure->reason);
      }
    } catch (const CommandError& error) {
      run_.record.outcome = UpgradeOutcome::failed;
      run_.record.exit_code = error.code;
      run_.record.reason = meter_words(error, run_.record.meter);
    } catch (const std::exception& error) {
      run_.record.outcome = UpgradeOutcome::failed;
      run_.record.exit_code = exit_software;
      run_.record.reason = error.what();
    }
    // The meter's invalid_argument (64 from the client's point of view) is not a
    // mistake on this command line: the package or the meter's state does not fit.
    if (run_.record.exit_code == exit_usage) run_.record.exit_code = exit_data;
    if (run_.record.after.empty()) run_.record.after = run_.record.before;
    end_stage();
    run_.record.duration_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(clock_.now() - started_).count();
    return std::move(run_);
  }

 private:
  void begin_stage(UpgradeStage stage) {
    end_stage();
    stage_ = stage;
    stage_started_ = clock_.now();
    observer_.begin(stage);
  }

  void end_stage() {
    if (!stage_) return;
    run_.record.stage_ms.emplace_back(
        std::string(to_string(*stage_)),
        std::chrono::duration_cast<std::chrono::milliseconds>(clock_.now() - stage_started_).count());
    stage_.reset();
  }

  // Each step returns a failure, or nothing to go on.
  std::optional<Failure> steps() {
    begin_stage(UpgradeStage::check);
    auto status = read_status();
    if (!status) return status.error();
    run_.record.serial_number = status->serial_number;
    run_.record.before = status->running_version.to_string();
    before_outcome_ = status->last_outcome;
    const auto model = known_model(status->model);
    const auto decision = decide_upgrade(*status, manifest_, model ? &*model : nullptr);
    run_.checks = decision.passed;
    if (model && decision.verdict == Verdict::go) {
      run_.effects = proto::model::describe_firmware_change(*model, status->running_version,
                                                            manifest_.firmware_version);
    }
    switch (decision.verdict) {
      case Verdict::refuse: return Failure{decision.code, decision.reason};
      case Verdict::skip:
        observer_.end(UpgradeStage::check, "skipped: " + decision.reason);
        run_.record.outcome = UpgradeOutcome::skipped;
        run_.record.reason = decision.reason;
        return std::nullopt;
      case Verdict::go: break;
    }
    if (settings_.dry_run) {
      observer_.end(UpgradeStage::check, "dry run: every check passed");
      run_.record.outcome = UpgradeOutcome::dry_run;
      run_.record.reason = "every check passed; nothing was written";
      return std::nullopt;
    }
    observer_.end(UpgradeStage::check, "check ok: " + run_.record.before + " -> " +
                                           manifest_.firmware_version.to_string());
    if (settings_.backup) {
      begin_stage(UpgradeStage::backup);
      try {
        run_.record.backup = link_.backup(settings_.backup_directory).string();
      } catch (const CommandError& error) {
        return Failure{error.code, "the backup failed, so nothing was changed: " +
                                       meter_words(error, run_.record.meter) +
                                       " (--no-backup upgrades without one)"};
      }
      observer_.end(UpgradeStage::backup, "backup " + run_.record.backup);
    }
    if (auto failure = transfer()) return failure;
    if (auto failure = verify()) return failure;
    if (auto failure = activate()) return failure;
    return wait_for_health();
  }

  proto::Result<UpgradeStatus, Failure> read_status() {
    auto answer = link_.request("upgrade.status", nlohmann::json::object(), std::nullopt);
    if (!answer) return proto::unexpected(Failure{answer.error().code, meter_words(answer.error(), run_.record.meter)});
    auto status = parse_upgrade_status(*answer);
    if (!status) return proto::unexpected(Failure{exit_protocol, status.error()});
    return std::move(*status);
  }

  std::optional<Failure> transfer() {
    begin_stage(UpgradeStage::transfer);
    const auto start = clock_.now();
    auto uploaded = upload_package(link_, read_, package_.length, package_.sha256, settings_.upload, clock_.sleep,
                                   [this](std::uint64_t acknowledged) {
                                     observer_.advance(UpgradeStage::transfer, acknowledged, package_.length);
                                   });
    if (!uploaded) {
      return Failure{uploaded.error().code, "the transfer failed: " + meter_words(uploaded.error(), run_.record.meter)};
    }
    const std::chrono::duration<double> elapsed = clock_.now() - start;
    observer_.end(UpgradeStage::transfer, transfer_line(uploaded->sent, elapsed, uploaded->resumed_at));
    return std::nullopt;
  }

  std::chrono::milliseconds verify_wait() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
        k_min_verify_wait + std::chrono::seconds(package_.length / k_verify_bytes_per_second));
  }

  // Whether the meter holds this package, verified, in a slot: a verification whose
  // answer was lost on the way.
  bool installed(const UpgradeStatus& status) const {
    const auto payload = hex(manifest_.payload_sha256);
    return std::any_of(status.slots.begin(), status.slots.end(), [&](const std::optional<SlotStatus>& slot) {
      return slot && !slot->factory && slot->payload_sha256 == payload && slot->version == manifest_.firmware_version;
    });
  }

  std::optional<Failure> verify() {
    begin_stage(UpgradeStage::verify);
    std::size_t attempts = 0;
    while (true) {
      auto answer = link_.request("upgrade.finish", nlohmann::json::object(), verify_wait());
      if (answer) {
        observer_.end(UpgradeStage::verify, "verify ok");
        return std::nullopt;
      }
      const auto& error = answer.error();
      const auto words = meter_words(error, run_.record.meter);
      if (error.message.find("(package_refused)") != std::string::npos) {
        const auto reason = without_suffix(words, " (package_refused)");
        return Failure{refusal_exit_code(reason), "the meter refused the package: " + reason};
      }
      if (!connection_lost(error) && !meter_busy(error)) return Failure{error.code, "verification failed: " + words};
      // The answer was lost, or an earlier verification still runs: ask again on a fresh
      // connection; a package already installed by then counts as verified.
      if (attempts == settings_.upload.backoff.size()) {
        return Failure{error.code, "verification failed: " + words + " (after " + std::to_string(attempts) +
                                       " attempts)"};
      }
      clock_.sleep(settings_.upload.backoff[attempts++]);
      if (auto reconnected = link_.reconnect(); !reconnected) continue;
      auto status = read_status();
      if (status && installed(*status)) {
        observer_.end(UpgradeStage::verify, "verify ok");
        return std::nullopt;
      }
    }
  }

  std::optional<Failure> activate() {
    begin_stage(UpgradeStage::activate);
    auto answer = link_.request("upgrade.activate", {{"health_deadline_s", settings_.health_deadline_s}}, std::nullopt);
    if (!answer) {
      // The meter may have activated and rebooted before its answer left: the health
      // check below finds out which.
      if (connection_lost(answer.error())) {
        observer_.end(UpgradeStage::activate, "activate: no answer (the meter may be rebooting)");
        return std::nullopt;
      }
      return Failure{answer.error().code, "activation failed: " + meter_words(answer.error(), run_.record.meter)};
    }
    const auto slot = answer->is_object() ? answer->value("slot", nlohmann::json()) : nlohmann::json();
    observer_.end(UpgradeStage::activate, "activate slot " + (slot.is_string() ? slot.get<std::string>() : "?"));
    return std::nullopt;
  }

  std::optional<Failure> wait_for_health() {
    begin_stage(UpgradeStage::health);
    const auto target = manifest_.firmware_version;
    const auto activated = clock_.now();
    auto wait = health_wait(settings_.health_deadline_s, k_default_trial_boots);
    std::string last_seen = "no answer yet";
    const auto milliseconds = [](auto duration) {
      return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(duration).count());
    };
    while (true) {
      clock_.sleep(clock_.poll_interval);
      const auto waited = clock_.now() - activated;
      if (waited > wait) {
        const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(wait).count();
        return Failure{exit_timeout, "no verdict from the meter within " + std::to_string(seconds) +
                                         " s of activating " + target.to_string() + " (" + last_seen +
                                         "); see meterctl upgrade status"};
      }
      observer_.advance(UpgradeStage::health, milliseconds(waited), milliseconds(wait));
      if (auto reconnected = link_.reconnect(); !reconnected) {
        last_seen = "last: " + meter_words(reconnected.error(), run_.record.meter);
        // A refused login or a changed key does not heal by waiting; a handshake cut
        // short by the old firmware as it stops does.
        const bool handshake = reconnected.error().message.find("TLS handshake") != std::string::npos;
        if (!connection_lost(reconnected.error()) && !handshake) {
          return Failure{reconnected.error().code, "after activation: " + meter_words(reconnected.error(),
                                                                                      run_.record.meter)};
        }
        continue;
      }
      auto status = read_status();
      if (!status) {
        last_seen = "last: " + status.error().reason;
        continue;
      }
      if (status->trial) {
        last_seen = "trial boot " + std::to_string(status->trial->attempts) + " of " +
                    std::to_string(status->trial->max_attempts);
        wait = std::max(wait, health_wait(static_cast<std::uint32_t>(status->trial->health_deadline_s),
                                          status->trial->max_attempts));
      }
      switch (health_verdict(*status, target, before_outcome_)) {
        case HealthVerdict::waiting: continue;
        case HealthVerdict::committed:
          run_.record.outcome = UpgradeOutcome::upgraded;
          run_.record.after = status->running_version.to_string();
          observer_.end(UpgradeStage::health, "healthy on " + run_.record.after);
          return std::nullopt;
        case HealthVerdict::fell_back:
          run_.record.after = status->running_version.to_string();
          return Failure{exit_upgrade_failed, "meter fell back to " + run_.record.after + ": " +
                                           (status->last_outcome ? status->last_outcome->reason : "")};
        case HealthVerdict::not_started:
          run_.record.after = status->running_version.to_string();
          return Failure{exit_upgrade_failed, "the activation did not take: the meter runs " + run_.record.after +
                                           " with no trial of " + target.to_string() + "; see meterctl upgrade status"};
      }
    }
  }

  UpgradeLink& link_;
  const CheckedPackage& package_;
  const sec::FirmwareManifest& manifest_;
  const PackageReader& read_;
  const ApplySettings& settings_;
  UpgradeObserver& observer_;
  const ApplyClock& clock_;
  std::chrono::steady_clock::time_point started_;
  std::optional<UpgradeStage> stage_;
  std::chrono::steady_clock::time_point stage_started_;
  std::optional<BootOutcomeStatus> before_outcome_;
  ApplyRun run_;
};

}  // namespace

ApplyClock system_apply_clock() {
  ApplyClock clock;
  clock.now = [] { return std::chrono::steady_clock::now(); };
  clock.sleep = [](std::chrono::milliseconds duration) { std::this_thread::sleep_for(duration); };
  return clock;
}

ApplyRun apply_package(UpgradeLink& link, const CheckedPackage& package, const PackageReader& read,
                       const ApplySettings& settings, UpgradeObserver& observer, const ApplyClock& clock) {
  return MeterUpgrade(link, package, read, settings, observer, clock).run();
}

ExitCode refusal_exit_code(std::string_view reason) {
  // The meter's words for a signature that fails and for a key it does not hold
  // (sec::PackageVerifier::finish, firmware/package_installer.cpp).
  for (const auto* words : {"signature does not verify", "not among the keys offered", "trusts no key"}) {
    if (reason.find(words) != std::string_view::npos) return exit_denied;
  }
  return exit_data;
}

HealthVerdict health_verdict(const UpgradeStatus& status, const proto::model::Version& target,
                             const std::optional<BootOutcomeStatus>& before) {
  if (status.trial) return HealthVerdict::waiting;
  const bool news = !same_outcome(status.last_outcome, before);
  if (status.running_version == target && (!status.last_outcome || status.last_outcome->committed || !news)) {
    return HealthVerdict::committed;
  }
  if (news && status.last_outcome && !status.last_outcome->committed && status.last_outcome->version == target) {
    return HealthVerdict::fell_back;
  }
  return HealthVerdict::not_started;
}

std::chrono::seconds health_wait(std::uint32_t health_deadline_s, int max_boots) {
  return std::chrono::seconds(static_cast<std::int64_t>(health_deadline_s) * std::max(max_boots, 1)) +
         k_health_margin;
}

}  // namespace cli
