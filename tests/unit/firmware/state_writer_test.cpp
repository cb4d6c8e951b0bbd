#include "firmware/state_writer.hpp"

#include <catch2/catch.hpp>

#include <random>

using namespace meterd;

namespace {

MeterState state_with_energy(double kwh) {
  MeterState state;
  state.serial_number = "VM0000000001";
  state.model = "ION7400";
  state.feature_set = "Advanced";
  state.firmware = state.shipped_firmware = {4, 6, 0};
  state.settings = default_settings();
  state.energy.active_energy_delivered_kwh = kwh;
  return state;
}

double stored_energy(const std::filesystem::path& directory) {
  const auto loaded = load_meter_state(directory);
  REQUIRE(loaded);
  REQUIRE(loaded->has_value());
  return (*loaded)->energy.active_energy_delivered_kwh;
}

}  // namespace

TEST_CASE("Queued saves reach the disk, the newest snapshot winning", "[firmware][state]") {
  std::random_device entropy;
  const auto directory = std::filesystem::temp_directory_path() / ("meterd-writer-" + std::to_string(entropy()));
  std::filesystem::create_directories(directory);
  StateWriter writer;

  for (int i = 1; i <= 50; ++i) writer.save_later(directory, state_with_energy(i));
  writer.flush();
  CHECK(stored_energy(directory) == 50);

  // A durable save made after queued ones is never overwritten by them.
  for (int round = 0; round < 20; ++round) {
    writer.save_later(directory, state_with_energy(1000 + round));
    REQUIRE(writer.save_now(directory, state_with_energy(2000 + round)));
    writer.flush();
    CHECK(stored_energy(directory) == 2000 + round);
  }
  std::filesystem::remove_all(directory);
}

TEST_CASE("A failed durable save is reported to the caller", "[firmware][state]") {
  StateWriter writer;
  const auto result = writer.save_now("/nonexistent-directory/meter", state_with_energy(1));
  REQUIRE_FALSE(result);
  CHECK_THAT(result.error(), Catch::Contains("/nonexistent-directory/meter"));
}
