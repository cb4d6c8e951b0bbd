#pragma once
// Modbus TCP server on Asio: one session object per connection, all on one I/O thread,
// so a slow or silent client never holds up another. Every read has a deadline, frames
// and output queues are bounded, and the number of connections is capped.

#include <chrono>
#include <cstdint>
#include <memory>

#include "libproto/transport/asio.hpp"

#include "firmware/modbus_service.hpp"

namespace meterd {

struct ModbusTcpLimits {
  // A connection that sends nothing for this long is closed (a SCADA poller sends every few seconds).
  std::chrono::seconds idle_timeout{120};
  std::size_t max_connections = 900;
  // Responses waiting for a client that does not read; past this the server stops reading its requests.
  std::size_t max_pending_output = 64 * 1024;
};

class ModbusTcpServer {
 public:
  // The unit id answered to is the meter's at each request.
  ModbusTcpServer(boost::asio::ip::tcp::acceptor acceptor, ModbusService& service, ModbusTcpLimits limits = {});
  ~ModbusTcpServer();

  std::uint16_t port() const { return port_; }
  void start();
  void stop();  // closes the listener and every session
  // Closes the listener only: sessions it accepted go on until they end (or stop()).
  void stop_listening();

  class Session;

 private:
  void accept_next();

  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer retry_timer_;
  bool accept_failing_ = false;
  ModbusService& service_;
  ModbusTcpLimits limits_;
  std::uint16_t port_;
  std::shared_ptr<struct SessionRegistry> sessions_;
};

// Binds a listening TCP socket; port 0 picks a free one. Errors say which address failed.
proto::Result<boost::asio::ip::tcp::acceptor, std::string> listen_tcp(boost::asio::io_context& io,
                                                                      const std::string& address,
                                                                      std::uint16_t port);

}  // namespace meterd
