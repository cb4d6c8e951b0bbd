#include "libproto/model/register_map.hpp"

#include <algorithm>

namespace proto::model {

namespace {

using codec::ValueType;

constexpr std::string_view k_powerlogic_origin =
    "PowerLogic public Modbus register list (PM5000/PM8000/ION9000 family layout)";
constexpr std::string_view k_meterd_origin = "meterd-specific block: no vendor register is known for these values";

class MapBuilder {
 public:
  explicit MapBuilder(std::vector<RegisterEntry>& entries, std::vector<RegisterBlock>& blocks)
      : entries_(entries), blocks_(blocks) {}

  MapBuilder& block(std::string name, std::uint16_t first_register, std::string_view origin) {
    block_ = name;
    next_ = first_register;
    blocks_.push_back({std::move(name), first_register, std::string(origin)});
    return *this;
  }

  MapBuilder& point(Point which, ValueType type = ValueType::float32, double scale = 1.0,
                    std::string_view unit_override = {}, std::string_view name_suffix = {}) {
    RegisterEntry entry = base(std::string(info(which).name) + std::string(name_suffix), type);
    entry.source = RegisterSource::measurement;
    entry.point = which;
    entry.scale = scale;
    entry.unit = unit_override.empty() ? std::string(info(which).unit) : std::string(unit_override);
    entry.description = std::string(info(which).description);
    return add(std::move(entry));
  }

  // Holes inside a block, one float32 row per two registers, so reads across them succeed.
  MapBuilder& reserved(std::uint16_t registers) {
    for (std::uint16_t done = 0; done < registers; done += 2) {
      RegisterEntry entry = base("reserved_" + std::to_string(next_), ValueType::float32);
      entry.source = RegisterSource::reserved;
      entry.description = "Reserved; reads as not available (NaN)";
      add(std::move(entry));
    }
    return *this;
  }

  MapBuilder& special(std::string name, RegisterSource source, ValueType type, std::string unit,
                      std::string description, std::optional<Feature> gate = std::nullopt) {
    RegisterEntry entry = base(std::move(name), type);
    entry.source = source;
    entry.unit = std::move(unit);
    entry.description = std::move(description);
    entry.requires_feature = gate;
    return add(std::move(entry));
  }

  MapBuilder& setting(ConfigSetting which, ValueType type) {
    const auto& setting_info = info(which);
    RegisterEntry entry = base(std::string(setting_info.name), type);
    entry.source = RegisterSource::config;
    entry.setting = which;
    entry.access = RegisterAccess::read_write;
    entry.unit = std::string(setting_info.unit);
    entry.description = std::string(setting_info.description) + " (" + std::to_string(setting_info.min) + ".." +
                        std::to_string(setting_info.max) + ")";
    return add(std::move(entry));
  }

 private:
  RegisterEntry base(std::string name, ValueType type) {
    RegisterEntry entry;
    entry.name = std::move(name);
    entry.register_number = next_;
    entry.type = type;
    entry.count = static_cast<std::uint16_t>(codec::register_count(type));
    entry.block = block_;
    return entry;
  }

  MapBuilder& add(RegisterEntry entry) {
    next_ = static_cast<std::uint16_t>(next_ + entry.count);
    entries_.push_back(std::move(entry));
    return *this;
  }

