#include "libsec/modbus_access.hpp"

namespace sec {

std::string_view to_string(ModbusAccess access) {
  switch (access) {
    case ModbusAccess::none: return "none";
    case ModbusAccess::read_only: return "read-only";
    case ModbusAccess::read_write: return "read-write";
  }
  return "?";
}

std::optional<ModbusAccess> parse_modbus_access(std::string_view text) {
  if (text == "none") return ModbusAccess::none;
  if (text == "read-only" || text == "read_only") return ModbusAccess::read_only;
  if (text == "read-write" || text == "read_write") return ModbusAccess::read_write;
  return std::nullopt;
}

bool modbus_operation_allowed(ModbusAccess access, ModbusOperation operation) {
  switch (operation) {
    case ModbusOperation::read_device_identification: return true;
    case ModbusOperation::read_map: return access != ModbusAccess::none;
    case ModbusOperation::write_map: return access == ModbusAccess::read_write;
  }
  return false;
}

}  // namespace sec
