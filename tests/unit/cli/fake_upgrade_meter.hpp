#pragma once
// A meter with the upgrade.* operations, in memory, behind the UpgradeLink interface: it
// keeps an upload, drops the connection when told, verifies (or refuses) and boots into
// a trial that commits or falls back after a given number of status polls.

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cli/upgrade_link.hpp"

namespace cli::testing {

inline const std::string k_meter = "127.0.0.1:7443";

class FakeUpgradeMeter final : public UpgradeLink {
 public:
  // What the meter is and holds.
  std::string model = "ION7400";
  std::string running = "4.0.0";
  std::vector<std::string> trusted_key_ids = {"1a2b3c4d5e6f7081"};
  std::optional<nlohmann::json> trial;
  nlohmann::json last_outcome;  // null
  std::vector<std::uint8_t> received;
  std::uint64_t upload_length = 0;
  std::string upload_sha256;
  nlohmann::json installed_slot;  // null, or the slot the package went to

  // What goes wrong, and when.
  int drop_after_chunks = -1;      // the connection drops on this chunk request (counted from 0)
  int failing_reconnects = 0;      // reconnects that fail before one works
  std::optional<std::string> finish_refusal;
  int polls_before_verdict = 2;    // status reads with the trial pending before its verdict
  int reboot_polls = 1;            // reconnects refused while the meter reboots
  bool fall_back = false;
  std::string fall_back_reason = "no health report within 60 s";

  // What was asked.
  std::map<std::string, int> requests;
  std::uint64_t chunk_bytes = 0;  // every byte of every chunk received, resent ones too
  int reconnects = 0;
  int backups = 0;

  proto::Result<nlohmann::json, CommandError> request(const std::string& operation, const nlohmann::json& arguments,
                                                      std::optional<std::chrono::milliseconds>) override {
    ++requests[operation];
    if (!connected_) return lost();
    if (operation == "upgrade.status") return status();
    if (operation == "upgrade.begin") return begin(arguments);
    if (operation == "upgrade.chunk") return chunk(arguments);
    if (operation == "upgrade.finish") return finish();
    if (operation == "upgrade.activate") return activate(arguments);
    return error("no such operation", "unknown_operation", exit_refused);
  }

  proto::Result<proto::Ok, CommandError> reconnect() override {
    ++reconnects;
    connected_ = false;
    if (failing_reconnects > 0) {
      --failing_reconnects;
      return proto::unexpected(CommandError{exit_unavailable, "cannot connect to " + k_meter + ": Connection refused"});
    }
    if (rebooting_ > 0) {
      --rebooting_;
      return proto::unexpected(CommandError{exit_unavailable, "cannot connect to " + k_meter + ": Connection refused"});
    }
    connected_ = true;
    return proto::Ok{};
  }

  std::filesystem::path backup(const std::filesystem::path& directory) override {
    ++backups;
    return directory / "MJ-0001-20250101T000000Z.mbak";
  }

  std::string describe() const override { return k_meter; }

 private:
  static proto::Result<nlohmann::json, CommandError> error(const std::string& message, const std::string& code,
                                                           ExitCode exit) {
    return proto::unexpected(CommandError{exit, k_meter + ": " + message + " (" + code + ")"});
  }

  proto::Result<nlohmann::json, CommandError> lost() {
    connected_ = false;
    return proto::unexpected(CommandError{exit_unavailable, k_meter + " closed the connection: End of file"});
  }

  proto::Result<nlohmann::json, CommandError> status() {
    if (activated_ && trial) {
      if (polls_ < polls_before_verdict) {
        ++polls_;
      } else {
        const auto target = (*trial)["to_version"].get<std::string>();
        if (fall_back) {
          last_outcome = {{"committed", false}, {"slot", "b"}, {"version", target}, {"reason", fall_back_reason},
                          {"at", 1000}};
        } else {
          running = target;
          last_outcome = {{"committed", true}, {"slot", "b"}, {"version", target}, {"reason", ""}, {"at", 1000}};
        }
        trial.reset();
      }
    }
    nlohmann::json upload;
    if (upload_length > 0) {
      upload = {{"length", upload_length}, {"sha256", upload_sha256}, {"offset", received.size()}};
    }
    return nlohmann::json{{"model", model},
                          {"feature_set", "Advanced"},
                          {"serial_number", "MJ-0001"},
                          {"running", {{"slot", "a"}, {"version", running}, {"vendor_version", ""}}},
                          {"supervised", true},
                          {"slots", {{"a", nullptr}, {"b", installed_slot}}},
                          {"active", "a"},
                          {"trial", trial ? *trial : nlohmann::json()},
                          {"rollback_floor", nullptr},
                          {"last_outcome", last_outcome},
                          {"trusted_key_ids", trusted_key_ids},
                          {"upload", upload}};
  }

  proto::Result<nlohmann::json, CommandError> begin(const nlohmann::json& arguments) {
    const auto length = arguments.at("length").get<std::uint64_t>();
    const auto sha256 = arguments.at("sha256").get<std::string>();
    if (length != upload_length || sha256 != upload_sha256) {
      received.clear();
      upload_length = length;
      upload_sha256 = sha256;
    }
    return nlohmann::json{{"offset", received.size()}};
  }

  proto::Result<nlohmann::json, CommandError> chunk(const nlohmann::json& arguments) {
    if (drop_after_chunks >= 0 && chunks_++ == drop_after_chunks) return lost();
    const auto offset = arguments.at("offset").get<std::uint64_t>();
    const auto& data = arguments.at("data").get_binary();
    chunk_bytes += data.size();
    if (offset != received.size()) {
      return error("expected offset " + std::to_string(received.size()) + ", not " + std::to_string(offset),
                   "invalid_argument", exit_usage);
    }
    received.insert(received.end(), data.begin(), data.end());
    return nlohmann::json{{"offset", received.size()}};
  }

  proto::Result<nlohmann::json, CommandError> finish() {
    if (received.size() != upload_length) return error("the upload is incomplete", "invalid_argument", exit_usage);
    upload_length = 0;
    if (finish_refusal) {
      received.clear();
      return error(*finish_refusal, "package_refused", exit_refused);
    }
    installed_slot = {{"version", "4.6.0"}, {"factory", false}, {"key_id", trusted_key_ids.front()}};
    return nlohmann::json{{"slot", "b"}};
  }

  proto::Result<nlohmann::json, CommandError> activate(const nlohmann::json&) {
    if (installed_slot.is_null()) return error("no verified package waits in slot b", "invalid_argument", exit_usage);
    trial = nlohmann::json{{"slot", "b"},           {"attempts", 1},         {"max_attempts", 3},
                           {"health_deadline_s", 60}, {"from_version", running}, {"to_version", "4.6.0"}};
    activated_ = true;
    rebooting_ = reboot_polls;
    return nlohmann::json{{"slot", "b"}, {"version", "4.6.0"}, {"rebooting", true}};
  }

  bool connected_ = true;
  bool activated_ = false;
  int chunks_ = 0;
  int polls_ = 0;
  int rebooting_ = 0;
};

}  // namespace cli::testing
