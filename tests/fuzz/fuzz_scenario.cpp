// Loads a scenario and, when it is valid, runs the simulation over a stretch of time.
#include <cmath>
#include <cstdlib>
#include <string_view>

#include "firmware/simulation/engine.hpp"
#include "firmware/simulation/scenario.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto scenario = meterd::simulation::load_scenario(text, "fuzz.yaml");
  if (!scenario) {
    if (scenario.error().message.empty()) std::abort();
    return 0;
  }
  constexpr double start = 1'800'000'000.0;
  meterd::simulation::Engine engine(std::move(*scenario), 1, start);
  engine.advance_to(start + 3600.0);
  const auto values = engine.measure(start + 3600.0);
  for (const double value : values.values) {
    if (!std::isfinite(value)) std::abort();
  }
  return 0;
}
