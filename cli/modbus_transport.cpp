#include "cli/modbus_transport.hpp"


#include <cerrno>
#include <cstring>
#include <optional>

#include "libproto/codec/modbus_frame.hpp"
#include "libproto/transport/asio.hpp"
#include "libproto/transport/serial_port.hpp"

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

class RtuTransport final : public ModbusTransport {
 public:
  RtuTransport(std::unique_ptr<proto::transport::SerialPort> port, std::chrono::milliseconds timeout)
      : port_(std::move(port)), timeout_(timeout) {}

  proto::Result<std::vector<std::byte>, CommandError> exchange(std::uint8_t unit_id,
                                                               proto::codec::ByteView pdu) override {
    std::array<std::byte, modbus::k_max_rtu_adu_size> frame{};
    const auto size = modbus::encode_rtu_frame(unit_id, pdu, frame);
    if (!size) return proto::unexpected(CommandError{exit_software, "request does not fit a Modbus frame"});
    port_->discard_input();
    if (auto sent = port_->write_frame(std::span(frame.data(), *size)); !sent) {
      return proto::unexpected(CommandError{exit_io, sent.error().message});
    }
    auto answer = port_->read_frame(timeout_);
    if (!answer) {
      if (answer.error().kind == proto::transport::SerialError::timeout) {
        return proto::unexpected(CommandError{exit_timeout, "no answer from unit " + std::to_string(unit_id) + " on " +
                                                                describe() + " within " +
                                                                std::to_string(timeout_.count()) +
                                                                " ms (--timeout; check --unit-id, --baud, --parity)"});
      }
      return proto::unexpected(CommandError{exit_io, answer.error().message});
    }
    auto decoded = modbus::decode_rtu_frame(*answer);
    if (!decoded) {
      return proto::unexpected(CommandError{exit_protocol, "malformed RTU frame on " + describe() + ": " +
                                                               make_error_code(decoded.error()).message() +
                                                               " (check --baud and --parity)"});
    }
    if (decoded->unit_id != unit_id) {
      return proto::unexpected(CommandError{exit_protocol, "answer came from unit " + std::to_string(decoded->unit_id) +
                                                               ", not " + std::to_string(unit_id)});
    }
    return std::vector<std::byte>(decoded->pdu.begin(), decoded->pdu.end());
  }

  std::string describe() const override { return port_->settings().device; }

 private:
  std::unique_ptr<proto::transport::SerialPort> port_;
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
  auto port = proto::transport::SerialPort::open({line.device, line.baud, line.parity, line.stop_bits});
  if (!port) return proto::unexpected(CommandError{exit_io, port.error().message});
  return std::unique_ptr<ModbusTransport>(std::make_unique<RtuTransport>(std::move(*port), timeout));
}

}  // namespace cli
