#pragma once
// Modbus RTU on a serial device or a pty. A thread of its own waits for frames on the
// line (frames end at line silence); each request is answered on the I/O thread by the
// same ModbusService that serves TCP, so the meter is never shared across threads.
//
// libmodbus 3.1.6's RTU receive path does not know the length of function 43 frames and
// drops them as CRC errors, so framing is done here over the shared serial transport and
// the libproto codec, which also serves FC43.

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "firmware/modbus_service.hpp"
#include "libproto/transport/asio.hpp"
#include "libproto/transport/serial_port.hpp"

namespace meterd {

class ModbusRtuServer {
 public:
  // Opens the device; errors name it and the reason.
  static proto::Result<std::unique_ptr<ModbusRtuServer>, std::string> open(
      boost::asio::io_context& io, const proto::transport::SerialSettings& settings, ModbusService& service,
      std::uint8_t unit_id);
  ~ModbusRtuServer();

  void start();
  void stop();

 private:
  ModbusRtuServer(boost::asio::io_context& io, std::unique_ptr<proto::transport::SerialPort> port,
                  ModbusService& service, std::uint8_t unit_id);
  void run();
  std::optional<std::vector<std::byte>> answer(std::vector<std::byte> pdu);

  boost::asio::io_context& io_;
  std::unique_ptr<proto::transport::SerialPort> port_;
  ModbusService& service_;
  std::uint8_t unit_id_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace meterd
