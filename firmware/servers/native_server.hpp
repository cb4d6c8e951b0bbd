#pragma once
// The native management protocol over TCP, plain or inside TLS (the secure port). One
// connection object per client on the shared I/O thread; a deadline on the TLS handshake,
// on the hello and on every later read; bounded frames and output; caps on connections in
// all and per source address, where a new client may push out the oldest connection from
// its address that never completed its hello, so idle sockets cannot lock operators out.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>

#include "firmware/native_service.hpp"
#include "firmware/password_worker.hpp"
#include "libproto/transport/asio.hpp"

#include <boost/asio/ssl.hpp>

#include "libproto/transport/serial_port.hpp"

namespace meterd {

struct NativeServerLimits {
  // A client must finish the TLS handshake and its hello within this.
  std::chrono::seconds greeting_timeout{10};
  // A greeted connection that sends nothing for this long is closed; longer than the
  // default session idle timeout, so an idle session expires before its connection does.
  std::chrono::seconds idle_timeout{330};
  std::size_t max_connections = 4096;
  std::size_t max_connections_per_address = 256;
  std::size_t max_pending_output = 1024 * 1024;
};

class NativeServer {
 public:
  // `tls` null: the plain port.
  NativeServer(boost::asio::ip::tcp::acceptor acceptor, NativeService& service, PasswordWorker& worker,
               std::shared_ptr<boost::asio::ssl::context> tls, NativeServerLimits limits = {});
  ~NativeServer();

  std::uint16_t port() const { return port_; }
  bool secure() const { return tls_ != nullptr; }
  void start();
  void stop();  // closes the listener and every connection
  // Closes the listener only: connections it accepted go on until they end (or stop()).
  void stop_listening();

  struct Registry;

 private:
  void accept_next();

  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer retry_timer_;
  NativeService& service_;
  PasswordWorker& worker_;
  std::shared_ptr<boost::asio::ssl::context> tls_;
  NativeServerLimits limits_;
  std::uint16_t port_;
  std::shared_ptr<Registry> registry_;
};

// The native protocol over a serial line (the connection type "serial", locked out
// separately from Ethernet, seed 004). One peer at a time, no TLS (seed 000: Secure ION
// "does not apply to serial communications").
class NativeSerialServer {
 public:
  static proto::Result<std::unique_ptr<NativeSerialServer>, std::string> open(
      boost::asio::io_context& io, const proto::transport::SerialSettings& settings, NativeService& service,
      PasswordWorker& worker, NativeServerLimits limits = {});
  ~NativeSerialServer();
  void start();
  void stop();

 private:
  NativeSerialServer(boost::asio::io_context& io, std::unique_ptr<proto::transport::SerialPort> port,
                     NativeService& service, PasswordWorker& worker, NativeServerLimits limits);
  void open_line();

  boost::asio::io_context& io_;
  std::unique_ptr<proto::transport::SerialPort> port_;
  NativeService& service_;
  PasswordWorker& worker_;
  NativeServerLimits limits_;
  std::shared_ptr<bool> stopped_ = std::make_shared<bool>(false);
  std::function<void()> close_current_;
};

}  // namespace meterd
