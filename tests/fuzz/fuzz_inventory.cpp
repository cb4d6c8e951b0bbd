// Parses fleet inventories (meterctl-config(1)), the meters' overrides included, and
// where one parses, selects and shards it: selection and sharding must keep the order and
// lose no meter.
#include <cstdlib>
#include <string_view>

#include "cli/inventory.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto inventory = cli::parse_inventory(text, "fleet/inventory.yaml");
  if (!inventory) {
    if (inventory.error().empty()) std::abort();
    return 0;
  }
  for (const auto& meter : inventory->meters) {
    if (!cli::valid_meter_name(meter.name) || meter.address.empty() || meter.port == 0) std::abort();
  }
  std::size_t in_shards = 0;
  for (unsigned index = 1; index <= 3; ++index) {
    in_shards += cli::select_meters(*inventory, {}, cli::Shard{index, 3}).size();
  }
  if (in_shards != inventory->meters.size()) std::abort();
  const auto selected = cli::select_meters(*inventory, {{"name", "*"}}, std::nullopt);
  if (selected.size() != inventory->meters.size()) std::abort();
  return 0;
}
