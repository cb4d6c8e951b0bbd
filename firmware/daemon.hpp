#pragma once
// meterd's entry point, kept in the library the tests link so main.cpp stays thin.

namespace meterd {

// Exit codes (documented in meterd(8)), following sysexits(3).
enum ExitCode : int {
  exit_ok = 0,
  exit_usage = 64,        // EX_USAGE: bad command line
  exit_unavailable = 69,  // EX_UNAVAILABLE: a port or device could not be opened
  exit_software = 70,     // EX_SOFTWARE: internal error
  exit_io = 74,           // EX_IOERR: the ready file could not be written
  exit_config = 78,       // EX_CONFIG: bad model, scenario or state directory
  // Internal, firmware to boot supervisor: boot again (boot_record.hpp's k_exit_reboot).
  exit_reboot = 100,
};

int run(int argc, char** argv);

}  // namespace meterd
