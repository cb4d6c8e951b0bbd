#include "firmware/upgrade_operations.hpp"

#include <catch2/catch.hpp>

#include <filesystem>

#include "firmware/boot_record.hpp"
#include "firmware/meter_state.hpp"
#include "firmware/package_installer.hpp"
#include "firmware/scenario_catalog.hpp"
#include "libsec/clock.hpp"
#include "upgrade_test_support.hpp"

using namespace meterd;
using namespace upgrade_test;
namespace native = proto::codec::native;
using native::ErrorCode;
using native::MessageType;
using nlohmann::json;
using proto::model::Version;

namespace {

class FakeBootControl final : public BootControl {
 public:
  bool supervised() const override { return is_supervised; }
  std::optional<Slot> running_slot() const override {
    return is_supervised ? std::optional<Slot>(Slot::a) : std::nullopt;
  }
  void reboot_after_reply() override { ++reboots; }

  bool is_supervised = false;
  int reboots = 0;
};

// An ION7400 on 4.0.0 that trusts one vendor key, served by a NativeService with no
// daemon around it; deferred work runs at once unless a test holds it.
struct Fixture {
  TemporaryDirectory state;
  sec::KeyHandle key = new_key();
  std::unique_ptr<Meter> meter;
  sec::ManualClock clock;
  sec::SessionStore sessions{clock, std::chrono::minutes(5)};
  FakeBootControl boot;
  std::unique_ptr<NativeService> service;
  NativeConnection connection{sec::ConnectionId{1}, false, false};
  std::uint32_t next_id = 1;

  Fixture() {
    trust(state.path, key.get());
    MeterSetup setup{.state_dir = state.path,
                     .model = *proto::model::find_device_model("ION7400"),
                     .feature_set = std::nullopt,
                     .firmware = Version{4, 0, 0},
                     .scenario = *load_builtin_scenario("steady-state"),
                     .seed = 1,
                     .modbus_access = std::nullopt,
                     .modbus_unit_id = std::nullopt,
                     .password_hashing = sec::PasswordHashing{sec::k_fleet_scrypt, true}};
    auto opened = Meter::open(std::move(setup));
    REQUIRE(opened);
    meter = std::move(*opened);
    service = std::make_unique<NativeService>(*meter, sessions, clock, true);
    service->set_boot_control(&boot);
    REQUIRE(std::get<NativeReply>(handle(native::Hello{"test", {1}})).type == MessageType::hello_ok);
  }
  ~Fixture() {
    service.reset();
    meter.reset();
  }

  NativeOutcome handle(const native::Decoded& message) {
    const auto body = native::encode_body(native::to_body(message));
    native::FrameHeader header{native::k_protocol_version, native::message_type(message), next_id++,
                               static_cast<std::uint32_t>(body.size())};
    return service->handle(connection, header,
                           proto::codec::ByteView(reinterpret_cast<const std::byte*>(body.data()), body.size()));
  }

  NativeReply settle(NativeOutcome outcome) {
    while (auto* deferred = std::get_if<DeferredReply>(&outcome)) {
      deferred->work();
      auto finish = std::move(deferred->finish);
      outcome = finish(connection);
    }
    return std::get<NativeReply>(outcome);
  }

  NativeOutcome request(const std::string& operation, json arguments = json::object()) {
    return handle(native::OperationRequest{operation, native::PasswordAuth{"User1", "0"}, std::move(arguments)});
  }

  NativeReply call(const std::string& operation, json arguments = json::object()) {
    return settle(request(operation, std::move(arguments)));
  }

  Bytes package(const std::string& version = "4.6.0") const {
    return sign(manifest(version), bytes_of("#!/bin/sh\nexit 0\n"), key.get());
  }

  // upgrade.begin and upgrade.chunk in chunks of `chunk` bytes.
  void send(const Bytes& package, std::size_t chunk = 100) {
    const auto begun =
        result_of(call("upgrade.begin", {{"length", package.size()}, {"sha256", sec::sha256_hex(package)}}));
    std::size_t offset = begun.at("offset").get<std::size_t>();
    while (offset < package.size()) {
      const auto end = std::min(package.size(), offset + chunk);
      const auto reply = result_of(call("upgrade.chunk", {{"offset", offset}, {"data", data(package, offset, end)}}));
      CHECK(reply.at("offset") == end);
      offset = end;
    }
  }

