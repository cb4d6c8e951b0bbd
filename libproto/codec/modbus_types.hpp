#pragma once
// Modbus constants and error types shared by the TCP, RTU and PDU codecs.
// Wire values are those of the Modbus Application Protocol Specification v1.1b3
// and the Modbus Messaging on TCP/IP Implementation Guide v1.0b.

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <system_error>

namespace proto::codec::modbus {

// Modbus Application Protocol v1.1b3, 4.1: the PDU is at most 253 bytes
// (256-byte RS485 ADU minus address and CRC).
inline constexpr std::size_t k_max_pdu_size = 253;
// Modbus Messaging on TCP/IP v1.0b, 3.1.3: MBAP header is 7 bytes.
inline constexpr std::size_t k_mbap_size = 7;
inline constexpr std::size_t k_max_tcp_adu_size = k_mbap_size + k_max_pdu_size;
// Modbus over Serial Line v1.02, 2.5.1.1: address (1) + PDU + CRC (2) = at most 256 bytes.
inline constexpr std::size_t k_max_rtu_adu_size = 1 + k_max_pdu_size + 2;
// Modbus Application Protocol v1.1b3, 6.3/6.4: 1..125 registers per read.
inline constexpr std::uint16_t k_max_read_registers = 125;
// Modbus Application Protocol v1.1b3, 6.12: 1..123 registers per write multiple.
inline constexpr std::uint16_t k_max_write_registers = 123;
// Modbus Messaging on TCP/IP v1.0b, 3.1.3: protocol identifier 0 = MODBUS.
inline constexpr std::uint16_t k_modbus_protocol_id = 0;
// Modbus Application Protocol v1.1b3, 6.21: MEI type 0x0E = Read Device Identification.
inline constexpr std::uint8_t k_mei_read_device_id = 0x0E;
// Modbus Application Protocol v1.1b3, 7: an exception response sets the high bit of the function.
inline constexpr std::uint8_t k_exception_bit = 0x80;

enum class FunctionCode : std::uint8_t {
  read_holding_registers = 0x03,
  read_input_registers = 0x04,
  write_single_register = 0x06,
  write_multiple_registers = 0x10,
  encapsulated_interface = 0x2B,  // MEI transport; 0x0E inside is device identification
};

// Modbus Application Protocol v1.1b3, 7: exception codes.
enum class ExceptionCode : std::uint8_t {
  illegal_function = 0x01,
  illegal_data_address = 0x02,
  illegal_data_value = 0x03,
  server_device_failure = 0x04,
  acknowledge = 0x05,
  server_device_busy = 0x06,
  memory_parity_error = 0x08,
  gateway_path_unavailable = 0x0A,
  gateway_target_failed_to_respond = 0x0B,
};

std::string_view to_string(ExceptionCode code);

// Why a frame or PDU could not be decoded.
enum class CodecError {
  need_more = 1,            // the input is a valid prefix; read more bytes
  bad_protocol_id,          // MBAP protocol identifier is not 0
  bad_length,               // MBAP length field below 2 or above the PDU limit
  empty_pdu,                // no function code
  pdu_too_long,             // more than k_max_pdu_size bytes
  bad_crc,                  // RTU frame check failed
  frame_too_short,          // RTU frame shorter than address + function + CRC
  malformed_response,       // a response whose fields contradict each other or the request
  unexpected_function,      // a response to another function than the one asked
  buffer_too_small,         // an encoder's output buffer cannot hold the frame
};

const std::error_category& codec_category();
std::error_code make_error_code(CodecError error);

}  // namespace proto::codec::modbus

template <>
struct std::is_error_code_enum<proto::codec::modbus::CodecError> : std::true_type {};
