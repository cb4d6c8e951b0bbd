#include "cli/package_upload.hpp"

#include <algorithm>

namespace cli {

namespace {

bool connection_lost(const CommandError& error) {
  // busy is a timeout-class status too (75), but it is the meter's answer, not a lost
  // connection: another attempt would get the same answer.
  return (error.code == exit_unavailable || error.code == exit_timeout) &&
         error.message.find("(busy)") == std::string::npos;
}

// The meter refuses a chunk that does not start where its upload ends (upload_store:
// "expected offset N"): another client, or an answer lost after the meter stored it.
bool offset_mismatch(const CommandError& error) {
  return error.message.find("expected offset") != std::string::npos;
}

class Upload {
 public:
  Upload(UpgradeLink& link, const PackageReader& read, std::uint64_t length, const std::string& sha256,
         const UploadSettings& settings, const Sleeper& sleep, const UploadProgress& progress)
      : link_(link),
        read_(read),
        length_(length),
        sha256_(sha256),
        settings_(settings),
        sleep_(sleep),
        progress_(progress),
        buffer_(std::clamp<std::size_t>(settings.chunk_size, 1, k_max_chunk_size)) {}

  proto::Result<UploadSummary, CommandError> run() {
    auto started = begin_with_retries();
    if (!started) return proto::unexpected(started.error());
    summary_.resumed_at = offset_;
    if (progress_) progress_(offset_);
    while (offset_ < length_) {
      const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(buffer_.size(), length_ - offset_));
      auto got = read_(offset_, std::span(buffer_).first(want));
      if (!got) return proto::unexpected(got.error());
      if (*got != want) {
        return proto::unexpected(CommandError{exit_io, "the package file ended at byte " +
                                                           std::to_string(offset_ + *got) + " of " +
                                                           std::to_string(length_) +
                                                           ": it changed since it was checked"});
      }
      const auto data = std::span(buffer_).first(want);
      const auto* first = reinterpret_cast<const std::uint8_t*>(data.data());
      auto answer = link_.request(
          "upgrade.chunk",
          {{"offset", offset_}, {"data", nlohmann::json::binary(std::vector<std::uint8_t>(first, first + data.size()))}},
          std::nullopt);
      if (!answer) {
        if (connection_lost(answer.error())) {
          if (auto resumed = resume_after(answer.error()); !resumed) return proto::unexpected(resumed.error());
          continue;
        }
        if (offset_mismatch(answer.error()) && resyncs_ < settings_.backoff.size()) {
          ++resyncs_;
          auto again = begin_once();
          if (!again) return proto::unexpected(again.error());
          continue;
        }
        return proto::unexpected(answer.error());
      }
      auto next = offset_in(*answer, "upgrade.chunk");
      if (!next) return proto::unexpected(next.error());
      if (*next <= offset_) {
        return proto::unexpected(CommandError{exit_protocol, link_.describe() +
                                                                 " acknowledged upgrade.chunk at offset " +
                                                                 std::to_string(*next) + ", not past " +
                                                                 std::to_string(offset_)});
      }
      summary_.sent += *next - offset_;
      offset_ = *next;
      failures_ = 0;
      resyncs_ = 0;
      if (progress_) progress_(offset_);
    }
    return summary_;
  }

 private:
  proto::Result<std::uint64_t, CommandError> offset_in(const nlohmann::json& answer, const char* operation) const {
    const auto offset = answer.is_object() ? answer.value("offset", nlohmann::json()) : nlohmann::json();
    const bool valid = offset.is_number_unsigned() || (offset.is_number_integer() && offset.get<std::int64_t>() >= 0);
    if (!valid || offset.get<std::uint64_t>() > length_) {
      return proto::unexpected(CommandError{exit_protocol, link_.describe() + " answered " + operation +
                                                               " without an offset within the package's " +
                                                               std::to_string(length_) + " bytes"});
    }
    return offset.get<std::uint64_t>();
  }

  // upgrade.begin: the offset the meter holds for this package (0 for a new upload).
  proto::Result<proto::Ok, CommandError> begin_once() {
    auto answer = link_.request("upgrade.begin", {{"length", length_}, {"sha256", sha256_}}, std::nullopt);
    if (!answer) return proto::unexpected(answer.error());
    auto offset = offset_in(*answer, "upgrade.begin");
    if (!offset) return proto::unexpected(offset.error());
    offset_ = *offset;
    return proto::Ok{};
  }

  proto::Result<proto::Ok, CommandError> begin_with_retries() {
    auto begun = begin_once();
    if (begun || !connection_lost(begun.error())) return begun;
    return resume_after(begun.error());
  }

  // Waits, reconnects and asks upgrade.begin again, attempt after attempt, until one
  // works or the attempts are spent.
  proto::Result<proto::Ok, CommandError> resume_after(CommandError error) {
    while (true) {
      if (failures_ >= settings_.backoff.size()) {
        return proto::unexpected(CommandError{
            error.code, error.message + " (the upload stopped at byte " + std::to_string(offset_) + " of " +
                            std::to_string(length_) + " after " + std::to_string(failures_) +
                            " attempts to reconnect; run the command again to resume it)"});
      }
      if (sleep_) sleep_(settings_.backoff[failures_]);
      ++failures_;
      ++summary_.reconnects;
      if (auto reconnected = link_.reconnect(); !reconnected) {
        if (!connection_lost(reconnected.error())) return proto::unexpected(reconnected.error());
        error = reconnected.error();
        continue;
      }
      auto begun = begin_once();
      if (begun) return proto::Ok{};
      if (!connection_lost(begun.error())) return proto::unexpected(begun.error());
      error = begun.error();
    }
  }

  UpgradeLink& link_;
  const PackageReader& read_;
  std::uint64_t length_;
  const std::string& sha256_;
  const UploadSettings& settings_;
  const Sleeper& sleep_;
  const UploadProgress& progress_;
  std::vector<std::byte> buffer_;
  std::uint64_t offset_ = 0;
  std::size_t failures_ = 0;
  std::size_t resyncs_ = 0;
  UploadSummary summary_;
};

}  // namespace

proto::Result<UploadSummary, CommandError> upload_package(UpgradeLink& link, const PackageReader& read,
                                                          std::uint64_t length, const std::string& sha256,
                                                          const UploadSettings& settings, const Sleeper& sleep,
                                                          const UploadProgress& progress) {
  return Upload(link, read, length, sha256, settings, sleep, progress).run();
}

}  // namespace cli
