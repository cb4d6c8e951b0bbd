#include "firmware/modbus_service.hpp"

#include <catch2/catch.hpp>

#include <array>
#include <filesystem>
#include <fstream>
#include <random>

#include "firmware/embedded_scenarios.hpp"
#include "libproto/codec/modbus_pdu.hpp"

using namespace meterd;
namespace modbus = proto::codec::modbus;

namespace {

struct TemporaryDirectory {
  std::filesystem::path path;
  TemporaryDirectory() {
    std::random_device entropy;
    path = std::filesystem::temp_directory_path() / ("meterd-test-" + std::to_string(entropy()));
  }
  ~TemporaryDirectory() { std::filesystem::remove_all(path); }
};

simulation::Scenario default_scenario() {
  for (const auto& file : embedded_scenarios::embedded_files()) {
    if (file.name == "steady-state.yaml") return *simulation::load_scenario(file.contents, file.name);
  }
  FAIL("steady-state scenario is not embedded");
  return {};
}

std::unique_ptr<Meter> open_meter(const std::filesystem::path& directory, sec::ModbusAccess access,
                                  const char* firmware = "4.6.0") {
  MeterSetup setup{directory, *proto::model::find_device_model("ION7400"), std::nullopt,
                   proto::model::Version::parse(firmware), default_scenario(), 7, access, std::nullopt,
                   sec::PasswordHashing{sec::k_fleet_scrypt, true}};
  auto meter = Meter::open(std::move(setup));
  INFO((meter ? "" : meter.error()));
  REQUIRE(meter);
  return std::move(*meter);
}

std::vector<std::byte> call(ModbusService& service, const modbus::Request& request) {
  std::array<std::byte, modbus::k_max_pdu_size> pdu{};
  const auto size = modbus::encode_request(request, pdu);
  REQUIRE(size);
  std::array<std::byte, modbus::k_max_pdu_size> response{};
  const auto answer = service.handle(std::span<const std::byte>(pdu.data(), *size), response);
  return {response.begin(), response.begin() + static_cast<std::ptrdiff_t>(answer)};
}

std::optional<modbus::ExceptionCode> exception_of(const std::vector<std::byte>& response) {
  if (response.size() == 2 && (std::to_integer<int>(response[0]) & 0x80)) {
    return static_cast<modbus::ExceptionCode>(std::to_integer<int>(response[1]));
  }
  return std::nullopt;
}

std::vector<std::uint16_t> read(ModbusService& service, std::uint16_t address, std::uint16_t quantity) {
  const modbus::ReadRegistersRequest request{modbus::FunctionCode::read_holding_registers, address, quantity};
  const auto response = call(service, request);
  const auto decoded = modbus::decode_read_registers_response(response, request);
  REQUIRE(decoded);
  REQUIRE(std::holds_alternative<std::vector<std::uint16_t>>(*decoded));
  return std::get<std::vector<std::uint16_t>>(*decoded);
}

double read_float(ModbusService& service, std::uint16_t register_number) {
  const auto words = read(service, register_number - 1, 2);
  return std::get<double>(proto::codec::decode_value(words, proto::codec::ValueType::float32,
                                                     proto::codec::WordOrder::big));
}

}  // namespace

TEST_CASE("Reads serve simulated values at the vendor's registers", "[firmware][modbus]") {
  TemporaryDirectory directory;
  auto meter = open_meter(directory.path, sec::ModbusAccess::read_only);
  ModbusService service(*meter);
  CHECK(read_float(service, 3028) == Approx(230).epsilon(0.05));  // voltage A-N
  CHECK(read_float(service, 3020) == Approx(398.4).epsilon(0.05));  // voltage A-B
  CHECK(read_float(service, 3110) == Approx(50).epsilon(0.01));   // frequency
  CHECK(read_float(service, 3000) > 1.0);                          // current A
  // A read spanning a whole block, reserved rows included.
  CHECK(read(service, 2999, 12).size() == 12);
  const auto unix_words = read(service, 7999, 2);
  const auto unix_time = static_cast<double>((unix_words[0] << 16) | unix_words[1]);
  const auto now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  CHECK(std::abs(unix_time - now) < 2.0);
}

TEST_CASE("Reads outside the map or across blocks are illegal data addresses", "[firmware][modbus]") {
  TemporaryDirectory directory;
  auto meter = open_meter(directory.path, sec::ModbusAccess::read_only);
  ModbusService service(*meter);
  using modbus::ExceptionCode;
  CHECK(exception_of(call(service, modbus::ReadRegistersRequest{modbus::FunctionCode::read_holding_registers, 0, 1})) ==
        ExceptionCode::illegal_data_address);
  CHECK(exception_of(call(service, modbus::ReadRegistersRequest{modbus::FunctionCode::read_holding_registers, 3027, 12})) ==
        ExceptionCode::illegal_data_address);
  CHECK(exception_of(call(service, modbus::ReadRegistersRequest{modbus::FunctionCode::read_input_registers, 65535, 1})) ==
        ExceptionCode::illegal_data_address);
}

