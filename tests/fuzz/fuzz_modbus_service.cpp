// Feeds request PDUs to a whole meter's Modbus service (read-only access, so nothing is
// written to disk): every answer must be a well-formed response or exception.
#include <array>
#include <cstdlib>
#include <filesystem>
#include <memory>

#include "firmware/embedded_scenarios.hpp"
#include "firmware/modbus_service.hpp"

namespace {

meterd::Meter& shared_meter() {
  static std::unique_ptr<meterd::Meter> meter = [] {
    const auto directory = std::filesystem::temp_directory_path() / "meterctl-fuzz-modbus-service";
    std::filesystem::remove_all(directory);
    meterd::simulation::Scenario scenario;
    for (const auto& file : meterd::embedded_scenarios::embedded_files()) {
      if (file.name == "steady-state.yaml") scenario = *meterd::simulation::load_scenario(file.contents, file.name);
    }
    meterd::MeterSetup setup{directory, *proto::model::find_device_model("ION7400"), std::nullopt, std::nullopt,
                             scenario, 1, sec::ModbusAccess::read_only, std::nullopt,
                             sec::PasswordHashing{sec::k_fleet_scrypt, true}};
    auto opened = meterd::Meter::open(std::move(setup));
    if (!opened) std::abort();
    return std::move(*opened);
  }();
  return *meter;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0 || size > proto::codec::modbus::k_max_pdu_size) return 0;
  static meterd::ModbusService service(shared_meter());
  std::array<std::byte, proto::codec::modbus::k_max_pdu_size> response{};
  const auto written =
      service.handle(proto::codec::ByteView(reinterpret_cast<const std::byte*>(data), size), response);
  if (written < 2 || written > response.size()) std::abort();
  const auto function = std::to_integer<std::uint8_t>(response[0]);
  if ((function & 0x7F) != (data[0] & 0x7F)) std::abort();
  return 0;
}
