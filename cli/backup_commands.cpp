#include "cli/backup_commands.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <iostream>

#include "cli/backup_archive.hpp"
#include "cli/config_commands.hpp"
#include "cli/security_history.hpp"
#include "libproto/model/utc_time.hpp"
#include "libsec/private_file.hpp"

namespace cli {

namespace {

struct BackupOptions : ConnectionOptions {
  std::string out;        // backup --out
  std::string directory;  // backup --dir
  std::string file;       // restore FILE
  bool force = false;     // restore --force
};

// A backup written to disk, and what the command prints about it.
struct WrittenBackup {
  std::filesystem::path file;
  std::string digest;
  nlohmann::json identity;
  nlohmann::json backup;
};

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// backup.get's answer, checked for what the archive and restore rely on.
nlohmann::json fetch_backup(Session& session) {
  auto backup = request(session, "backup.get");
  const auto meter = session.client->describe();
  if (!backup.is_object() || !backup.contains("identity") || !backup.at("identity").is_object() ||
      !backup.at("identity").value("serial_number", nlohmann::json()).is_string() ||
      !backup.contains("configuration") || !backup.at("configuration").is_object()) {
    throw CommandError{exit_protocol, meter + " answered backup.get without an identity and a configuration"};
  }
  return backup;
}

WrittenBackup write_backup(Session& session, const std::filesystem::path& explicit_file,
                           const std::filesystem::path& directory) {
  WrittenBackup written;
  written.backup = fetch_backup(session);
  written.identity = written.backup.at("identity");
  const auto now = unix_now();
  const auto text =
      encode_backup_archive(written.backup, proto::model::iso_utc(static_cast<double>(now)), METERCTL_VERSION);
  if (!explicit_file.empty()) {
    written.file = explicit_file;
  } else {
    if (auto created = sec::create_private_directory(directory); !created) throw CommandError{exit_io, created.error()};
    const auto name = backup_file_name(written.identity.at("serial_number").get<std::string>(), now);
    written.file = directory / name;
    // Two backups of one meter within a second: the second gets a number, never replaces.
    const auto stem = written.file.stem().string();
    for (int copy = 2; std::filesystem::exists(written.file); ++copy) {
      written.file = directory / (stem + "-" + std::to_string(copy) + std::string(k_backup_archive_extension));
    }
  }
  if (auto saved = sec::write_private_file_atomically(written.file, text); !saved) {
    throw CommandError{exit_io, saved.error()};
  }
  // The digest as the archive holds it: decoding what was written proves it reads back.
  auto decoded = decode_backup_archive(text);
  if (!decoded) throw CommandError{exit_software, "the archive written does not read back: " + decoded.error().message};
  written.digest = decoded->digest;
  return written;
}

int run_backup(Context& context, const BackupOptions& options) {
  auto session = open_session(context, options, true);
  const auto directory = options.directory.empty() ? default_backup_directory() : std::filesystem::path(options.directory);
  const auto written = write_backup(session, options.out, directory);
  const auto meter = session.client->describe();
  session.client->logout();
  const auto omitted = written.backup.value("events_omitted", nlohmann::json(0));
  if (omitted.is_number_unsigned() && omitted.get<std::uint64_t>() > 0 && !context.global.quiet) {
    std::cerr << "meterctl: warning: the backup holds the newest events of " << meter << "'s security log; "
              << omitted.get<std::uint64_t>()
              << " older ones did not fit in one answer (meterctl security events reads them all)\n";
  }
  const auto events = written.backup.value("events", nlohmann::json::array());
  Report report;
  report.columns = {"field", "value"};
  report.rows = {{"meter", meter},
                 {"model", cell(written.identity, "model")},
                 {"serial_number", cell(written.identity, "serial_number")},
                 {"firmware", cell(written.identity, "firmware")},
                 {"config_version", cell(written.backup, "config_version")},
                 {"events", std::to_string(events.is_array() ? events.size() : 0)},
                 {"file", written.file.string()},
                 {"digest", written.digest}};
  report.document = {{"meter", meter},
                     {"identity", written.identity},
                     {"config_version", written.backup.value("config_version", nlohmann::json())},
                     {"events", events.is_array() ? events.size() : 0},
                     {"events_omitted", omitted},
                     {"file", written.file.string()},
                     {"digest", written.digest}};
  print_confirmation(context, report);
  return exit_ok;
}

BackupArchive read_archive(const std::string& file) {
  auto text = sec::read_file_if_exists(file, k_max_backup_archive_bytes);
  if (!text) throw CommandError{exit_io, text.error()};
  if (!*text) throw CommandError{exit_io, "cannot read " + file + ": no such file"};
  auto archive = decode_backup_archive(**text);
  if (!archive) throw CommandError{exit_data, file + ": " + archive.error().message};
  return std::move(*archive);
}

// The meter refuses a backup that does not fit it (model, firmware, limits) as an invalid
// argument: for meterctl that is bad data, like an archive refused before sending (65).
// A conflict says what to do next.
CommandError explain_restore_error(CommandError error, const std::string& file) {
  if (error.code == exit_usage) error.code = exit_data;
  if (error.message.find("(conflict)") != std::string::npos) {
    error.message = "the meter's configuration changed while meterctl restored " + file +
                    "; nothing was restored. Run the restore again, or use --force. " + error.message;
  }
  return error;
}

int run_restore(Context& context, const BackupOptions& options) {
  // Everything about the file is checked before a meter is involved.
  const auto archive = read_archive(options.file);
  auto session = open_session(context, options, true);
  const auto meter = session.client->describe();
  const auto identity = request(session, "identity");
  const auto backup_model = cell(archive.meter, "model");
  if (backup_model != cell(identity, "model")) {
    throw CommandError{exit_data, options.file + " is a backup of model " + backup_model + " (serial number " +
                                      cell(archive.meter, "serial_number") + "); " + meter + " is model " +
                                      cell(identity, "model") + " (serial number " + cell(identity, "serial_number") +
                                      "). A backup is restored onto a meter of the same model only"};
  }
  if (cell(archive.meter, "serial_number") != cell(identity, "serial_number") && !context.global.quiet) {
    std::cerr << "meterctl: note: " << options.file << " is a backup of meter " << cell(archive.meter, "serial_number")
              << "; restoring it onto " << cell(identity, "serial_number") << "\n";
  }
  std::optional<std::uint64_t> expected_version;
  if (!options.force) {
    const auto version = request(session, "config.get").value("config_version", nlohmann::json());
    if (!version.is_number_unsigned()) {
      throw CommandError{exit_protocol, meter + " reported no config_version; restore with --force"};
    }
    expected_version = version.get<std::uint64_t>();
  }
  auto restored = session.client->request("backup.restore", restore_arguments(archive.backup, expected_version));
  if (!restored) throw explain_restore_error(restored.error(), options.file);
  session.client->logout();
  auto changes = changes_from_json(restored->value("changes", nlohmann::json::array()));
  if (!changes) throw CommandError{exit_protocol, meter + " sent changes meterctl cannot read: " + changes.error()};
  const bool changed = restored->value("changed", !changes->empty());
  const auto version = restored->value("config_version", nlohmann::json());
  const auto format = context.format();
  if (format == OutputFormat::json || format == OutputFormat::yaml || format == OutputFormat::csv) {
    Report report;
    report.columns = {"path", "before", "after"};
    nlohmann::json list = nlohmann::json::array();
    for (const auto& change : *changes) {
      report.rows.push_back({change.path, change.before.value_or(""), change.after.value_or("")});
      nlohmann::json entry = {{"path", change.path}};
      entry["before"] = change.before ? nlohmann::json(*change.before) : nlohmann::json();
      entry["after"] = change.after ? nlohmann::json(*change.after) : nlohmann::json();
      list.push_back(std::move(entry));
    }
    report.document = {{"meter", meter},
                       {"file", options.file},
                       {"digest", archive.digest},
                       {"backup_of", archive.meter},
                       {"changed", changed},
                       {"previous_version", restored->value("previous_version", nlohmann::json())},
                       {"config_version", version},
                       {"changes", list}};
    print(context, report);
    return exit_ok;
  }
  if (!changed) {
    if (!context.global.quiet) std::cout << "No changes: " << meter << " already has the configuration of " << options.file << ".\n";
    return exit_ok;
  }
  std::cout << render_changes(*changes, context.color());
  std::cout << "Restored " << changes->size() << (changes->size() == 1 ? " change" : " changes") << " from "
            << options.file << " (configuration version " << text_of(version) << ")\n";
  return exit_ok;
}

}  // namespace

std::filesystem::path default_backup_directory(const char* xdg_state_home, const char* home) {
  // meterctl's state directory, where the security history lives too.
  return security_history_file(xdg_state_home, home).parent_path() / "backups";
}

std::filesystem::path default_backup_directory() {
  return default_backup_directory(std::getenv("XDG_STATE_HOME"), std::getenv("HOME"));
}

std::string backup_file_name(const std::string& serial_number, std::int64_t unix_time) {
  std::string name = serial_number.empty() ? std::string("meter") : serial_number;
  for (auto& c : name) {
    const bool plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                       c == '_' || c == '.';
    if (!plain) c = '_';
  }
  if (name.front() == '.') name.front() = '_';
  auto stamp = proto::model::iso_utc(static_cast<double>(unix_time));  // 2026-11-21T12:00:00Z
  stamp.erase(std::remove_if(stamp.begin(), stamp.end(), [](char c) { return c == '-' || c == ':'; }), stamp.end());
  return name + "-" + stamp + std::string(k_backup_archive_extension);
}

nlohmann::json restore_arguments(const nlohmann::json& backup, std::optional<std::uint64_t> expected_version) {
  nlohmann::json sent = backup;
  sent.erase("events");
  sent.erase("events_omitted");
  nlohmann::json arguments = {{"backup", std::move(sent)}};
  if (expected_version) arguments["expected_version"] = *expected_version;
  return arguments;
}

std::filesystem::path take_backup(Session& session, const std::filesystem::path& directory) {
  return write_backup(session, {}, directory).file;
}

void add_backup_commands(CLI::App& app, Context& context) {
  auto options = std::make_shared<BackupOptions>();

  auto* backup = app.add_subcommand(
      "backup", "Save the meter's configuration (password hashes included) and event log to an archive, mode 0600");
  backup->callback([&context, options] { context.exit_code = run_checking_answers(run_backup, context, *options); });
  auto* out = backup->add_option("--out", options->out, "Write the archive to FILE");
  backup->add_option("--dir", options->directory,
                     "Write it to DIR as SERIAL-TIME.mbak (default: $XDG_STATE_HOME/meterctl/backups)")
      ->excludes(out);
  add_connection_options(*backup, *options);

  auto* restore = app.add_subcommand("restore", "Put back the configuration saved in a backup archive");
  restore->callback([&context, options] { context.exit_code = run_checking_answers(run_restore, context, *options); });
  restore->add_option("file", options->file, "The archive (FILE.mbak)")->required();
  restore->add_flag("--force", options->force, "Restore even if the configuration changes while meterctl restores");
  add_connection_options(*restore, *options);
}

}  // namespace cli
