#include "firmware/native_service.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <random>
#include <thread>

#include "firmware/embedded_scenarios.hpp"
#include "libsec/clock.hpp"

using namespace meterd;
namespace native = proto::codec::native;
using native::ErrorCode;
using native::MessageType;

namespace {

struct Fixture {
  std::filesystem::path directory;
  std::unique_ptr<Meter> meter;
  sec::ManualClock clock;
  sec::SessionStore sessions{clock, std::chrono::minutes(5)};
  std::unique_ptr<NativeService> service;
  std::uint32_t next_id = 1;

  Fixture() {
    std::random_device entropy;
    directory = std::filesystem::temp_directory_path() / ("meterd-native-" + std::to_string(entropy()));
    simulation::Scenario scenario;
    for (const auto& file : embedded_scenarios::embedded_files()) {
      if (file.name == "steady-state.yaml") scenario = *simulation::load_scenario(file.contents, file.name);
    }
    MeterSetup setup{directory, *proto::model::find_device_model("ION7400"), std::nullopt, std::nullopt,
                     scenario, 1, std::nullopt, std::nullopt, sec::PasswordHashing{sec::k_fleet_scrypt, true}};
    auto opened = Meter::open(std::move(setup));
    REQUIRE(opened);
    meter = std::move(*opened);
    service = std::make_unique<NativeService>(*meter, sessions, clock, true);
  }
  ~Fixture() {
    service.reset();
    meter.reset();
    std::filesystem::remove_all(directory);
  }

  NativeReply send(NativeConnection& connection, const native::Decoded& message) {
    const auto body = native::encode_body(native::to_body(message));
    native::FrameHeader header{native::k_protocol_version, native::message_type(message), next_id++,
                               static_cast<std::uint32_t>(body.size())};
    auto outcome = service->handle(connection, header,
                                   proto::codec::ByteView(reinterpret_cast<const std::byte*>(body.data()), body.size()));
    // What the server's password worker would do, in line.
    while (auto* deferred = std::get_if<DeferredReply>(&outcome)) {
      deferred->work();
      auto finish = std::move(deferred->finish);
      outcome = finish(connection);
    }
    return std::get<NativeReply>(outcome);
  }

  NativeConnection greeted(std::uint64_t id) {
    NativeConnection connection{sec::ConnectionId{id}, false, false};
    const auto reply = send(connection, native::Hello{"test", {1}});
    REQUIRE(reply.type == MessageType::hello_ok);
    return connection;
  }

  std::string login(NativeConnection& connection) {
    const auto reply = send(connection, native::Login{"User1", "0"});
    REQUIRE(reply.type == MessageType::login_ok);
    CHECK(reply.body.at("default_credential") == true);
    return reply.body.at("token").get<std::string>();
  }
};

ErrorCode error_of(const NativeReply& reply) {
  REQUIRE(reply.type == MessageType::error);
  return static_cast<ErrorCode>(reply.body.at("code").get<int>());
}

native::Decoded request(std::string operation, native::Auth auth, nlohmann::json arguments = nlohmann::json::object()) {
  return native::OperationRequest{std::move(operation), std::move(auth), std::move(arguments)};
}

}  // namespace

TEST_CASE("A connection must say hello in a version the meter speaks", "[firmware][native]") {
  Fixture fixture;
  NativeConnection connection{sec::ConnectionId{1}, false, false};
  const auto early = fixture.send(connection, request("identity", std::monostate{}));
  CHECK(error_of(early) == ErrorCode::unexpected_message);
  CHECK(early.close_after);
  const auto other_version = fixture.send(connection, native::Hello{"future", {2, 3}});
  CHECK(error_of(other_version) == ErrorCode::unsupported_version);
  CHECK(other_version.body.at("supported_versions") == nlohmann::json::array({1}));
  const auto ok = fixture.send(connection, native::Hello{"now", {1, 2}});
  CHECK(ok.type == MessageType::hello_ok);
  CHECK(ok.body.at("serial_number") == fixture.meter->state().serial_number);
}

