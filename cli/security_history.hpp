#pragma once
// The local history of `meterctl security apply`, the counterpart of the vendor setup
// tool's SECURITY.LOG (seed 004, "Cybersecurity configuration": "The security log file
// contains the history of Security Configuration Files"): one line per apply, saying
// when, who, to which meter as which meter user, which file (and its SHA-256, so the
// exact text can be found again), and whether it changed anything.
//
// Like the vendor's log, it is a record kept by the operator's machine and can be changed
// by anyone who can write the file; the meter's own security event log
// (`meterctl security events`) is the record the meter keeps.

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>

#include "cli/exit_codes.hpp"
#include "libproto/result.hpp"

namespace cli {

struct HistoryEntry {
  double unix_time = 0;    // when the meter answered the apply
  std::string local_user;  // who ran meterctl on this host
  std::string meter;       // host:port, as NativeClient::describe() gives it
  std::string login_user;  // the meter account the apply ran as
  std::string file;        // the applied file, as an absolute path
  std::string sha256;      // of the file's bytes, 64 lower-case hex digits
  bool changed = false;
  std::size_t change_count = 0;
};

// One line, without its line break. Fields are separated by one space, in the order of
// HistoryEntry, the last one "changed N" or "no changes":
//   2030-01-01T00:00:00Z alice 127.0.0.1:7443 User1 /etc/meters/site.yaml 5e88...d0 changed 3
// A field that is empty or holds a blank, a quote, a backslash or a control character is
// written in double quotes with C escapes (\", \\, \t, \n, \xHH), so that every line
// splits into the same fields.
std::string format_history_line(const HistoryEntry& entry);

// $XDG_STATE_HOME/meterctl/security.log when XDG_STATE_HOME is an absolute path (the XDG
// Base Directory specification says to ignore a relative one), else
// $HOME/.local/state/meterctl/security.log. Null arguments stand for unset variables.
std::filesystem::path security_history_file(const char* xdg_state_home, const char* home);
// The same, from this process's environment.
std::filesystem::path security_history_file();

// Appends `line` and a line break: the directory is created with mode 0700, the file with
// mode 0600, the line written with O_APPEND in one write and made durable with fsync.
proto::Result<proto::Ok, CommandError> append_history_line(const std::filesystem::path& file, std::string_view line);

// SHA-256 (OpenSSL EVP) of `bytes`, as 64 lower-case hex digits.
std::string sha256_hex(std::string_view bytes);

// $USER, else the name of this process's user in the password database, else its uid.
std::string local_user_name();

}  // namespace cli
