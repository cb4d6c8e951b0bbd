#pragma once
// meterctl's exit codes, documented in meterctl(1); sysexits(3) values where one fits.

#include <string>

namespace cli {

enum ExitCode : int {
  exit_ok = 0,
  exit_refused = 1,        // the meter answered with an exception (access, address, value)
  exit_audit_failed = 1,   // `security audit`: a check of the checklist failed
  exit_config_failed = 1,  // `config plan|drift|apply`: a meter failed (unreachable, refused, conflict)
  exit_upgrade_failed = 1,  // `upgrade apply`: a meter failed or fell back, or a rollout stopped
  // `config plan|drift`: the meter differs from the profile; `config apply
  // --detailed-exitcode`: the apply changed it.
  exit_changes_pending = 2,
  exit_usage = 64,         // EX_USAGE: bad command line
  exit_data = 65,          // EX_DATAERR: a value given on the command line does not fit
  exit_unavailable = 69,   // EX_UNAVAILABLE: the meter cannot be reached
  exit_software = 70,      // EX_SOFTWARE: internal error
  exit_io = 74,            // EX_IOERR: a serial device or file failed
  exit_timeout = 75,       // EX_TEMPFAIL: the meter did not answer in time; retrying may help
  exit_protocol = 76,      // EX_PROTOCOL: the answer was malformed
  exit_denied = 77,        // EX_NOPERM: login refused, permission denied, or the meter's identity failed verification
  exit_config = 78,        // EX_CONFIG: the meterctl configuration file is wrong
};

// An error that ends the command: printed as "meterctl: message" and turned into the exit code.
struct CommandError {
  ExitCode code;
  std::string message;
};

}  // namespace cli
