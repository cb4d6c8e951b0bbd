#include "firmware/modbus_service.hpp"

#include <algorithm>
#include <array>

#include "firmware/log.hpp"

namespace meterd {

namespace modbus = proto::codec::modbus;
using modbus::ExceptionCode;
using proto::model::RegisterAccess;
using proto::model::RegisterSource;

namespace {

// Modbus Application Protocol v1.1b3, 6.21, table of object ids.
enum DeviceIdObjectId : std::uint8_t {
  vendor_name = 0x00,
  product_code = 0x01,
  major_minor_revision = 0x02,
  vendor_url = 0x03,
  product_name = 0x04,
  model_name = 0x05,
  user_application_name = 0x06,
};

// Last object id of each category (basic 0x00-0x02, regular 0x03-0x7F, extended 0x80-0xFF).
std::uint8_t last_object_of(modbus::DeviceIdReadCode code) {
  switch (code) {
    case modbus::DeviceIdReadCode::basic: return 0x02;
    case modbus::DeviceIdReadCode::regular: return 0x7F;
    case modbus::DeviceIdReadCode::extended:
    case modbus::DeviceIdReadCode::individual: return 0xFF;
  }
  return 0x02;
}

std::size_t exception(std::uint8_t function, ExceptionCode code, proto::codec::ByteBuffer out) {
  return *modbus::encode_exception_response(function, code, out);
}

std::size_t encode_or_fail(std::uint8_t function, const modbus::DeviceIdResponse& answer,
                           proto::codec::ByteBuffer out) {
  const auto size = modbus::encode_device_id_response(answer, out);
  return size ? *size : exception(function, ExceptionCode::server_device_failure, out);
}

// Unpacks the values of a write that tiles whole entries; all configuration registers are
// unsigned integers.
std::vector<std::pair<proto::model::ConfigSetting, std::int64_t>> settings_from_words(
    const std::vector<const proto::model::RegisterEntry*>& entries, std::span<const std::uint16_t> words) {
  std::vector<std::pair<proto::model::ConfigSetting, std::int64_t>> values;
  std::size_t at = 0;
  for (const auto* entry : entries) {
    const auto value = proto::codec::decode_value(words.subspan(at, entry->count), entry->type,
                                                  proto::codec::WordOrder::big);
    values.emplace_back(entry->setting, static_cast<std::int64_t>(std::get<std::uint64_t>(value)));
    at += entry->count;
  }
  return values;
}

}  // namespace

std::vector<modbus::DeviceIdObject> ModbusService::device_id_objects() const {
  const auto& model = meter_.model();
  std::vector<modbus::DeviceIdObject> objects;
  objects.push_back({vendor_name, model.vendor});
  // Vendor's 4.6.0 notes: the commercial reference is only served by meters shipped with 4.6.0 or later.
  if (meter_.capabilities().has(proto::model::Feature::modbus_product_code)) {
    objects.push_back({product_code, model.product_code});
  }
  objects.push_back({major_minor_revision, meter_.state().firmware.to_string()});
  if (!model.vendor_url.empty()) objects.push_back({vendor_url, model.vendor_url});
  objects.push_back({product_name, model.product_name});
  objects.push_back({model_name, model.name + " " + meter_.state().feature_set});
  objects.push_back({user_application_name, "meterd " + meter_.state().serial_number});
  return objects;
}

std::size_t ModbusService::handle(proto::codec::ByteView request_pdu, proto::codec::ByteBuffer response) {
  auto decoded = modbus::decode_request(request_pdu);
  if (!decoded) return exception(decoded.error().function, decoded.error().code, response);
  const auto function = modbus::function_byte(*decoded);
  const auto access = meter_.modbus_access();

  if (const auto* read = std::get_if<modbus::ReadRegistersRequest>(&*decoded)) {
    if (!sec::modbus_operation_allowed(access, sec::ModbusOperation::read_map)) {
      return exception(function, ExceptionCode::illegal_function, response);
    }
    std::array<std::uint16_t, modbus::k_max_read_registers> words{};
    const auto registers = std::span(words).first(read->quantity);
    if (!meter_.register_image().read(read->address, registers)) {
      return exception(function, ExceptionCode::illegal_data_address, response);
    }
    return *modbus::encode_read_registers_response(read->function, registers, response);
  }

  if (const auto* identify = std::get_if<modbus::ReadDeviceIdRequest>(&*decoded)) {
    const auto objects = device_id_objects();
    modbus::DeviceIdResponse answer;
    answer.read_code = identify->read_code;
    answer.conformity_level = k_device_id_conformity;
    const auto found = std::find_if(objects.begin(), objects.end(),
                                    [&](const auto& object) { return object.id == identify->object_id; });
    if (identify->read_code == modbus::DeviceIdReadCode::individual) {
      if (found == objects.end()) return exception(function, ExceptionCode::illegal_data_address, response);
      answer.objects.push_back(*found);
      return encode_or_fail(function, answer, response);
    }
    // 6.21: a stream request naming an unknown object restarts at the first object.
    auto next = found == objects.end() ? objects.begin() : found;
    std::size_t size = modbus::k_device_id_header_size;
    const auto last = last_object_of(identify->read_code);
    for (; next != objects.end() && next->id <= last; ++next) {
      if (size + 2 + next->value.size() > modbus::k_max_pdu_size) {
        answer.more_follows = true;
        answer.next_object_id = next->id;
        break;
      }
      size += 2 + next->value.size();
      answer.objects.push_back(*next);
    }
    if (answer.objects.empty() && answer.more_follows) {
      // An object too large for any PDU would make clients ask for it forever.
      return exception(function, ExceptionCode::server_device_failure, response);
    }
    return encode_or_fail(function, answer, response);
  }

  // Writes: single or multiple registers of the configuration block.
  if (!sec::modbus_operation_allowed(access, sec::ModbusOperation::write_map)) {
    return exception(function, ExceptionCode::illegal_function, response);
  }
  std::uint16_t address = 0;
  std::vector<std::uint16_t> words;
  if (const auto* single = std::get_if<modbus::WriteSingleRegisterRequest>(&*decoded)) {
    address = single->address;
    words = {single->value};
  } else {
    const auto& multiple = std::get<modbus::WriteMultipleRegistersRequest>(*decoded);
    address = multiple.address;
    words = multiple.values;
  }
  const auto entries = meter_.register_image().entries_covering(address, static_cast<std::uint16_t>(words.size()));
  if (!entries || std::any_of(entries->begin(), entries->end(), [](const auto* entry) {
        return entry->access != RegisterAccess::read_write || entry->source != RegisterSource::config;
      })) {
    return exception(function, ExceptionCode::illegal_data_address, response);
  }
  const auto settings = settings_from_words(*entries, words);
  if (auto applied = meter_.apply_settings(settings); !applied) {
    if (applied.error().kind == SettingsError::revenue_locked) {
      log::info("modbus.write_refused", {{"serial", meter_.state().serial_number}, {"reason", applied.error().message}});
      return exception(function, ExceptionCode::illegal_function, response);
    }
    const bool invalid = applied.error().kind == SettingsError::invalid_value;
    if (invalid) {
      log::info("modbus.write_refused", {{"serial", meter_.state().serial_number}, {"reason", applied.error().message}});
    } else {
      log::error("meter.save_failed", {{"serial", meter_.state().serial_number}, {"reason", applied.error().message}});
    }
    // A value the meter cannot take is the client's error; a setting it could not store is the meter's.
    return exception(function, invalid ? ExceptionCode::illegal_data_value : ExceptionCode::server_device_failure,
                     response);
  }
  std::string changed;
  for (const auto& [setting, value] : settings) {
    changed += (changed.empty() ? "" : ", ") + std::string(proto::model::info(setting).name) + "=" + std::to_string(value);
  }
  meter_.record_security_event(sec::SecurityEventType::configuration_change, EventSource{"", "modbus", ""}, changed);
  if (std::holds_alternative<modbus::WriteSingleRegisterRequest>(*decoded)) {
    return *modbus::encode_write_single_response(address, words.front(), response);
  }
  return *modbus::encode_write_multiple_response(address, static_cast<std::uint16_t>(words.size()), response);
}

}  // namespace meterd
