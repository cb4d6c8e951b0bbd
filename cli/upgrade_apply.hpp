#pragma once
// One meter's firmware upgrade, start to end (meterctl-upgrade(1), apply): read the
// meter's status and decide, back it up, send the package (resuming a dropped
// transfer), have the meter verify and activate it, and wait until the new firmware has
// committed or the meter has fallen back. It talks to the meter only through an
// UpgradeLink and waits only through the clock handed in, so the tests run it against a
// fake meter in no time; `meterctl upgrade apply` gives it the real ones.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cli/package_file.hpp"
#include "cli/package_upload.hpp"
#include "cli/upgrade_link.hpp"
#include "cli/upgrade_progress.hpp"
#include "cli/upgrade_record.hpp"
#include "cli/upgrade_status.hpp"

namespace cli {

// upgrade.activate's health_deadline_s (meter-native-protocol(7)): 5 s to an hour.
inline constexpr std::uint32_t k_min_health_deadline_s = 5;
inline constexpr std::uint32_t k_max_health_deadline_s = 3600;
inline constexpr std::uint32_t k_default_health_deadline_s = 60;
// The boots a meter gives a new firmware before it falls back, unless told otherwise
// (the boot supervisor's default, meterd(8)).
inline constexpr int k_default_trial_boots = 3;
// Beyond the trial's own deadlines: the time to stop the old firmware, start the new
// one, and answer again.
inline constexpr std::chrono::seconds k_health_margin{30};

struct ApplySettings {
  bool backup = true;
  std::filesystem::path backup_directory;
  bool dry_run = false;
  std::uint32_t health_deadline_s = k_default_health_deadline_s;
  UploadSettings upload;
};

// How often the health check asks again while the meter reboots: a refused connection
// costs nothing, and a reboot of a local meter takes a few tenths of a second.
inline constexpr std::chrono::milliseconds k_health_poll_interval{50};

// The clocks and the wait, handed in.
struct ApplyClock {
  std::function<std::chrono::steady_clock::time_point()> now;
  Sleeper sleep;
  // How often the health check asks again while the meter reboots.
  std::chrono::milliseconds poll_interval = k_health_poll_interval;
};
ApplyClock system_apply_clock();

struct ApplyRun {
  UpgradeRecord record;
  std::vector<std::string> checks;   // the checks passed, in order
  std::vector<std::string> effects;  // what the change does to the meter (the model's rules)
};

// Runs the whole upgrade of the meter behind `link` with `package` (checked offline,
// its bytes read through `read`). Never throws for what a meter or a network does: a
// failure is a record with outcome failed, its reason and exit code.
ApplyRun apply_package(UpgradeLink& link, const CheckedPackage& package, const PackageReader& read,
                       const ApplySettings& settings, UpgradeObserver& observer, const ApplyClock& clock);

// The pure parts, for the tests.

// The exit status for the meter's refusal of a package (upgrade.finish's package_refused):
// exit_denied when the signature or the key is the reason, exit_data otherwise.
ExitCode refusal_exit_code(std::string_view reason);

enum class HealthVerdict {
  waiting,      // a trial is pending (or the meter still runs the old firmware's last moments)
  committed,    // the meter runs the target version, committed
  fell_back,    // the trial failed: the meter runs the previous version again
  not_started,  // no trial, no new outcome: the activation did not take
};
// What an upgrade.status read after activation says. `before` is the last_outcome the
// status showed before activation: an outcome equal to it is old news.
HealthVerdict health_verdict(const UpgradeStatus& status, const proto::model::Version& target,
                             const std::optional<BootOutcomeStatus>& before);

// The overall health deadline: every boot the trial may take, and the margin.
std::chrono::seconds health_wait(std::uint32_t health_deadline_s, int max_boots);

}  // namespace cli
