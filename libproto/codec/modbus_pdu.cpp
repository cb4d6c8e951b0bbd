#include "libproto/codec/modbus_pdu.hpp"

#include <algorithm>
#include <optional>

namespace proto::codec::modbus {

namespace {

RequestRejection reject(std::uint8_t function, ExceptionCode code) { return {function, code}; }

bool is_known_read_code(std::uint8_t code) { return code >= 0x01 && code <= 0x04; }

}  // namespace

std::uint8_t function_byte(const Request& request) {
  struct Visitor {
    std::uint8_t operator()(const ReadRegistersRequest& r) const { return static_cast<std::uint8_t>(r.function); }
    std::uint8_t operator()(const WriteSingleRegisterRequest&) const {
      return static_cast<std::uint8_t>(FunctionCode::write_single_register);
    }
    std::uint8_t operator()(const WriteMultipleRegistersRequest&) const {
      return static_cast<std::uint8_t>(FunctionCode::write_multiple_registers);
    }
    std::uint8_t operator()(const ReadDeviceIdRequest&) const {
      return static_cast<std::uint8_t>(FunctionCode::encapsulated_interface);
    }
  };
  return std::visit(Visitor{}, request);
}

Result<Request, RequestRejection> decode_request(ByteView pdu) {
  if (pdu.empty()) return unexpected(reject(0, ExceptionCode::illegal_function));
  const auto function = get_u8(pdu, 0);
  if (pdu.size() > k_max_pdu_size) return unexpected(reject(function, ExceptionCode::illegal_data_value));
  switch (static_cast<FunctionCode>(function)) {
    case FunctionCode::read_holding_registers:
    case FunctionCode::read_input_registers: {
      // Modbus Application Protocol v1.1b3, 6.3: function, address, quantity (1..125).
      if (pdu.size() != 5) return unexpected(reject(function, ExceptionCode::illegal_data_value));
      const auto quantity = get_u16(pdu, 3);
      if (quantity < 1 || quantity > k_max_read_registers) {
        return unexpected(reject(function, ExceptionCode::illegal_data_value));
      }
      return Request{ReadRegistersRequest{static_cast<FunctionCode>(function), get_u16(pdu, 1), quantity}};
    }
    case FunctionCode::write_single_register: {
      // 6.6: function, address, value.
      if (pdu.size() != 5) return unexpected(reject(function, ExceptionCode::illegal_data_value));
      return Request{WriteSingleRegisterRequest{get_u16(pdu, 1), get_u16(pdu, 3)}};
    }
    case FunctionCode::write_multiple_registers: {
      // 6.12: function, address, quantity (1..123), byte count = 2 x quantity, values.
      if (pdu.size() < 6) return unexpected(reject(function, ExceptionCode::illegal_data_value));
      const auto quantity = get_u16(pdu, 3);
      const auto byte_count = get_u8(pdu, 5);
      if (quantity < 1 || quantity > k_max_write_registers || byte_count != quantity * 2 ||
          pdu.size() != 6u + byte_count) {
        return unexpected(reject(function, ExceptionCode::illegal_data_value));
      }
      WriteMultipleRegistersRequest request{get_u16(pdu, 1), {}};
      request.values.reserve(quantity);
      for (std::size_t i = 0; i < quantity; ++i) request.values.push_back(get_u16(pdu, 6 + 2 * i));
      return Request{std::move(request)};
    }
    case FunctionCode::encapsulated_interface: {
      // 6.21: function, MEI type 0x0E, read device id code, object id.
      if (pdu.size() < 2 || get_u8(pdu, 1) != k_mei_read_device_id) {
        return unexpected(reject(function, ExceptionCode::illegal_function));
      }
      if (pdu.size() != 4 || !is_known_read_code(get_u8(pdu, 2))) {
        return unexpected(reject(function, ExceptionCode::illegal_data_value));
      }
      return Request{ReadDeviceIdRequest{static_cast<DeviceIdReadCode>(get_u8(pdu, 2)), get_u8(pdu, 3)}};
    }
  }
  return unexpected(reject(function, ExceptionCode::illegal_function));
}

Result<std::size_t, CodecError> encode_request(const Request& request, ByteBuffer out) {
  struct Visitor {
    ByteBuffer out;
    Result<std::size_t, CodecError> operator()(const ReadRegistersRequest& r) const {
      if (out.size() < 5) return unexpected(CodecError::buffer_too_small);
      put_u8(out, 0, static_cast<std::uint8_t>(r.function));
      put_u16(out, 1, r.address);
      put_u16(out, 3, r.quantity);
      return std::size_t{5};
    }
    Result<std::size_t, CodecError> operator()(const WriteSingleRegisterRequest& r) const {
      if (out.size() < 5) return unexpected(CodecError::buffer_too_small);
      put_u8(out, 0, static_cast<std::uint8_t>(FunctionCode::write_single_register));
      put_u16(out, 1, r.address);
      put_u16(out, 3, r.value);
      return std::size_t{5};
    }
    Result<std::size_t, CodecError> operator()(const WriteMultipleRegistersRequest& r) const {
      if (r.values.empty() || r.values.size() > k_max_write_registers) {
        return unexpected(CodecError::malformed_response);
      }
      const std::size_t size = 6 + 2 * r.values.size();
      if (out.size() < size) return unexpected(CodecError::buffer_too_small);
      put_u8(out, 0, static_cast<std::uint8_t>(FunctionCode::write_multiple_registers));
      put_u16(out, 1, r.address);
      put_u16(out, 3, static_cast<std::uint16_t>(r.values.size()));
      put_u8(out, 5, static_cast<std::uint8_t>(2 * r.values.size()));
      for (std::size_t i = 0; i < r.values.size(); ++i) put_u16(out, 6 + 2 * i, r.values[i]);
      return size;
    }
    Result<std::size_t, CodecError> operator()(const ReadDeviceIdRequest& r) const {
      if (out.size() < 4) return unexpected(CodecError::buffer_too_small);
      put_u8(out, 0, static_cast<std::uint8_t>(FunctionCode::encapsulated_interface));
      put_u8(out, 1, k_mei_read_device_id);
      put_u8(out, 2, static_cast<std::uint8_t>(r.read_code));
      put_u8(out, 3, r.object_id);
      return std::size_t{4};
    }
  };
  return std::visit(Visitor{out}, request);
}

Result<std::size_t, CodecError> encode_read_registers_response(FunctionCode function,
                                                               std::span<const std::uint16_t> registers,
                                                               ByteBuffer out) {
  if (registers.empty() || registers.size() > k_max_read_registers) return unexpected(CodecError::pdu_too_long);
  const std::size_t size = 2 + 2 * registers.size();
  if (out.size() < size) return unexpected(CodecError::buffer_too_small);
  put_u8(out, 0, static_cast<std::uint8_t>(function));
  put_u8(out, 1, static_cast<std::uint8_t>(2 * registers.size()));
  for (std::size_t i = 0; i < registers.size(); ++i) put_u16(out, 2 + 2 * i, registers[i]);
  return size;
}

Result<std::size_t, CodecError> encode_write_single_response(std::uint16_t address, std::uint16_t value,
                                                             ByteBuffer out) {
  return encode_request(WriteSingleRegisterRequest{address, value}, out);
}

Result<std::size_t, CodecError> encode_write_multiple_response(std::uint16_t address, std::uint16_t quantity,
                                                               ByteBuffer out) {
  if (out.size() < 5) return unexpected(CodecError::buffer_too_small);
  put_u8(out, 0, static_cast<std::uint8_t>(FunctionCode::write_multiple_registers));
  put_u16(out, 1, address);
  put_u16(out, 3, quantity);
  return std::size_t{5};
}

Result<std::size_t, CodecError> encode_exception_response(std::uint8_t function, ExceptionCode code,
                                                          ByteBuffer out) {
  if (out.size() < 2) return unexpected(CodecError::buffer_too_small);
  put_u8(out, 0, static_cast<std::uint8_t>(function | k_exception_bit));
  put_u8(out, 1, static_cast<std::uint8_t>(code));
  return std::size_t{2};
}

Result<std::size_t, CodecError> encode_device_id_response(const DeviceIdResponse& response, ByteBuffer out) {
  std::size_t size = k_device_id_header_size;
  for (const auto& object : response.objects) {
    if (object.value.size() > k_max_device_id_object_size) return unexpected(CodecError::pdu_too_long);
    size += 2 + object.value.size();
  }
  if (size > k_max_pdu_size || response.objects.size() > 0xFF) return unexpected(CodecError::pdu_too_long);
  if (out.size() < size) return unexpected(CodecError::buffer_too_small);
  put_u8(out, 0, static_cast<std::uint8_t>(FunctionCode::encapsulated_interface));
  put_u8(out, 1, k_mei_read_device_id);
  put_u8(out, 2, static_cast<std::uint8_t>(response.read_code));
  put_u8(out, 3, response.conformity_level);
  put_u8(out, 4, response.more_follows ? 0xFF : 0x00);
  put_u8(out, 5, response.next_object_id);
  put_u8(out, 6, static_cast<std::uint8_t>(response.objects.size()));
  std::size_t at = k_device_id_header_size;
  for (const auto& object : response.objects) {
    put_u8(out, at, object.id);
    put_u8(out, at + 1, static_cast<std::uint8_t>(object.value.size()));
    std::transform(object.value.begin(), object.value.end(), out.begin() + static_cast<std::ptrdiff_t>(at + 2),
                   [](char c) { return static_cast<std::byte>(c); });
    at += 2 + object.value.size();
  }
  return size;
}

namespace {

// Recognises an exception response to `function`; nullopt when the PDU is not one.
template <typename T>
std::optional<ResponseResult<T>> as_exception(ByteView pdu, std::uint8_t function) {
  if (pdu.empty()) return ResponseResult<T>(unexpected(CodecError::empty_pdu));
  if (pdu.size() > k_max_pdu_size) return ResponseResult<T>(unexpected(CodecError::pdu_too_long));
  const auto received = get_u8(pdu, 0);
  if (received == (function | k_exception_bit)) {
    if (pdu.size() != 2) return ResponseResult<T>(unexpected(CodecError::malformed_response));
    return ResponseResult<T>(std::variant<T, ExceptionResponse>(
        ExceptionResponse{function, static_cast<ExceptionCode>(get_u8(pdu, 1))}));
  }
  if (received != function) return ResponseResult<T>(unexpected(CodecError::unexpected_function));
  return std::nullopt;
}

}  // namespace

ResponseResult<std::vector<std::uint16_t>> decode_read_registers_response(ByteView pdu,
                                                                          const ReadRegistersRequest& request) {
  using Value = std::vector<std::uint16_t>;
  if (auto exception = as_exception<Value>(pdu, static_cast<std::uint8_t>(request.function))) return *exception;
  if (pdu.size() < 2) return unexpected(CodecError::malformed_response);
  const auto byte_count = get_u8(pdu, 1);
  if (byte_count != 2 * request.quantity || pdu.size() != 2u + byte_count) {
    return unexpected(CodecError::malformed_response);
  }
  Value registers(request.quantity);
  for (std::size_t i = 0; i < registers.size(); ++i) registers[i] = get_u16(pdu, 2 + 2 * i);
  return std::variant<Value, ExceptionResponse>(std::move(registers));
}

ResponseResult<std::uint16_t> decode_write_response(ByteView pdu, const Request& request) {
  const auto function = function_byte(request);
  if (auto exception = as_exception<std::uint16_t>(pdu, function)) return *exception;
  if (pdu.size() != 5) return unexpected(CodecError::malformed_response);
  const auto address = get_u16(pdu, 1);
  const auto echoed = get_u16(pdu, 3);
  if (const auto* single = std::get_if<WriteSingleRegisterRequest>(&request)) {
    if (address != single->address || echoed != single->value) return unexpected(CodecError::malformed_response);
  } else if (const auto* multiple = std::get_if<WriteMultipleRegistersRequest>(&request)) {
    if (address != multiple->address || echoed != multiple->values.size()) {
      return unexpected(CodecError::malformed_response);
    }
  } else {
    return unexpected(CodecError::unexpected_function);
  }
  return std::variant<std::uint16_t, ExceptionResponse>(echoed);
}

ResponseResult<DeviceIdResponse> decode_device_id_response(ByteView pdu) {
  constexpr auto function = static_cast<std::uint8_t>(FunctionCode::encapsulated_interface);
  if (auto exception = as_exception<DeviceIdResponse>(pdu, function)) return *exception;
  if (pdu.size() < k_device_id_header_size || get_u8(pdu, 1) != k_mei_read_device_id ||
      !is_known_read_code(get_u8(pdu, 2))) {
    return unexpected(CodecError::malformed_response);
  }
  const auto more = get_u8(pdu, 4);
  if (more != 0x00 && more != 0xFF) return unexpected(CodecError::malformed_response);
  DeviceIdResponse response;
  response.read_code = static_cast<DeviceIdReadCode>(get_u8(pdu, 2));
  response.conformity_level = get_u8(pdu, 3);
  response.more_follows = more == 0xFF;
  response.next_object_id = get_u8(pdu, 5);
  const auto count = get_u8(pdu, 6);
  std::size_t at = k_device_id_header_size;
  for (std::size_t i = 0; i < count; ++i) {
    if (at + 2 > pdu.size()) return unexpected(CodecError::malformed_response);
    const auto id = get_u8(pdu, at);
    const auto length = get_u8(pdu, at + 1);
    if (at + 2 + length > pdu.size()) return unexpected(CodecError::malformed_response);
    std::string value(length, '\0');
    for (std::size_t j = 0; j < length; ++j) value[j] = static_cast<char>(get_u8(pdu, at + 2 + j));
    response.objects.push_back({id, std::move(value)});
    at += 2 + length;
  }
  if (at != pdu.size()) return unexpected(CodecError::malformed_response);
  return std::variant<DeviceIdResponse, ExceptionResponse>(std::move(response));
}

}  // namespace proto::codec::modbus
