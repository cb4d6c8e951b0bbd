#include "libproto/model/register_map.hpp"

#include <catch2/catch.hpp>

#include <set>

using namespace proto::model;

TEST_CASE("The map follows the PowerLogic register list where it is known", "[model][map]") {
  const auto map = RegisterMap::complete();
  const std::vector<std::pair<std::string, int>> expected = {
      {"current_a", 3000},   {"current_n", 3006},          {"current_avg", 3010},
      {"voltage_ab", 3020},  {"voltage_ll_avg", 3026},     {"voltage_an", 3028},
      {"voltage_ln_avg", 3036}, {"active_power_a", 3054},  {"active_power_total", 3060},
      {"reactive_power_total", 3068}, {"apparent_power_total", 3076}, {"power_factor_total", 3084},
      {"frequency", 3110},   {"active_energy_delivered", 2700}, {"active_energy_received", 2702},
      {"reactive_energy_delivered", 2708}, {"apparent_energy_delivered", 2716},
      {"active_energy_delivered_wh", 3204}, {"active_energy_received_wh", 3208},
  };
  for (const auto& [name, register_number] : expected) {
    const auto* entry = map.find(name);
    INFO(name);
    REQUIRE(entry);
    CHECK(entry->register_number == register_number);
    CHECK(entry->address() == register_number - 1);
  }
  CHECK(map.find("active_energy_delivered_wh")->type == proto::codec::ValueType::i64);
  CHECK(map.find("unix_time")->type == proto::codec::ValueType::u32);
}

TEST_CASE("Map rows never overlap, names are unique, and only configuration is writable", "[model][map]") {
  const auto map = RegisterMap::complete();
  std::set<std::string> names;
  std::uint32_t next_free = 0;
  for (const auto& entry : map.entries()) {
    INFO(entry.name);
    CHECK(names.insert(entry.name).second);
    CHECK(entry.register_number >= next_free);
    next_free = entry.register_number + entry.count;
    CHECK(entry.count == proto::codec::register_count(entry.type));
    CHECK((entry.access == RegisterAccess::read_write) == (entry.source == RegisterSource::config));
  }
  for (std::size_t i = 0; i < k_point_count; ++i) {
    INFO(k_points[i].name);
    CHECK(map.find(k_points[i].name) != nullptr);  // every measurement point is published
  }
}

TEST_CASE("Rows gated on a feature are left out of meters without it", "[model][map]") {
  auto model = find_device_model("ION7400");
  REQUIRE(model);
  const auto old = RegisterMap::for_capabilities(*model->capabilities("Advanced", Version{4, 0, 0}));
  const auto current = RegisterMap::for_capabilities(*model->capabilities("Advanced", Version{4, 6, 0}));
  CHECK(old.find("unix_time") == nullptr);
  CHECK(current.find("unix_time") != nullptr);
  CHECK(old.entries().size() + 1 == current.entries().size());
  CHECK(std::none_of(old.blocks().begin(), old.blocks().end(), [](const auto& b) { return b.name == "clock"; }));
}