  std::vector<RegisterEntry>& entries_;
  std::vector<RegisterBlock>& blocks_;
  std::string block_;
  std::uint16_t next_ = 1;
};

}  // namespace

const ConfigSettingInfo& info(ConfigSetting setting) { return k_config_settings[static_cast<std::size_t>(setting)]; }

RegisterMap RegisterMap::complete() {
  RegisterMap map;
  MapBuilder build(map.entries_, map.blocks_);
  build.block("energy", 2700, k_powerlogic_origin)
      .point(Point::active_energy_delivered)
      .point(Point::active_energy_received)
      .reserved(4)
      .point(Point::reactive_energy_delivered)
      .point(Point::reactive_energy_received)
      .reserved(4)
      .point(Point::apparent_energy_delivered)
      .point(Point::apparent_energy_received);
  build.block("current", 3000, k_powerlogic_origin)
      .point(Point::current_a)
      .point(Point::current_b)
      .point(Point::current_c)
      .point(Point::current_n)
      .reserved(2)  // ground current: not measured
      .point(Point::current_avg);
  build.block("voltage", 3020, k_powerlogic_origin)
      .point(Point::voltage_ab)
      .point(Point::voltage_bc)
      .point(Point::voltage_ca)
      .point(Point::voltage_ll_avg)
      .point(Point::voltage_an)
      .point(Point::voltage_bn)
      .point(Point::voltage_cn)
      .reserved(2)
      .point(Point::voltage_ln_avg);
  build.block("power", 3054, k_powerlogic_origin)
      .point(Point::active_power_a)
      .point(Point::active_power_b)
      .point(Point::active_power_c)
      .point(Point::active_power_total)
      .point(Point::reactive_power_a)
      .point(Point::reactive_power_b)
      .point(Point::reactive_power_c)
      .point(Point::reactive_power_total)
      .point(Point::apparent_power_a)
      .point(Point::apparent_power_b)
      .point(Point::apparent_power_c)
      .point(Point::apparent_power_total)
      .point(Point::power_factor_a)
      .point(Point::power_factor_b)
      .point(Point::power_factor_c)
      .point(Point::power_factor_total);
  build.block("frequency", 3110, k_powerlogic_origin).point(Point::frequency);
  build.block("energy_int64", 3204, k_powerlogic_origin)
      .point(Point::active_energy_delivered, ValueType::i64, 1000.0, "Wh", "_wh")
      .point(Point::active_energy_received, ValueType::i64, 1000.0, "Wh", "_wh")
      .reserved(8)
      .point(Point::reactive_energy_delivered, ValueType::i64, 1000.0, "varh", "_varh")
      .point(Point::reactive_energy_received, ValueType::i64, 1000.0, "varh", "_varh")
      .reserved(8)
      .point(Point::apparent_energy_delivered, ValueType::i64, 1000.0, "VAh", "_vah")
      .point(Point::apparent_energy_received, ValueType::i64, 1000.0, "VAh", "_vah");
  build.block("clock", 8000, k_meterd_origin)
      .special("unix_time", RegisterSource::unix_time, ValueType::u32, "s",
               "Meter clock: seconds since 1970-01-01 00:00:00 UTC, no leap seconds", Feature::modbus_unix_time);
  build.block("power_quality", 8010, k_meterd_origin)
      .point(Point::voltage_thd_a)
      .point(Point::voltage_thd_b)
      .point(Point::voltage_thd_c)
      .point(Point::current_thd_a)
      .point(Point::current_thd_b)
      .point(Point::current_thd_c);
  build.block("demand", 8030, k_meterd_origin)
      .point(Point::active_power_demand)
      .point(Point::active_power_peak_demand)
      .special("active_power_peak_demand_unix_time", RegisterSource::peak_demand_time, ValueType::u32, "s",
               "When the active power peak demand was reached (Unix time; 0 if never)")
      .point(Point::reactive_power_demand)
      .point(Point::apparent_power_demand);
  build.block("configuration", 8100, k_meterd_origin)
      .setting(ConfigSetting::demand_interval_minutes, ValueType::u16)
      .setting(ConfigSetting::demand_subintervals, ValueType::u16)
      .setting(ConfigSetting::pt_primary, ValueType::u32)
      .setting(ConfigSetting::pt_secondary, ValueType::u16)
      .setting(ConfigSetting::ct_primary, ValueType::u16)
      .setting(ConfigSetting::ct_secondary, ValueType::u16)
      .setting(ConfigSetting::time_sync_enabled, ValueType::u16);
  std::sort(map.entries_.begin(), map.entries_.end(),
            [](const auto& a, const auto& b) { return a.register_number < b.register_number; });
  std::sort(map.blocks_.begin(), map.blocks_.end(),
            [](const auto& a, const auto& b) { return a.first_register < b.first_register; });
  return map;
}

RegisterMap RegisterMap::for_capabilities(const Capabilities& capabilities) {
  RegisterMap map = complete();
  std::erase_if(map.entries_, [&](const RegisterEntry& entry) {
    return entry.requires_feature && !capabilities.has(*entry.requires_feature);
  });
  std::erase_if(map.blocks_, [&](const RegisterBlock& block) {
    return std::none_of(map.entries_.begin(), map.entries_.end(),
                        [&](const RegisterEntry& entry) { return entry.block == block.name; });
  });
  return map;
}

const RegisterEntry* RegisterMap::find(std::string_view name) const {
  for (const auto& entry : entries_) {
    if (entry.name == name) return &entry;
  }
  return nullptr;
}

const RegisterEntry* RegisterMap::find_by_register(std::uint16_t register_number) const {
  const auto it = std::lower_bound(entries_.begin(), entries_.end(), register_number,
                                   [](const RegisterEntry& entry, std::uint16_t value) {
                                     return entry.register_number < value;
                                   });
  return it != entries_.end() && it->register_number == register_number ? &*it : nullptr;
}

}  // namespace proto::model
