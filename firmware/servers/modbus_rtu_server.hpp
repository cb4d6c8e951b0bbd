#pragma once
// Modbus RTU on a serial device or a pty, through libmodbus's serial transport. libmodbus
// reads and checks frames on a thread of its own; each request is answered on the I/O
// thread by the same ModbusService that serves TCP, so the meter is never shared
// across threads.

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "libproto/transport/asio.hpp"

#include "firmware/modbus_service.hpp"

namespace meterd {

struct SerialSettings {
  std::string device;
  int baud = 19200;
  char parity = 'E';  // Modbus over Serial Line v1.02, 2.5.1: even parity is the default
  int data_bits = 8;
  int stop_bits = 1;
};

class ModbusRtuServer {
 public:
  // Opens the device; errors name it and the reason.
  static proto::Result<std::unique_ptr<ModbusRtuServer>, std::string> open(boost::asio::io_context& io,
                                                                          const SerialSettings& settings,
                                                                          ModbusService& service,
                                                                          std::uint8_t unit_id);
  ~ModbusRtuServer();

  void start();
  void stop();

 private:
  ModbusRtuServer(boost::asio::io_context& io, void* context, ModbusService& service, std::uint8_t unit_id,
                  std::string device);
  void run();

  boost::asio::io_context& io_;
  void* context_;  // modbus_t*, kept opaque so this header does not pull in libmodbus
  ModbusService& service_;
  std::uint8_t unit_id_;
  std::string device_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace meterd
