#pragma once
// What the boot supervisor decides, without doing any of it: which slot to boot, when a
// trial commits or falls back, and what follows the end of a firmware process. No
// processes, files or clocks here (the caller passes the time), so every rule of
// meterd(8), BOOT SUPERVISOR, has a unit test; supervisor.cpp carries the decisions out.

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "firmware/boot_record.hpp"

namespace meterd {

// How a firmware process ended, as waitpid(2) reports it.
struct ChildEnd {
  bool signaled = false;  // killed by a signal rather than exiting
  int value = 0;          // the exit status, or the signal number

  static ChildEnd exited(int status) { return {false, status}; }
  static ChildEnd killed(int signal_number) { return {true, signal_number}; }
  friend bool operator==(const ChildEnd&, const ChildEnd&) = default;
};

// "exited with status 3", "killed by signal 11 (SIGSEGV)".
std::string describe(const ChildEnd& end);
// The status a shell would report for it: the exit status, or 128 + the signal number.
int shell_status(const ChildEnd& end);

// What this supervisor saw of the trial boots it ran (a restarted supervisor knows none:
// the record's attempt counter is what survives a restart).
struct TrialHistory {
  std::vector<std::string> failures;      // describe() of each trial boot that ended unhealthy
  std::optional<std::string> fall_back;   // set when a trial must fall back at once (missed deadline)
};

// The next boot.
struct BootDecision {
  Slot slot = Slot::a;
  bool trial = false;                  // booting the trial slot: health decides its fate
  int attempt = 0;                     // trial: this boot's number, 1..max_attempts
  int max_attempts = 0;                // trial: the boots it may take
  std::uint32_t health_deadline_s = 0; // trial: how long it has to report healthy
  // Save before booting: the counted trial boot (saved first, so a crash still counts
  // it) or the fallback. nullopt: the record stays as it is.
  std::optional<BootRecord> record_to_save;
  // Set on a fallback: put pre-trial-state.json back over meter-state.json before
  // saving the record, and log this reason.
  std::optional<std::string> fell_back_because;
};

// From the record as it is on disk now. A pending trial boots again while attempts are
// left (counting this boot), and falls back when they are used up or `history` says so;
// without a trial the active slot boots and the record is left alone.
BootDecision decide_boot(const BootRecord& record, const TrialHistory& history, std::int64_t now);

// The trial's slot becomes the active one; the rollback floor rises to the trial's
// floor_on_commit. `record` must hold a trial.
BootRecord commit_trial(BootRecord record, std::int64_t now);
// The trial ends unsuccessfully; the active slot stays. `record` must hold a trial.
BootRecord fall_back(BootRecord record, std::string reason, std::int64_t now);

// "no health report within 60 s"
std::string missed_deadline_reason(std::uint32_t health_deadline_s);

// What one firmware run amounted to.
struct FirmwareRun {
  ChildEnd end;
  bool trial = false;     // it was a trial boot, not committed while it ran
  bool healthy = false;   // it reported healthy
  bool stopping = false;  // the supervisor was asked to stop while it ran
};

enum class NextStep {
  boot_now,          // boot again at once (a reboot the firmware asked for, a trial retry)
  boot_after_pause,  // a committed firmware that had been healthy died: boot again in 1 s
  exit,              // the supervisor exits with exit_status
};

struct AfterRun {
  NextStep step = NextStep::exit;
  int exit_status = 0;
  // A trial boot that ended unhealthy: describe(end), for the fallback reason.
  std::optional<std::string> trial_failure;
};

AfterRun decide_after_run(const FirmwareRun& run);

// The firmware's command line (without argv[0]): the supervisor's own arguments plus
// --no-supervisor; a package slot runs its own version, so any --firmware is replaced
// by the slot's version, while a factory slot keeps what the command line said.
std::vector<std::string> firmware_arguments(std::span<const std::string> supervisor_arguments,
                                            const SlotRecord& slot);

// The record of a meter that never booted under a supervisor: slot a is the factory
// firmware, the meterd at `executable`.
BootRecord first_boot_record(std::string executable, std::string installed_at);

// The ports a firmware listens on (Modbus TCP, native, secure native; nullopt: closed),
// as its health report states them and METERD_BOOT_PORTS passes them on: "502 7700 -".
using BootPorts = std::array<std::optional<std::uint16_t>, 3>;
std::string format_boot_ports(const BootPorts& ports);
// nullopt for anything but three fields, each a port 1..65535 or "-".
std::optional<BootPorts> parse_boot_ports(std::string_view text);
// The health report: "ports 502 7700 -\nhealthy\n".
std::string health_report(const BootPorts& ports);
// The ports line of what a firmware wrote to its health pipe, if it wrote a valid one.
std::optional<BootPorts> reported_ports(std::string_view received);

}  // namespace meterd
