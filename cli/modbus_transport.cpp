#include "cli/modbus_transport.hpp"

#include <fcntl.h>
#include <poll.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>

#include "libproto/codec/modbus_frame.hpp"
#include "libproto/transport/asio.hpp"

namespace cli {

namespace asio = boost::asio;
using asio::ip::tcp;
namespace modbus = proto::codec::modbus;

namespace {

// Runs the io_context until `done` or the deadline; on timeout cancels what is pending.
bool run_until_done(asio::io_context& io, tcp::socket& socket, const bool& done, std::chrono::milliseconds timeout) {
  io.restart();
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done && std::chrono::steady_clock::now() < deadline) {
    io.run_one_until(deadline);
  }
  if (done) return true;
  boost::system::error_code ignored;
  socket.cancel(ignored);
  io.restart();
  io.run();  // let the cancelled handlers finish
  return false;
}

class TcpTransport final : public ModbusTransport {
 public:
  TcpTransport(std::string name, std::chrono::milliseconds timeout)
      : socket_(io_), name_(std::move(name)), timeout_(timeout) {}

  proto::Result<proto::Ok, CommandError> connect(const std::string& host, std::uint16_t port) {
    boost::system::error_code error;
    tcp::resolver resolver(io_);
    const auto endpoints = resolver.resolve(host, std::to_string(port), error);
    if (error) return proto::unexpected(CommandError{exit_unavailable, "cannot resolve " + host + ": " + error.message()});
    bool done = false;
    asio::async_connect(socket_, endpoints, [&](const boost::system::error_code& result, const tcp::endpoint&) {
      error = result;
      done = true;
    });
    if (!run_until_done(io_, socket_, done, timeout_)) {
      return proto::unexpected(CommandError{exit_timeout, "no answer from " + name_ + " within " +
                                                              std::to_string(timeout_.count()) + " ms (--timeout)"});
    }
    if (error) {
      return proto::unexpected(CommandError{exit_unavailable, "cannot connect to " + name_ + ": " + error.message()});
    }
    socket_.set_option(tcp::no_delay(true), error);
    return proto::Ok{};
  }

  proto::Result<std::vector<std::byte>, CommandError> exchange(std::uint8_t unit_id,
                                                               proto::codec::ByteView pdu) override {
    const auto transaction = next_transaction_++;
    std::array<std::byte, modbus::k_max_tcp_adu_size> request{};
    const auto size = modbus::encode_tcp_frame(transaction, unit_id, pdu, request);
    if (!size) return proto::unexpected(CommandError{exit_software, "request does not fit a Modbus frame"});

    std::optional<std::vector<std::byte>> response;
    std::optional<CommandError> failure;
    bool done = false;
    asio::async_write(socket_, asio::buffer(request.data(), *size), [&](const boost::system::error_code& result, std::size_t) {
      if (result) {
        failure = CommandError{exit_unavailable, "sending to " + name_ + " failed: " + result.message()};
        done = true;
        return;
      }
      read_response(transaction, response, failure, done);
    });
    if (!run_until_done(io_, socket_, done, timeout_)) {
      return proto::unexpected(CommandError{exit_timeout, "no answer from " + name_ + " within " +
                                                              std::to_string(timeout_.count()) + " ms (--timeout)"});
    }
    if (failure) return proto::unexpected(*failure);
    return std::move(*response);
  }

  std::string describe() const override { return name_; }

 private:
  void read_response(std::uint16_t transaction, std::optional<std::vector<std::byte>>& response,
                     std::optional<CommandError>& failure, bool& done) {
    socket_.async_read_some(
        asio::buffer(input_.data() + filled_, input_.size() - filled_),
        [&, transaction](const boost::system::error_code& error, std::size_t bytes) {
          if (error) {
            failure = CommandError{exit_unavailable, name_ + " closed the connection: " + error.message()};
            done = true;
            return;
          }
          filled_ += bytes;
          while (true) {
            auto frame = modbus::decode_tcp_frame(proto::codec::ByteView(input_.data(), filled_));
            if (!frame) {
              if (frame.error() == modbus::CodecError::need_more) break;
              failure = CommandError{exit_protocol, name_ + " sent a malformed frame: " +
                                                        make_error_code(frame.error()).message()};
              done = true;
              return;
            }
            const bool ours = frame->header.transaction_id == transaction;
            if (ours) response.emplace(frame->pdu.begin(), frame->pdu.end());
            const auto consumed = frame->consumed;
            std::memmove(input_.data(), input_.data() + consumed, filled_ - consumed);
            filled_ -= consumed;
            if (ours) {
              done = true;
              return;
            }
            // A late answer to an earlier request that timed out: skip it.
          }
          read_response(transaction, response, failure, done);
        });
  }

  asio::io_context io_;
  tcp::socket socket_;
  std::string name_;
  std::chrono::milliseconds timeout_;
  std::uint16_t next_transaction_ = 1;
  std::array<std::byte, 2 * modbus::k_max_tcp_adu_size> input_{};
  std::size_t filled_ = 0;
};

speed_t baud_constant(int baud) {
  switch (baud) {
    case 1200: return B1200;
    case 2400: return B2400;
    case 4800: return B4800;
    case 9600: return B9600;
    case 19200: return B19200;
    case 38400: return B38400;
    case 57600: return B57600;
    case 115200: return B115200;
    case 230400: return B230400;
    default: return B0;
  }
}

class RtuTransport final : public ModbusTransport {
 public:
  RtuTransport(int fd, SerialLine line, std::chrono::milliseconds timeout)
      : fd_(fd), line_(std::move(line)), timeout_(timeout) {}
  ~RtuTransport() override { ::close(fd_); }