TEST_CASE("Modbus access None, Read Only and Read Write are enforced", "[firmware][modbus][security]") {
  TemporaryDirectory directory;
  using modbus::ExceptionCode;
  const modbus::WriteSingleRegisterRequest write{8099, 30};  // demand_interval_minutes
  const modbus::ReadRegistersRequest read_request{modbus::FunctionCode::read_holding_registers, 2999, 2};
  {
    auto meter = open_meter(directory.path, sec::ModbusAccess::none);
    ModbusService service(*meter);
    CHECK(exception_of(call(service, read_request)) == ExceptionCode::illegal_function);
    CHECK(exception_of(call(service, write)) == ExceptionCode::illegal_function);
    CHECK_FALSE(exception_of(call(service, modbus::ReadDeviceIdRequest{modbus::DeviceIdReadCode::basic, 0})));
  }
  {
    auto meter = open_meter(directory.path, sec::ModbusAccess::read_only);
    ModbusService service(*meter);
    CHECK_FALSE(exception_of(call(service, read_request)));
    CHECK(exception_of(call(service, write)) == ExceptionCode::illegal_function);
    CHECK(meter->state().setting(proto::model::ConfigSetting::demand_interval_minutes) == 15);
  }
  {
    auto meter = open_meter(directory.path, sec::ModbusAccess::read_write);
    ModbusService service(*meter);
    CHECK(call(service, write).size() == 5);  // echo
    CHECK(meter->state().setting(proto::model::ConfigSetting::demand_interval_minutes) == 30);
    CHECK(read(service, 8099, 1)[0] == 30);
  }
  // The write was saved before it was acknowledged.
  auto reopened = open_meter(directory.path, sec::ModbusAccess::read_only);
  CHECK(reopened->state().setting(proto::model::ConfigSetting::demand_interval_minutes) == 30);
}

TEST_CASE("Writes check addresses, whole entries and value ranges, and apply all or nothing", "[firmware][modbus]") {
  TemporaryDirectory directory;
  auto meter = open_meter(directory.path, sec::ModbusAccess::read_write);
  ModbusService service(*meter);
  using modbus::ExceptionCode;
  SECTION("read-only measurement register") {
    CHECK(exception_of(call(service, modbus::WriteSingleRegisterRequest{2999, 1})) == ExceptionCode::illegal_data_address);
  }
  SECTION("half of a 32-bit setting") {
    CHECK(exception_of(call(service, modbus::WriteSingleRegisterRequest{8101, 1})) == ExceptionCode::illegal_data_address);
  }
  SECTION("value out of range") {
    CHECK(exception_of(call(service, modbus::WriteSingleRegisterRequest{8099, 61})) == ExceptionCode::illegal_data_value);
    CHECK(exception_of(call(service, modbus::WriteSingleRegisterRequest{8099, 0})) == ExceptionCode::illegal_data_value);
  }
  SECTION("subintervals that do not divide the window") {
    CHECK(exception_of(call(service, modbus::WriteSingleRegisterRequest{8100, 7})) == ExceptionCode::illegal_data_value);
  }
  SECTION("a multiple write with one bad value changes nothing") {
    // demand_interval_minutes=30 (ok), demand_subintervals=0 (bad)
    CHECK(exception_of(call(service, modbus::WriteMultipleRegistersRequest{8099, {30, 0}})) ==
          ExceptionCode::illegal_data_value);
    CHECK(meter->state().setting(proto::model::ConfigSetting::demand_interval_minutes) == 15);
  }
  SECTION("a multiple write over several settings") {
    CHECK(call(service, modbus::WriteMultipleRegistersRequest{8101, {0x0001, 0xADB0, 110}}).size() == 5);
    CHECK(meter->state().setting(proto::model::ConfigSetting::pt_primary) == 110000);
    CHECK(meter->state().setting(proto::model::ConfigSetting::pt_secondary) == 110);
  }
  SECTION("unsupported function") {
    std::array<std::byte, 5> pdu = {std::byte{0x01}, std::byte{0}, std::byte{0}, std::byte{0}, std::byte{1}};
    std::array<std::byte, modbus::k_max_pdu_size> response{};
    const auto size = service.handle(pdu, response);
    CHECK(size == 2);
    CHECK(std::to_integer<int>(response[0]) == 0x81);
    CHECK(std::to_integer<int>(response[1]) == 0x01);
  }
}