TEST_CASE("Anonymous callers may read; changes need a login", "[firmware][native]") {
  Fixture fixture;
  auto connection = fixture.greeted(1);
  CHECK(fixture.send(connection, request("identity", std::monostate{})).type == MessageType::response);
  CHECK(fixture.send(connection, request("read", std::monostate{}, {{"points", {"voltage_an"}}})).type ==
        MessageType::response);
  CHECK(error_of(fixture.send(connection, request("demand.reset", std::monostate{}))) ==
        ErrorCode::authentication_required);
  CHECK(error_of(fixture.send(connection, request("read", std::monostate{}, {{"points", {"nonsense"}}}))) ==
        ErrorCode::invalid_argument);
  // An anonymous caller learns nothing about which operations exist.
  CHECK(error_of(fixture.send(connection, request("format_disk", std::monostate{}))) ==
        ErrorCode::authentication_required);
  CHECK(error_of(fixture.send(connection, request("format_disk", native::PasswordAuth{"User1", "0"}))) ==
        ErrorCode::unknown_operation);
}

TEST_CASE("A session token works only on its own connection and only until it idles out", "[firmware][native]") {
  Fixture fixture;
  auto first = fixture.greeted(1);
  auto second = fixture.greeted(2);
  const auto token = fixture.login(first);
  CHECK(fixture.send(first, request("demand.reset", native::SessionAuth{token})).type == MessageType::response);
  CHECK(error_of(fixture.send(second, request("demand.reset", native::SessionAuth{token}))) ==
        ErrorCode::session_wrong_connection);

  fixture.clock.advance(std::chrono::minutes(5) - std::chrono::seconds(1));
  CHECK(fixture.send(first, request("time.get", native::SessionAuth{token})).type == MessageType::response);
  fixture.clock.advance(std::chrono::minutes(5));
  CHECK(error_of(fixture.send(first, request("time.get", native::SessionAuth{token}))) == ErrorCode::session_expired);

  const auto fresh = fixture.login(first);
  CHECK(fixture.send(first, native::Logout{fresh}).type == MessageType::logout_ok);
  CHECK(error_of(fixture.send(first, request("demand.reset", native::SessionAuth{fresh}))) ==
        ErrorCode::session_expired);
}

TEST_CASE("Legacy per-request passwords are limited to 6 characters", "[firmware][native]") {
  Fixture fixture;
  auto connection = fixture.greeted(1);
  CHECK(fixture.send(connection, request("demand.reset", native::PasswordAuth{"User1", "0"})).type ==
        MessageType::response);
  CHECK(error_of(fixture.send(connection, request("demand.reset", native::PasswordAuth{"User1", "1234567"}))) ==
        ErrorCode::password_needs_session);
  CHECK(error_of(fixture.send(connection, request("demand.reset", native::PasswordAuth{"User1", "123456"}))) ==
        ErrorCode::authentication_failed);
  CHECK(error_of(fixture.send(connection, native::Login{"Nobody", "1234567"})) == ErrorCode::authentication_failed);
}

TEST_CASE("Time set is refused when time sync is disabled, and test mode freezes billing energy",
          "[firmware][native]") {
  Fixture fixture;
  auto connection = fixture.greeted(1);
  const auto token = fixture.login(connection);
  const auto set = fixture.send(connection, request("time.set", native::SessionAuth{token}, {{"unix_time", 2e9}}));
  REQUIRE(set.type == MessageType::response);
  CHECK(std::abs(fixture.meter->now() - 2e9) < 5);
  CHECK(error_of(fixture.send(connection, request("time.set", native::SessionAuth{token}, {{"unix_time", -1}}))) ==
        ErrorCode::invalid_argument);

  REQUIRE(fixture.meter->apply_settings({{proto::model::ConfigSetting::time_sync_enabled, 0}}));
  CHECK(error_of(fixture.send(connection, request("time.set", native::SessionAuth{token}, {{"unix_time", 1e9}}))) ==
        ErrorCode::time_sync_disabled);

  const auto on = fixture.send(connection, request("test_mode.set", native::SessionAuth{token}, {{"enabled", true}}));
  REQUIRE(on.type == MessageType::response);
  CHECK(fixture.meter->test_mode());
  const auto frozen = fixture.meter->measurements()[proto::model::Point::active_energy_delivered];
  CHECK_FALSE(fixture.meter->set_time(fixture.meter->now()));  // time sync is disabled
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // at least one whole integration step
  fixture.meter->tick();
  CHECK(fixture.meter->measurements()[proto::model::Point::active_energy_delivered] == frozen);
  CHECK(fixture.send(connection, request("test_mode.set", native::SessionAuth{token}, {{"enabled", false}})).type ==
        MessageType::response);
  CHECK_FALSE(fixture.meter->test_mode());
}