  proto::Result<std::vector<std::byte>, CommandError> exchange(std::uint8_t unit_id,
                                                               proto::codec::ByteView pdu) override {
    std::array<std::byte, modbus::k_max_rtu_adu_size> frame{};
    const auto size = modbus::encode_rtu_frame(unit_id, pdu, frame);
    if (!size) return proto::unexpected(CommandError{exit_software, "request does not fit a Modbus frame"});
    ::tcflush(fd_, TCIOFLUSH);
    std::size_t sent = 0;
    while (sent < *size) {
      const auto written = ::write(fd_, frame.data() + sent, *size - sent);
      if (written < 0) {
        if (errno == EINTR) continue;
        return proto::unexpected(CommandError{exit_io, "writing to " + line_.device + " failed: " + std::strerror(errno)});
      }
      sent += static_cast<std::size_t>(written);
    }
    // Modbus over Serial Line v1.02, 2.5.1.1: a frame ends after 3.5 character times of
    // silence (1.75 ms above 19200 baud). Ptys and USB adapters deliver in bursts, so wait longer.
    const double character_ms = 11.0 * 1000.0 / line_.baud;
    const int gap_ms = std::max(20, static_cast<int>(line_.baud > 19200 ? 2 : 3.5 * character_ms + 1));
    std::array<std::byte, modbus::k_max_rtu_adu_size> input{};
    std::size_t filled = 0;
    const auto deadline = std::chrono::steady_clock::now() + timeout_;
    while (filled < input.size()) {
      const auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      const int wait_ms = filled == 0 ? static_cast<int>(std::max<std::int64_t>(remaining.count(), 0)) : gap_ms;
      pollfd descriptor{fd_, POLLIN, 0};
      const int ready = ::poll(&descriptor, 1, wait_ms);
      if (ready < 0 && errno == EINTR) continue;
      if (ready <= 0) break;
      const auto got = ::read(fd_, input.data() + filled, input.size() - filled);
      if (got <= 0) break;
      filled += static_cast<std::size_t>(got);
    }
    if (filled == 0) {
      return proto::unexpected(CommandError{exit_timeout, "no answer on " + line_.device + " within " +
                                                              std::to_string(timeout_.count()) + " ms (--timeout)"});
    }
    auto decoded = modbus::decode_rtu_frame(proto::codec::ByteView(input.data(), filled));
    if (!decoded) {
      return proto::unexpected(CommandError{exit_protocol, "malformed RTU frame on " + line_.device + ": " +
                                                               make_error_code(decoded.error()).message() +
                                                               " (check --baud and --parity)"});
    }
    if (decoded->unit_id != unit_id) {
      return proto::unexpected(CommandError{exit_protocol, "answer came from unit " + std::to_string(decoded->unit_id) +
                                                               ", not " + std::to_string(unit_id)});
    }
    return std::vector<std::byte>(decoded->pdu.begin(), decoded->pdu.end());
  }

  std::string describe() const override { return line_.device; }

 private:
  int fd_;
  SerialLine line_;
  std::chrono::milliseconds timeout_;
};

}  // namespace

proto::Result<std::unique_ptr<ModbusTransport>, CommandError> connect_tcp(const std::string& host, std::uint16_t port,
                                                                          std::chrono::milliseconds timeout) {
  const auto name = (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(port);
  auto transport = std::make_unique<TcpTransport>(name, timeout);
  if (auto connected = transport->connect(host, port); !connected) return proto::unexpected(connected.error());
  return std::unique_ptr<ModbusTransport>(std::move(transport));
}

proto::Result<std::unique_ptr<ModbusTransport>, CommandError> open_rtu(const SerialLine& line,
                                                                       std::chrono::milliseconds timeout) {
  const auto speed = baud_constant(line.baud);
  if (speed == B0) {
    return proto::unexpected(CommandError{exit_usage, "unsupported --baud " + std::to_string(line.baud) +
                                                          "; use 1200..230400 in the standard steps"});
  }
  const int fd = ::open(line.device.c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) {
    return proto::unexpected(CommandError{exit_io, "cannot open " + line.device + ": " + std::strerror(errno)});
  }
  termios settings{};
  if (::tcgetattr(fd, &settings) != 0) {
    const std::string reason = std::strerror(errno);
    ::close(fd);
    return proto::unexpected(CommandError{exit_io, line.device + " is not a serial line: " + reason});
  }
  ::cfmakeraw(&settings);
  ::cfsetispeed(&settings, speed);
  ::cfsetospeed(&settings, speed);
  settings.c_cflag |= CLOCAL | CREAD;
  settings.c_cflag &= ~(PARENB | PARODD | CSTOPB);
  if (line.parity == 'E') settings.c_cflag |= PARENB;
  if (line.parity == 'O') settings.c_cflag |= PARENB | PARODD;
  if (line.stop_bits == 2) settings.c_cflag |= CSTOPB;
  if (::tcsetattr(fd, TCSANOW, &settings) != 0) {
    const std::string reason = std::strerror(errno);
    ::close(fd);
    return proto::unexpected(CommandError{exit_io, "cannot configure " + line.device + ": " + reason});
  }
  return std::unique_ptr<ModbusTransport>(std::make_unique<RtuTransport>(fd, line, timeout));
}

}  // namespace cli
