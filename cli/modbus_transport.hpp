#pragma once
// Request/response exchange with a Modbus server over TCP or an RTU serial line. Framing
// and decoding use libproto's codecs; this layer only moves bytes, with a deadline on
// every operation.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cli/exit_codes.hpp"
#include "libproto/codec/bytes.hpp"
#include "libproto/result.hpp"

namespace cli {

class ModbusTransport {
 public:
  virtual ~ModbusTransport() = default;
  // Sends one request PDU to `unit_id` and returns the response PDU.
  virtual proto::Result<std::vector<std::byte>, CommandError> exchange(std::uint8_t unit_id,
                                                                       proto::codec::ByteView pdu) = 0;
  virtual std::string describe() const = 0;  // "127.0.0.1:502" or "/dev/ttyUSB0"
};

proto::Result<std::unique_ptr<ModbusTransport>, CommandError> connect_tcp(const std::string& host, std::uint16_t port,
                                                                          std::chrono::milliseconds timeout);

struct SerialLine {
  std::string device;
  int baud = 19200;
  char parity = 'E';
  int stop_bits = 1;
};

proto::Result<std::unique_ptr<ModbusTransport>, CommandError> open_rtu(const SerialLine& line,
                                                                       std::chrono::milliseconds timeout);

}  // namespace cli
