#pragma once
// The Modbus Access security option (vendor's July 2020 what's new, "Modbus Access
// options"): None disables the built-in map, Read Only (the default) allows reads,
// Read Write also allows configuration of basic metering parameters.

#include <optional>
#include <string_view>

namespace sec {

enum class ModbusAccess { none, read_only, read_write };

inline constexpr ModbusAccess k_default_modbus_access = ModbusAccess::read_only;

std::string_view to_string(ModbusAccess access);  // none, read-only, read-write
std::optional<ModbusAccess> parse_modbus_access(std::string_view text);

enum class ModbusOperation { read_map, write_map, read_device_identification };

// Whether the access setting allows an operation. Device identification (FC43) is not
// part of the map, so None does not hide it.
bool modbus_operation_allowed(ModbusAccess access, ModbusOperation operation);

}  // namespace sec