TEST_CASE("FC43 serves basic and regular objects and follows the ProductCode rule", "[firmware][modbus][fc43]") {
  TemporaryDirectory shipped_new;
  auto meter = open_meter(shipped_new.path, sec::ModbusAccess::read_only);
  ModbusService service(*meter);
  const auto basic = modbus::decode_device_id_response(
      call(service, modbus::ReadDeviceIdRequest{modbus::DeviceIdReadCode::basic, 0}));
  REQUIRE(basic);
  const auto& objects = std::get<modbus::DeviceIdResponse>(*basic).objects;
  REQUIRE(objects.size() == 3);
  CHECK(objects[0].value == "Schneider Electric");
  CHECK(objects[1].value == "METSEION7400");
  CHECK(objects[2].value == "4.6.0");
  CHECK(std::get<modbus::DeviceIdResponse>(*basic).conformity_level == 0x82);

  const auto regular = modbus::decode_device_id_response(
      call(service, modbus::ReadDeviceIdRequest{modbus::DeviceIdReadCode::regular, 0}));
  CHECK(std::get<modbus::DeviceIdResponse>(*regular).objects.size() == 7);
  // Individual access to an object that does not exist.
  CHECK(exception_of(call(service, modbus::ReadDeviceIdRequest{modbus::DeviceIdReadCode::individual, 0x42})) ==
        modbus::ExceptionCode::illegal_data_address);
  // Stream access from an unknown object restarts at object 0.
  const auto restarted = modbus::decode_device_id_response(
      call(service, modbus::ReadDeviceIdRequest{modbus::DeviceIdReadCode::basic, 0x42}));
  CHECK(std::get<modbus::DeviceIdResponse>(*restarted).objects.front().id == 0);

  TemporaryDirectory upgraded;
  open_meter(upgraded.path, sec::ModbusAccess::read_only, "4.0.0");
  auto after_upgrade = open_meter(upgraded.path, sec::ModbusAccess::read_only, "4.6.0");
  ModbusService upgraded_service(*after_upgrade);
  const auto upgraded_basic = modbus::decode_device_id_response(
      call(upgraded_service, modbus::ReadDeviceIdRequest{modbus::DeviceIdReadCode::basic, 0}));
  const auto& upgraded_objects = std::get<modbus::DeviceIdResponse>(*upgraded_basic).objects;
  CHECK(std::none_of(upgraded_objects.begin(), upgraded_objects.end(), [](const auto& o) { return o.id == 1; }));
  CHECK(exception_of(call(upgraded_service, modbus::ReadDeviceIdRequest{modbus::DeviceIdReadCode::individual, 1})) ==
        modbus::ExceptionCode::illegal_data_address);
}

TEST_CASE("A meter on a rollback floor version or later is never downgraded", "[firmware][model]") {
  TemporaryDirectory directory;
  open_meter(directory.path, sec::ModbusAccess::read_only, "4.6.0");
  for (const auto& older : {proto::model::Version{4, 0, 0}, proto::model::Version{3, 0, 0}}) {
    MeterSetup setup{directory.path, *proto::model::find_device_model("ION7400"), std::nullopt,
                     older, default_scenario(), 7, std::nullopt, std::nullopt, sec::PasswordHashing{sec::k_fleet_scrypt, true}};
    const auto refused = Meter::open(std::move(setup));
    REQUIRE_FALSE(refused);
    CHECK_THAT(refused.error(), Catch::Contains("cannot be downgraded"));
  }
  // Upgrades stay possible, and the refused attempts left the stored firmware alone.
  auto reopened = open_meter(directory.path, sec::ModbusAccess::read_only, "4.6.0");
  CHECK(reopened->state().firmware == proto::model::Version{4, 6, 0});
}

TEST_CASE("A state directory serves one meter at a time", "[firmware][state]") {
  TemporaryDirectory directory;
  auto first = open_meter(directory.path, sec::ModbusAccess::read_only);
  MeterSetup setup{directory.path, *proto::model::find_device_model("ION7400"), std::nullopt,
                   std::nullopt, default_scenario(), 7, std::nullopt, std::nullopt, sec::PasswordHashing{sec::k_fleet_scrypt, true}};
  const auto second = Meter::open(std::move(setup));
  REQUIRE_FALSE(second);
  CHECK_THAT(second.error(), Catch::Contains("in use by another meterd"));
  first.reset();
  open_meter(directory.path, sec::ModbusAccess::read_only);  // free again once the first is gone
}

TEST_CASE("A write the meter cannot store answers server device failure", "[firmware][modbus]") {
  TemporaryDirectory directory;
  auto meter = open_meter(directory.path, sec::ModbusAccess::read_write);
  ModbusService service(*meter);
  // Make the state file's directory unwritable to the meter: replace it by a file.
  std::filesystem::remove_all(directory.path);
  std::ofstream(directory.path) << "not a directory";
  CHECK(exception_of(call(service, modbus::WriteSingleRegisterRequest{8099, 30})) ==
        modbus::ExceptionCode::server_device_failure);
  CHECK(meter->state().setting(proto::model::ConfigSetting::demand_interval_minutes) == 15);
  std::filesystem::remove(directory.path);
}

TEST_CASE("Feature set names are stored in the model's spelling", "[firmware][state]") {
  TemporaryDirectory directory;
  MeterSetup setup{directory.path, *proto::model::find_device_model("ION7400"), std::string("essential"),
                   std::nullopt, default_scenario(), 7, std::nullopt, std::nullopt, sec::PasswordHashing{sec::k_fleet_scrypt, true}};
  const auto meter = Meter::open(std::move(setup));
  REQUIRE(meter);
  CHECK((*meter)->state().feature_set == "Essential");
}
