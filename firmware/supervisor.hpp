#pragma once
// The boot supervisor (meterd(8), BOOT SUPERVISOR): the process `meterd` runs as by
// default. It keeps the boot record, runs the firmware of the active or trial slot as a
// child process, waits for its health report, commits or falls back a trial, and passes
// SIGTERM and SIGINT on. The decisions are in boot_decisions.hpp; this is the plumbing:
// fork and exec, the health pipe, signals and the files.
//
// The firmware learns that it is supervised from its environment:
//   METERD_BOOT_SLOT  "a" or "b", the slot it was booted from
//   METERD_HEALTH_FD  the descriptor to write "healthy\n" to once every listener is open
//                     and the ready file is written (after a "ports" line, see
//                     boot_decisions.hpp, when a port was left to the kernel)
//   METERD_BOOT_PORTS the ports the first firmware got from the kernel ("--modbus-port 0"),
//                     kept by every later boot so a reboot into a new slot does not move
//                     the meter: clients reconnect where they were

#include <filesystem>
#include <string>
#include <vector>

namespace meterd {

inline constexpr const char* k_boot_slot_variable = "METERD_BOOT_SLOT";
inline constexpr const char* k_health_fd_variable = "METERD_HEALTH_FD";
inline constexpr const char* k_boot_ports_variable = "METERD_BOOT_PORTS";
inline constexpr std::string_view k_health_report = "healthy\n";

struct SupervisorSettings {
  std::filesystem::path state_dir;
  // The firmware's ready file; the supervisor removes it when a firmware that wrote it
  // dies without removing it, so it never names a process that is gone. May be empty.
  std::filesystem::path ready_file;
  // meterd's command line after argv[0], passed on to every firmware.
  std::vector<std::string> arguments;
};

// Runs until SIGTERM or SIGINT (then 0, or the firmware's status), or until a committed
// firmware exits before reporting healthy (then its status: a bad command line or state
// does not fix itself). Startup failures are logged and give daemon.hpp's exit codes.
int run_supervisor(const SupervisorSettings& settings);

}  // namespace meterd