  static json data(const Bytes& bytes, std::size_t begin, std::size_t end) {
    std::vector<std::uint8_t> part;
    for (std::size_t i = begin; i < end; ++i) part.push_back(std::to_integer<std::uint8_t>(bytes[i]));
    return json::binary(std::move(part));
  }

  static json result_of(const NativeReply& reply) {
    INFO(reply.body.dump());
    REQUIRE(reply.type == MessageType::response);
    return reply.body.at("result");
  }
};

ErrorCode error_of(const NativeReply& reply) {
  INFO(reply.body.dump());
  REQUIRE(reply.type == MessageType::error);
  return static_cast<ErrorCode>(reply.body.at("code").get<int>());
}

std::string message_of(const NativeReply& reply) { return reply.body.at("message").get<std::string>(); }

}  // namespace

TEST_CASE("upgrade.status of a meter that never ran under its supervisor", "[firmware][upgrade]") {
  Fixture fixture;
  const auto status = Fixture::result_of(fixture.call("upgrade.status"));
  CHECK(status.at("model") == "ION7400");
  CHECK(status.at("serial_number") == fixture.meter->state().serial_number);
  CHECK(status.at("running") == json{{"slot", nullptr}, {"version", "4.0.0"}, {"vendor_version", "V004.000.000"}});
  CHECK(status.at("supervised") == false);
  CHECK(status.at("slots") == json{{"a", nullptr}, {"b", nullptr}});
  CHECK(status.at("active") == "a");
  CHECK(status.at("trial").is_null());
  CHECK(status.at("rollback_floor").is_null());
  CHECK(status.at("last_outcome").is_null());
  CHECK(status.at("trusted_key_ids") == json::array({sec::signing_key_id(fixture.key.get())}));
  CHECK(status.at("upload").is_null());
}

TEST_CASE("A package sent in chunks and finished is installed in slot b", "[firmware][upgrade]") {
  Fixture fixture;
  const auto package = fixture.package();
  fixture.send(package);
  const auto before = Fixture::result_of(fixture.call("upgrade.status"));
  CHECK(before.at("upload") ==
        json{{"length", package.size()}, {"sha256", sec::sha256_hex(package)}, {"offset", package.size()}});

  const auto finished = Fixture::result_of(fixture.call("upgrade.finish"));
  CHECK(finished.at("slot") == "b");
  CHECK(finished.at("manifest").at("firmware_version") == "4.6.0");
  CHECK(finished.at("manifest").at("key_id") == sec::signing_key_id(fixture.key.get()));

  const auto after = Fixture::result_of(fixture.call("upgrade.status"));
  CHECK(after.at("upload").is_null());
  CHECK(after.at("slots").at("a").at("factory") == true);
  CHECK(after.at("slots").at("b").at("version") == "4.6.0");
  CHECK(after.at("slots").at("b").at("factory") == false);
  CHECK_FALSE(std::filesystem::exists(upload_directory(fixture.state.path)));
}

TEST_CASE("upgrade.begin resumes an upload where its bytes end", "[firmware][upgrade]") {
  Fixture fixture;
  const auto package = fixture.package();
  const json announce = {{"length", package.size()}, {"sha256", sec::sha256_hex(package)}};
  CHECK(Fixture::result_of(fixture.call("upgrade.begin", announce)).at("offset") == 0);
  Fixture::result_of(fixture.call("upgrade.chunk", {{"offset", 0}, {"data", Fixture::data(package, 0, 40)}}));
  CHECK(Fixture::result_of(fixture.call("upgrade.begin", announce)).at("offset") == 40);
  const auto wrong = fixture.call("upgrade.chunk", {{"offset", 0}, {"data", Fixture::data(package, 0, 40)}});
  CHECK(error_of(wrong) == ErrorCode::invalid_argument);
  CHECK_THAT(message_of(wrong), Catch::Contains("expected offset 40"));
}

