#include "cli/package_upload.hpp"

#include <catch2/catch.hpp>

#include "fake_upgrade_meter.hpp"

using namespace cli;
using cli::testing::FakeUpgradeMeter;

namespace {

std::vector<std::byte> package_bytes(std::size_t size) {
  std::vector<std::byte> bytes(size);
  for (std::size_t i = 0; i < size; ++i) bytes[i] = static_cast<std::byte>((i * 7 + 3) & 0xff);
  return bytes;
}

PackageReader reader_of(const std::vector<std::byte>& bytes) {
  return [&bytes](std::uint64_t offset, std::span<std::byte> into) -> proto::Result<std::size_t, CommandError> {
    const auto count = std::min<std::size_t>(into.size(), bytes.size() - static_cast<std::size_t>(offset));
    std::copy_n(bytes.begin() + static_cast<std::ptrdiff_t>(offset), count, into.begin());
    return count;
  };
}

std::vector<std::uint8_t> as_uint8(const std::vector<std::byte>& bytes) {
  std::vector<std::uint8_t> out(bytes.size());
  std::transform(bytes.begin(), bytes.end(), out.begin(), [](std::byte b) { return std::to_integer<std::uint8_t>(b); });
  return out;
}

struct Waits {
  std::vector<std::chrono::milliseconds> slept;
  Sleeper sleeper() {
    return [this](std::chrono::milliseconds duration) { slept.push_back(duration); };
  }
};

const std::string k_sha = std::string(64, 'e');

}  // namespace

TEST_CASE("A package goes to the meter in chunks of the size asked", "[cli][upgrade]") {
  const auto bytes = package_bytes(10000);
  FakeUpgradeMeter meter;
  Waits waits;
  std::vector<std::uint64_t> seen;
  UploadSettings settings;
  settings.chunk_size = 4096;
  const auto summary = upload_package(meter, reader_of(bytes), bytes.size(), k_sha, settings, waits.sleeper(),
                                      [&](std::uint64_t acknowledged) { seen.push_back(acknowledged); });
  REQUIRE(summary);
  CHECK(summary->resumed_at == 0);
  CHECK(summary->sent == 10000);
  CHECK(summary->reconnects == 0);
  CHECK(meter.received == as_uint8(bytes));
  CHECK(meter.requests["upgrade.chunk"] == 3);
  CHECK(seen == std::vector<std::uint64_t>{0, 4096, 8192, 10000});
  CHECK(waits.slept.empty());
}

TEST_CASE("A dropped connection resumes at the meter's offset; acknowledged bytes are not sent again",
          "[cli][upgrade]") {
  const auto bytes = package_bytes(10000);
  FakeUpgradeMeter meter;
  meter.drop_after_chunks = 2;  // the third chunk's request is lost with the connection
  meter.failing_reconnects = 1;
  Waits waits;
  UploadSettings settings;
  settings.chunk_size = 1000;
  const auto summary = upload_package(meter, reader_of(bytes), bytes.size(), k_sha, settings, waits.sleeper(), {});
  REQUIRE(summary);
  CHECK(meter.received == as_uint8(bytes));
  // Every byte crossed once: the lost chunk never reached the meter.
  CHECK(meter.chunk_bytes == 10000);
  CHECK(summary->reconnects == 2);
  CHECK(meter.requests["upgrade.begin"] == 2);
  // The backoff: 0.2 s, then 0.5 s.
  CHECK(waits.slept == std::vector<std::chrono::milliseconds>{std::chrono::milliseconds(200),
                                                                std::chrono::milliseconds(500)});
}

TEST_CASE("An upload the meter already holds in part starts where it stopped", "[cli][upgrade]") {
  const auto bytes = package_bytes(5000);
  FakeUpgradeMeter meter;
  meter.upload_length = bytes.size();
  meter.upload_sha256 = k_sha;
  const auto first = as_uint8(bytes);
  meter.received.assign(first.begin(), first.begin() + 3000);
  Waits waits;
  UploadSettings settings;
  const auto summary = upload_package(meter, reader_of(bytes), bytes.size(), k_sha, settings, waits.sleeper(), {});
  REQUIRE(summary);
  CHECK(summary->resumed_at == 3000);
  CHECK(summary->sent == 2000);
  CHECK(meter.chunk_bytes == 2000);
  CHECK(meter.received == first);
}

TEST_CASE("An upload gives up after five attempts to reconnect, saying how to resume", "[cli][upgrade]") {
  const auto bytes = package_bytes(5000);
  FakeUpgradeMeter meter;
  meter.drop_after_chunks = 1;
  meter.failing_reconnects = 100;
  Waits waits;
  UploadSettings settings;
  settings.chunk_size = 1000;
  const auto summary = upload_package(meter, reader_of(bytes), bytes.size(), k_sha, settings, waits.sleeper(), {});
  REQUIRE_FALSE(summary);
  CHECK(summary.error().code == exit_unavailable);
  CHECK(summary.error().message.find("stopped at byte 1000 of 5000 after 5 attempts") != std::string::npos);
  CHECK(summary.error().message.find("run the command again to resume") != std::string::npos);
  CHECK(waits.slept.size() == 5);
  CHECK(waits.slept.back() == std::chrono::milliseconds(4000));
}

TEST_CASE("A chunk refused for its offset is resent from the offset the meter reports", "[cli][upgrade]") {
  const auto bytes = package_bytes(3000);
  FakeUpgradeMeter meter;
  Waits waits;
  UploadSettings settings;
  settings.chunk_size = 1000;
  // Another client moved the upload on: the meter holds 2000 bytes of it already.
  int calls = 0;
  const PackageReader read = [&](std::uint64_t offset, std::span<std::byte> into) {
    if (calls++ == 1) {
      const auto all = as_uint8(bytes);
      meter.received.assign(all.begin(), all.begin() + 2000);
    }
    return reader_of(bytes)(offset, into);
  };
  const auto summary = upload_package(meter, read, bytes.size(), k_sha, settings, waits.sleeper(), {});
  REQUIRE(summary);
  CHECK(meter.received == as_uint8(bytes));
  CHECK(meter.requests["upgrade.begin"] == 2);
}

TEST_CASE("Errors other than a lost connection end the upload at once", "[cli][upgrade]") {
  const auto bytes = package_bytes(3000);
  FakeUpgradeMeter meter;
  Waits waits;
  UploadSettings settings;
  const PackageReader broken = [](std::uint64_t, std::span<std::byte>) -> proto::Result<std::size_t, CommandError> {
    return proto::unexpected(CommandError{exit_io, "cannot read x.upg: Input/output error"});
  };
  const auto summary = upload_package(meter, broken, bytes.size(), k_sha, settings, waits.sleeper(), {});
  REQUIRE_FALSE(summary);
  CHECK(summary.error().code == exit_io);
  CHECK(waits.slept.empty());
  // A file shorter than it was when checked.
  const PackageReader short_file = [](std::uint64_t, std::span<std::byte>) -> proto::Result<std::size_t, CommandError> {
    return std::size_t{10};
  };
  const auto truncated = upload_package(meter, short_file, bytes.size(), k_sha, settings, waits.sleeper(), {});
  REQUIRE_FALSE(truncated);
  CHECK(truncated.error().message.find("changed since it was checked") != std::string::npos);
}
