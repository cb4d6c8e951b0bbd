#pragma once
// Modbus PDUs: requests (decoded by servers, encoded by clients) and responses
// (encoded by servers, decoded by clients). Pure functions over byte spans.

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "libproto/codec/bytes.hpp"
#include "libproto/codec/modbus_types.hpp"
#include "libproto/result.hpp"

namespace proto::codec::modbus {

struct ReadRegistersRequest {
  FunctionCode function = FunctionCode::read_holding_registers;  // or read_input_registers
  std::uint16_t address = 0;                                     // zero-based PDU address
  std::uint16_t quantity = 0;
};

struct WriteSingleRegisterRequest {
  std::uint16_t address = 0;
  std::uint16_t value = 0;
};

struct WriteMultipleRegistersRequest {
  std::uint16_t address = 0;
  std::vector<std::uint16_t> values;
};

// Modbus Application Protocol v1.1b3, 6.21, table "Read Device ID code".
enum class DeviceIdReadCode : std::uint8_t { basic = 0x01, regular = 0x02, extended = 0x03, individual = 0x04 };

struct ReadDeviceIdRequest {
  DeviceIdReadCode read_code = DeviceIdReadCode::basic;
  std::uint8_t object_id = 0;
};

using Request = std::variant<ReadRegistersRequest, WriteSingleRegisterRequest, WriteMultipleRegistersRequest,
                             ReadDeviceIdRequest>;

// A request the server must answer with an exception instead of acting on it.
struct RequestRejection {
  std::uint8_t function = 0;
  ExceptionCode code = ExceptionCode::illegal_function;
};

// Decodes a request PDU. Unknown functions reject with illegal_function, wrong sizes and
// quantities out of range with illegal_data_value (Modbus Application Protocol v1.1b3, 6).
Result<Request, RequestRejection> decode_request(ByteView pdu);
std::uint8_t function_byte(const Request& request);

// Request encoders (client side). Return bytes written or buffer_too_small with nothing written.
Result<std::size_t, CodecError> encode_request(const Request& request, ByteBuffer out);

// Response encoders (server side).
Result<std::size_t, CodecError> encode_read_registers_response(FunctionCode function,
                                                               std::span<const std::uint16_t> registers,
                                                               ByteBuffer out);
Result<std::size_t, CodecError> encode_write_single_response(std::uint16_t address, std::uint16_t value,
                                                             ByteBuffer out);
Result<std::size_t, CodecError> encode_write_multiple_response(std::uint16_t address, std::uint16_t quantity,
                                                               ByteBuffer out);
Result<std::size_t, CodecError> encode_exception_response(std::uint8_t function, ExceptionCode code,
                                                          ByteBuffer out);

struct DeviceIdObject {
  std::uint8_t id = 0;
  std::string value;
};

struct DeviceIdResponse {
  DeviceIdReadCode read_code = DeviceIdReadCode::basic;
  std::uint8_t conformity_level = 0;
  bool more_follows = false;
  std::uint8_t next_object_id = 0;
  std::vector<DeviceIdObject> objects;
};

// Modbus Application Protocol v1.1b3, 6.21: a response carries objects while they fit one
// PDU; a single object's value must fit next to the header and its own id and length bytes.
inline constexpr std::size_t k_device_id_header_size = 7;  // 0x2B 0x0E code conformity more next count
inline constexpr std::size_t k_max_device_id_object_size = k_max_pdu_size - k_device_id_header_size - 2;

Result<std::size_t, CodecError> encode_device_id_response(const DeviceIdResponse& response, ByteBuffer out);

// Response decoders (client side). An exception response decodes to ExceptionCode.
struct ExceptionResponse {
  std::uint8_t function = 0;
  ExceptionCode code = ExceptionCode::illegal_function;
};

template <typename T>
using ResponseResult = Result<std::variant<T, ExceptionResponse>, CodecError>;

ResponseResult<std::vector<std::uint16_t>> decode_read_registers_response(ByteView pdu,
                                                                          const ReadRegistersRequest& request);
ResponseResult<std::uint16_t> decode_write_response(ByteView pdu, const Request& request);  // echoed value/quantity
ResponseResult<DeviceIdResponse> decode_device_id_response(ByteView pdu);

}  // namespace proto::codec::modbus
