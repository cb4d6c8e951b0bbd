#pragma once
// `meterctl backup` and `meterctl restore`: a meter's configuration (users and their
// password hashes included) and its security event log saved to an archive
// (cli/backup_archive.hpp), and the configuration put back from one. The meter's side is
// backup.get and backup.restore (meter-native-protocol(7)); both need the Security Config
// permission. See meterctl-backup(1) and meterctl-restore(1).

#include <filesystem>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/context.hpp"
#include "cli/native_session.hpp"

namespace cli {

void add_backup_commands(CLI::App& app, Context& context);

// Takes a backup of the meter of `session` (logged in with the Security Config
// permission) into `directory`, created owner-only if missing, as
// <serial>-<UTC yyyymmddThhmmssZ>.mbak, mode 0600; returns the file's path. `upgrade apply`
// calls it before it changes a meter's firmware. Errors end the command (CommandError).
std::filesystem::path take_backup(Session& session, const std::filesystem::path& directory);

// The pure parts, for the tests.

// Where backups go without --out or --dir: $XDG_STATE_HOME/meterctl/backups when
// XDG_STATE_HOME is an absolute path (the XDG Base Directory specification ignores a
// relative one), else $HOME/.local/state/meterctl/backups. Null arguments stand for
// unset variables.
std::filesystem::path default_backup_directory(const char* xdg_state_home, const char* home);
// The same, from this process's environment.
std::filesystem::path default_backup_directory();

// "<serial>-<yyyymmddThhmmssZ>.mbak" for a backup taken at `unix_time`. A serial number
// comes from the meter: anything but letters, digits, '-', '_' and '.' becomes '_', and
// a name that would start with '.' starts with '_', so it always names a file in the
// directory, never a path out of it.
std::string backup_file_name(const std::string& serial_number, std::int64_t unix_time);

// What backup.restore is sent for a backup: the backup without its events (the meter
// keeps its own log, and the events need not travel a second time), and the
// configuration version the restore expects unless it is forced.
nlohmann::json restore_arguments(const nlohmann::json& backup, std::optional<std::uint64_t> expected_version);

}  // namespace cli
