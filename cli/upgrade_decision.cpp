#include "cli/upgrade_decision.hpp"

#include <algorithm>

#include "libproto/model/firmware_rules.hpp"

namespace cli {

namespace {

bool same_name(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
  });
}

UpgradeDecision refuse(UpgradeDecision decision, ExitCode code, std::string reason) {
  decision.verdict = Verdict::refuse;
  decision.code = code;
  decision.reason = std::move(reason);
  return decision;
}

}  // namespace

UpgradeDecision decide_upgrade(const UpgradeStatus& status, const sec::FirmwareManifest& manifest,
                               const proto::model::DeviceModel* model) {
  UpgradeDecision decision;
  const auto target = manifest.firmware_version.to_string();
  const auto running = status.running_version.to_string();

  if (!same_name(status.model, manifest.model)) {
    return refuse(std::move(decision), exit_data,
                  "the package is for " + manifest.model + "; this meter is " +
                      (status.model.empty() ? std::string("of an unnamed model") : "an " + status.model));
  }
  decision.passed.push_back("the package is for this meter's model, " + status.model);

  if (status.trial) {
    const auto& trial = *status.trial;
    return refuse(std::move(decision), exit_timeout,
                  "the meter is trying " + trial.to_version.to_string() + " in slot " + trial.slot + " (boot " +
                      std::to_string(trial.attempts) + " of " + std::to_string(trial.max_attempts) +
                      "); try again once it has committed or fallen back (meterctl upgrade status)");
  }
  decision.passed.push_back("no firmware trial is pending");

  if (status.running_version == manifest.firmware_version) {
    decision.verdict = Verdict::skip;
    decision.reason = "already runs " + target;
    return decision;
  }

  if (model != nullptr) {
    if (model->find_firmware(manifest.firmware_version) == nullptr) {
      return refuse(std::move(decision), exit_data, model->name + " has no firmware " + target);
    }
    if (auto refusal = proto::model::check_firmware_change(*model, status.running_version, manifest.firmware_version,
                                                           status.rollback_floor)) {
      return refuse(std::move(decision), exit_data, std::move(*refusal));
    }
    std::string floor = status.rollback_floor ? ", rollback floor " + status.rollback_floor->to_string() : "";
    decision.passed.push_back("the model's firmware rules allow " + running + " -> " + target + floor);
  } else {
    decision.passed.push_back("firmware rules of " + status.model +
                              " not checked here (meterctl does not know the model); the meter checks them");
  }

  const auto& trusted = status.trusted_key_ids;
  if (std::find(trusted.begin(), trusted.end(), manifest.key_id) == trusted.end()) {
    return refuse(std::move(decision), exit_denied,
                  "the meter trusts no key " + manifest.key_id +
                      "; install the signer's PREFIX.pub in the meter's <state>/trusted-keys (or start meterd with "
                      "--trusted-key PREFIX.pub)");
  }
  decision.passed.push_back("the meter trusts the signing key " + manifest.key_id);
  decision.verdict = Verdict::go;
  return decision;
}

}  // namespace cli