TEST_CASE("upgrade.begin and upgrade.chunk refuse malformed arguments", "[firmware][upgrade]") {
  Fixture fixture;
  CHECK(error_of(fixture.call("upgrade.begin", {{"length", 10}})) == ErrorCode::invalid_argument);
  CHECK(error_of(fixture.call("upgrade.begin", {{"length", -1}, {"sha256", std::string(64, 'a')}})) ==
        ErrorCode::invalid_argument);
  CHECK(error_of(fixture.call("upgrade.begin", {{"length", k_max_package_bytes + 1},
                                                {"sha256", std::string(64, 'a')}})) == ErrorCode::invalid_argument);
  REQUIRE(fixture.call("upgrade.begin", {{"length", 300000}, {"sha256", std::string(64, 'a')}}).type ==
          MessageType::response);
  CHECK(error_of(fixture.call("upgrade.chunk", {{"offset", 0}, {"data", "text, not bytes"}})) ==
        ErrorCode::invalid_argument);
  CHECK(error_of(fixture.call("upgrade.chunk", {{"offset", 0}, {"data", json::binary({})}})) ==
        ErrorCode::invalid_argument);
  const auto oversized =
      fixture.call("upgrade.chunk",
                   {{"offset", 0}, {"data", json::binary(std::vector<std::uint8_t>(k_max_upload_chunk_bytes + 1))}});
  CHECK(error_of(oversized) == ErrorCode::invalid_argument);
  CHECK_THAT(message_of(oversized), Catch::Contains("196608"));
  const auto largest = fixture.call(
      "upgrade.chunk", {{"offset", 0}, {"data", json::binary(std::vector<std::uint8_t>(k_max_upload_chunk_bytes))}});
  CHECK(Fixture::result_of(largest).at("offset") == k_max_upload_chunk_bytes);
}

TEST_CASE("upgrade.finish refuses an incomplete upload and answers package_refused for a bad package",
          "[firmware][upgrade]") {
  Fixture fixture;
  CHECK(error_of(fixture.call("upgrade.finish")) == ErrorCode::invalid_argument);
  auto package = fixture.package();
  package.back() ^= std::byte{0x01};
  const json announce = {{"length", package.size()}, {"sha256", sec::sha256_hex(package)}};
  Fixture::result_of(fixture.call("upgrade.begin", announce));
  Fixture::result_of(fixture.call("upgrade.chunk", {{"offset", 0}, {"data", Fixture::data(package, 0, 10)}}));
  const auto incomplete = fixture.call("upgrade.finish");
  CHECK(error_of(incomplete) == ErrorCode::invalid_argument);
  CHECK_THAT(message_of(incomplete), Catch::Contains("10 of"));

  Fixture::result_of(
      fixture.call("upgrade.chunk", {{"offset", 10}, {"data", Fixture::data(package, 10, package.size())}}));
  const auto refused = fixture.call("upgrade.finish");
  CHECK(error_of(refused) == ErrorCode::package_refused);
  CHECK_THAT(message_of(refused), Catch::Contains("signature does not verify"));
  CHECK(Fixture::result_of(fixture.call("upgrade.status")).at("upload").is_null());
  CHECK_FALSE(std::filesystem::exists(slot_directory(fixture.state.path, Slot::b)));
}

TEST_CASE("While upgrade.finish verifies, nothing else touches the upload", "[firmware][upgrade]") {
  Fixture fixture;
  const auto package = fixture.package();
  fixture.send(package);
  auto pending = fixture.request("upgrade.finish");
  REQUIRE(std::holds_alternative<DeferredReply>(pending));
  const json announce = {{"length", package.size()}, {"sha256", sec::sha256_hex(package)}};
  CHECK(error_of(fixture.call("upgrade.begin", announce)) == ErrorCode::busy);
  CHECK(error_of(fixture.call("upgrade.chunk", {{"offset", 0}, {"data", Fixture::data(package, 0, 1)}})) ==
        ErrorCode::busy);
  CHECK(error_of(fixture.call("upgrade.abort")) == ErrorCode::busy);
  CHECK(error_of(fixture.call("upgrade.finish")) == ErrorCode::busy);
  CHECK(Fixture::result_of(fixture.call("upgrade.status")).at("upload").at("offset") == package.size());

  SECTION("the verification ends with an answer") {
    CHECK(Fixture::result_of(fixture.settle(std::move(pending))).at("slot") == "b");
    CHECK(Fixture::result_of(fixture.call("upgrade.abort")).at("discarded") == false);
  }
  SECTION("the work is dropped unrun (the worker's queue was full)") {
    pending = NativeReply{};
    CHECK(Fixture::result_of(fixture.call("upgrade.abort")).at("discarded") == true);
  }
}

