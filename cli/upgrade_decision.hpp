#pragma once
// Whether a package may go onto a meter, decided from the meter's upgrade.status before
// a byte is sent (meterctl-upgrade(1), apply): the meter would refuse the same things
// after the transfer, but a refusal up front costs no upload and no backup. Pure.

#include <string>
#include <vector>

#include "cli/exit_codes.hpp"
#include "cli/upgrade_status.hpp"
#include "libproto/model/device_model.hpp"
#include "libsec/firmware_package.hpp"

namespace cli {

enum class Verdict {
  go,      // every check passed
  skip,    // the meter already runs the package's version: nothing to do
  refuse,  // a check failed: `code` and `reason` say which
};

struct UpgradeDecision {
  Verdict verdict = Verdict::refuse;
  ExitCode code = exit_ok;  // refuse: exit_data, exit_denied or exit_timeout
  std::string reason;       // skip and refuse
  std::vector<std::string> passed;  // the checks passed, in order (what --dry-run prints)
};

// In order:
//   1. the package's model is the meter's (else exit_data);
//   2. no trial is pending (else exit_timeout: try again once it has committed or fallen back);
//   3. the meter does not already run the version (else skip);
//   4. the model's firmware rules allow the change from the running version, given the
//      meter's rollback floor (else exit_data naming the floor) — when meterctl knows the
//      model (`model` not null); the meter checks again in any case;
//   5. the meter trusts the key that signed the package (else exit_denied, saying where
//      the key goes).
UpgradeDecision decide_upgrade(const UpgradeStatus& status, const sec::FirmwareManifest& manifest,
                               const proto::model::DeviceModel* model);

}  // namespace cli
