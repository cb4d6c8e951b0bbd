#include "cli/backup_commands.hpp"

#include <catch2/catch.hpp>

using nlohmann::json;

TEST_CASE("Backups go to the XDG state directory, else under HOME", "[cli][backup]") {
  CHECK(cli::default_backup_directory("/var/state", "/home/ann") == "/var/state/meterctl/backups");
  // The XDG Base Directory specification: a relative path is ignored.
  CHECK(cli::default_backup_directory("state", "/home/ann") == "/home/ann/.local/state/meterctl/backups");
  CHECK(cli::default_backup_directory(nullptr, "/home/ann") == "/home/ann/.local/state/meterctl/backups");
}

TEST_CASE("A backup file is named after the meter and the time, and stays in its directory", "[cli][backup]") {
  // 2026-11-21T12:00:05Z
  constexpr std::int64_t k_time = 1'795'262'405;
  CHECK(cli::backup_file_name("VM0000004711", k_time) == "VM0000004711-20261121T120005Z.mbak");
  CHECK(cli::backup_file_name("../../etc/passwd", k_time) == "_._.._etc_passwd-20261121T120005Z.mbak");
  CHECK(cli::backup_file_name(".hidden", k_time) == "_hidden-20261121T120005Z.mbak");
  CHECK(cli::backup_file_name("", k_time) == "meter-20261121T120005Z.mbak");
  CHECK(cli::backup_file_name("VM 1/\xc3\xa9", k_time) == "VM_1___-20261121T120005Z.mbak");
}

TEST_CASE("A restore sends the backup without its events, and the version it expects", "[cli][backup]") {
  const json backup = {{"identity", {{"model", "ION7400"}}},
                       {"configuration", json::object()},
                       {"config_version", 3},
                       {"events", json::array({1, 2})},
                       {"events_omitted", 0}};
  const json expected_backup = {{"identity", {{"model", "ION7400"}}}, {"configuration", json::object()}, {"config_version", 3}};
  CHECK(cli::restore_arguments(backup, 9) == json{{"backup", expected_backup}, {"expected_version", 9}});
  CHECK(cli::restore_arguments(backup, std::nullopt) == json{{"backup", expected_backup}});
}