TEST_CASE("upgrade.activate needs the boot supervisor", "[firmware][upgrade]") {
  Fixture fixture;
  fixture.send(fixture.package());
  Fixture::result_of(fixture.call("upgrade.finish"));
  const auto refused = fixture.call("upgrade.activate");
  CHECK(error_of(refused) == ErrorCode::not_available);
  CHECK_THAT(message_of(refused), Catch::Contains("--no-supervisor"));
  CHECK(fixture.boot.reboots == 0);
}

TEST_CASE("upgrade.activate with no package waiting is refused", "[firmware][upgrade]") {
  Fixture fixture;
  fixture.boot.is_supervised = true;
  BootRecord record;
  record.slot(Slot::a) = SlotRecord{true, std::nullopt, "/usr/sbin/meterd", "2026-01-01T00:00:00Z", "", ""};
  REQUIRE(save_boot_record(fixture.state.path, record));
  const auto refused = fixture.call("upgrade.activate");
  CHECK(error_of(refused) == ErrorCode::invalid_argument);
  CHECK_THAT(message_of(refused), Catch::Contains("no verified package waits in slot b"));
  CHECK(fixture.boot.reboots == 0);
}

TEST_CASE("upgrade.activate records the trial, keeps the state to fall back to and reboots", "[firmware][upgrade]") {
  Fixture fixture;
  fixture.boot.is_supervised = true;
  fixture.send(fixture.package());
  Fixture::result_of(fixture.call("upgrade.finish"));

  CHECK(error_of(fixture.call("upgrade.activate", {{"health_deadline_s", 4}})) == ErrorCode::invalid_argument);
  CHECK(error_of(fixture.call("upgrade.activate", {{"max_attempts", 11}})) == ErrorCode::invalid_argument);
  CHECK(error_of(fixture.call("upgrade.activate", {{"max_attempts", 0}})) == ErrorCode::invalid_argument);

  const auto activated =
      Fixture::result_of(fixture.call("upgrade.activate", {{"health_deadline_s", 5}, {"max_attempts", 2}}));
  CHECK(activated == json{{"slot", "b"}, {"version", "4.6.0"}, {"rebooting", true}});
  CHECK(fixture.boot.reboots == 1);
  const auto record = load_boot_record(fixture.state.path);
  REQUIRE(record);
  REQUIRE(*record);
  REQUIRE((*record)->trial);
  const auto& trial = *(*record)->trial;
  CHECK(trial.slot == Slot::b);
  CHECK(trial.attempts == 0);
  CHECK(trial.max_attempts == 2);
  CHECK(trial.health_deadline_s == 5);
  CHECK(trial.from_version == Version{4, 0, 0});
  CHECK(trial.to_version == Version{4, 6, 0});
  CHECK(trial.floor_on_commit == Version{4, 0, 0});
  CHECK((*record)->active == Slot::a);
  CHECK(read_file(pre_trial_state_file(fixture.state.path)) == read_file(fixture.state.path / k_state_file_name));

  const auto status = Fixture::result_of(fixture.call("upgrade.status"));
  CHECK(status.at("supervised") == true);
  CHECK(status.at("running").at("slot") == "a");
  CHECK(status.at("trial").at("to_version") == "4.6.0");
  // The slots stay as they are until the trial ends.
  CHECK(error_of(fixture.call("upgrade.activate")) == ErrorCode::busy);
  const auto package = fixture.package();
  CHECK(error_of(fixture.call("upgrade.begin", {{"length", package.size()}, {"sha256", sec::sha256_hex(package)}})) ==
        ErrorCode::busy);
  CHECK(fixture.boot.reboots == 1);
}
