#include "cli/native_client.hpp"

#include <cstdlib>
#include <cstring>
#include <iostream>
#include <mutex>

#include "cli/meter_config.hpp"
#include "cli/password_source.hpp"
#include "libproto/codec/native_frame.hpp"
#include "libproto/transport/asio.hpp"
#include "libsec/fingerprint.hpp"
#include "libsec/known_meters.hpp"
#include "libsec/meter_address.hpp"
#include "libsec/tls_policy.hpp"

#include <boost/asio/ssl.hpp>

namespace cli {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
namespace native = proto::codec::native;
using asio::ip::tcp;

std::filesystem::path known_meters_file() { return config_file_path().parent_path() / "known_meters"; }

struct NativeClient::Transport {
  asio::io_context io;
  std::shared_ptr<ssl::context> context;
  std::unique_ptr<ssl::stream<tcp::socket>> stream;
  bool secure = false;
  std::string name;
  std::chrono::milliseconds timeout{3000};
  std::vector<std::byte> input = std::vector<std::byte>(native::k_max_frame_size);
  std::size_t filled = 0;

  tcp::socket& socket() { return stream->next_layer(); }

  // Runs the io_context until `done` or the deadline; a timeout cancels what is pending.
  bool run_until(const bool& done) {
    io.restart();
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done && std::chrono::steady_clock::now() < deadline) io.run_one_until(deadline);
    if (done) return true;
    boost::system::error_code ignored;
    socket().cancel(ignored);
    io.restart();
    io.run();
    return false;
  }

  CommandError timed_out() const {
    return {exit_timeout, "no answer from " + name + " within " + std::to_string(timeout.count()) + " ms (--timeout)"};
  }

  proto::Result<proto::Ok, CommandError> write(const std::vector<std::byte>& frame) {
    boost::system::error_code error;
    bool done = false;
    auto handler = [&](const boost::system::error_code& result, std::size_t) {
      error = result;
      done = true;
    };
    if (secure) asio::async_write(*stream, asio::buffer(frame), handler);
    else asio::async_write(socket(), asio::buffer(frame), handler);
    if (!run_until(done)) return proto::unexpected(timed_out());
    if (error) return proto::unexpected(CommandError{exit_unavailable, "sending to " + name + " failed: " + error.message()});
    return proto::Ok{};
  }

  proto::Result<native::Frame, CommandError> read_frame() {
    while (true) {
      auto frame = native::decode_frame(proto::codec::ByteView(input.data(), filled));
      if (frame) return *frame;
      if (frame.error() != native::FrameError::need_more) {
        return proto::unexpected(CommandError{exit_protocol, name + " sent a malformed frame: " +
                                                                 make_error_code(frame.error()).message()});
      }
      boost::system::error_code error;
      std::size_t got = 0;
      bool done = false;
      auto handler = [&](const boost::system::error_code& result, std::size_t bytes) {
        error = result;
        got = bytes;
        done = true;
      };
      auto buffer = asio::buffer(input.data() + filled, input.size() - filled);
      if (secure) stream->async_read_some(buffer, handler);
      else socket().async_read_some(buffer, handler);
      if (!run_until(done)) return proto::unexpected(timed_out());
      if (error) {
        return proto::unexpected(CommandError{exit_unavailable, name + " closed the connection: " + error.message()});
      }
      filled += got;
    }
  }

  void consume(std::size_t bytes) {
    std::memmove(input.data(), input.data() + bytes, filled - bytes);
    filled -= bytes;
  }
};

namespace {

CommandError error_from_meter(const native::ErrorMessage& error, const std::string& name) {
  using native::ErrorCode;
  ExitCode code = exit_refused;
  switch (error.code) {
    case ErrorCode::authentication_required:
    case ErrorCode::authentication_failed:
    case ErrorCode::permission_denied:
    case ErrorCode::session_expired:
    case ErrorCode::session_wrong_connection:
    case ErrorCode::password_needs_session:
    case ErrorCode::locked_out: code = exit_denied; break;
    case ErrorCode::busy: code = exit_timeout; break;
    case ErrorCode::unsupported_version:
    case ErrorCode::malformed_frame:
    case ErrorCode::malformed_body:
    case ErrorCode::unknown_message_type:
    case ErrorCode::unexpected_message: code = exit_protocol; break;
    case ErrorCode::invalid_argument: code = exit_usage; break;
    default: break;
  }
  return {code, name + ": " + error.message + " (" + std::string(native::to_string(error.code)) + ")"};
}

// After a TLS handshake in pinning mode: the meter's key must be the one pinned for it, or
// new and accepted by the operator.
proto::Result<proto::Ok, CommandError> check_pin(SSL* connection, const NativeEndpoint& endpoint) {
  auto presented = sec::peer_public_key_fingerprint(connection);
  if (!presented) return proto::unexpected(CommandError{exit_denied, presented.error()});
  // Pinning reads, changes and replaces one file; the fleet runner connects from many
  // threads at once, and two unserialised pins would lose one of them.
  static std::mutex pin_mutex;
  const std::lock_guard lock(pin_mutex);
  const auto file = known_meters_file();
  auto known = sec::load_known_meters(file);
  if (!known) return proto::unexpected(CommandError{exit_config, known.error()});
  auto canonical = sec::canonical_meter_address(endpoint.host, endpoint.port);
  if (!canonical) return proto::unexpected(CommandError{exit_usage, canonical.error()});
  const auto& address = *canonical;
  auto check = sec::verify_pin(*known, address, *presented);
  if (!check) return proto::unexpected(CommandError{exit_usage, check.error()});
  switch (check->status) {
    case sec::PinStatus::known_match: return proto::Ok{};
    case sec::PinStatus::mismatch: return proto::unexpected(CommandError{exit_denied, sec::describe_pin_check(*check)});
    case sec::PinStatus::unknown: break;
  }
  if (!endpoint.accept_new) {
    std::optional<bool> accepted;
    if (endpoint.ask_to_pin) {
      accepted = ask_on_terminal("The meter at " + address + " is not known.\nIts public key fingerprint is " +
                                 *presented + " (meterd logs it at start).\nTrust it and pin it in " + file.string() +
                                 "?");
    }
    if (!accepted) {
      return proto::unexpected(CommandError{
          exit_denied, "the meter at " + address + " (fingerprint " + *presented + ") is not in " + file.string() +
                           "; check the fingerprint and rerun with --accept-new, or give --ca-file"});
    }
    if (!*accepted) return proto::unexpected(CommandError{exit_denied, "not trusted: " + address});
  }
  if (auto added = sec::add_pin(file, address, *presented); !added) {
    return proto::unexpected(CommandError{exit_io, added.error()});
  }
  std::cerr << "meterctl: pinned " << address << " as " << *presented << " in " << file.string() << '\n';
  return proto::Ok{};
}

}  // namespace

NativeClient::NativeClient(std::unique_ptr<Transport> transport) : transport_(std::move(transport)) {}

NativeClient::~NativeClient() {
  boost::system::error_code ignored;
  transport_->socket().close(ignored);
}

std::string NativeClient::describe() const { return transport_->name; }

proto::Result<std::unique_ptr<NativeClient>, CommandError> NativeClient::connect(const NativeEndpoint& endpoint,
                                                                                 std::chrono::milliseconds timeout) {
  auto transport = std::make_unique<Transport>();
  transport->timeout = timeout;
  transport->secure = endpoint.secure;
  transport->name = (endpoint.host.find(':') != std::string::npos ? "[" + endpoint.host + "]" : endpoint.host) + ":" +
                    std::to_string(endpoint.port);
  auto context = sec::make_client_tls_context(endpoint.ca_file);
  if (!context) return proto::unexpected(CommandError{exit_config, context.error()});
  transport->context = *context;
  transport->stream = std::make_unique<ssl::stream<tcp::socket>>(transport->io, *transport->context);

  boost::system::error_code error;
  tcp::resolver resolver(transport->io);
  const auto endpoints = resolver.resolve(endpoint.host, std::to_string(endpoint.port), error);
  if (error) return proto::unexpected(CommandError{exit_unavailable, "cannot resolve " + endpoint.host + ": " + error.message()});
  bool done = false;
  asio::async_connect(transport->socket(), endpoints, [&](const boost::system::error_code& result, const tcp::endpoint&) {
    error = result;
    done = true;
  });
  if (!transport->run_until(done)) return proto::unexpected(transport->timed_out());
  if (error) {
    return proto::unexpected(CommandError{exit_unavailable, "cannot connect to " + transport->name + ": " + error.message() +
                                                                (endpoint.secure ? " (TLS port; --plain for the plain one)" : "")});
  }
  transport->socket().set_option(tcp::no_delay(true), error);

  if (endpoint.secure) {
    if (auto named = sec::set_expected_peer_name(transport->stream->native_handle(), endpoint.host); !named) {
      return proto::unexpected(CommandError{exit_usage, named.error()});
    }
    done = false;
    transport->stream->async_handshake(ssl::stream_base::client, [&](const boost::system::error_code& result) {
      error = result;
      done = true;
    });
    if (!transport->run_until(done)) return proto::unexpected(transport->timed_out());
    if (error) {
      return proto::unexpected(CommandError{exit_denied, "TLS handshake with " + transport->name +
                                                             " failed: " + error.message()});
    }
    if (sec::requires_pin_check(transport->stream->native_handle())) {
      if (auto pinned = check_pin(transport->stream->native_handle(), endpoint); !pinned) {
        return proto::unexpected(pinned.error());
      }
    }
  }

  auto client = std::unique_ptr<NativeClient>(new NativeClient(std::move(transport)));
  auto hello = client->exchange(native::Hello{std::string("meterctl ") + METERCTL_VERSION, {native::k_protocol_version}});
  if (!hello) return proto::unexpected(hello.error());
  const auto* ok = std::get_if<native::HelloOk>(&*hello);
  if (!ok) return proto::unexpected(CommandError{exit_protocol, client->describe() + " did not answer hello"});
  client->serial_number_ = ok->serial_number;
  return client;
}

proto::Result<native::Decoded, CommandError> NativeClient::exchange(const native::Decoded& message) {
  const auto request_id = next_request_id_++;
  const auto body = native::encode_body(native::to_body(message));
  std::vector<std::byte> frame(native::k_header_size + body.size());
  const auto written = native::encode_frame(native::message_type(message), request_id,
                                            proto::codec::ByteView(reinterpret_cast<const std::byte*>(body.data()), body.size()),
                                            frame);
  if (!written) return proto::unexpected(CommandError{exit_software, "request too large for one frame"});
  if (auto sent = transport_->write(frame); !sent) return proto::unexpected(sent.error());
  while (true) {
    auto answer = transport_->read_frame();
    if (!answer) return proto::unexpected(answer.error());
    const auto header = answer->header;
    auto decoded_body = native::decode_body(answer->body);
    transport_->consume(answer->consumed);
    if (!decoded_body) {
      return proto::unexpected(CommandError{exit_protocol, describe() + " sent a malformed body: " +
                                                               decoded_body.error().describe()});
    }
    auto decoded = native::decode_message(header.type, *decoded_body);
    if (!decoded) {
      return proto::unexpected(CommandError{exit_protocol, describe() + " sent a malformed " +
                                                               std::string(native::to_string(header.type)) + ": " +
                                                               decoded.error().describe()});
    }
    if (const auto* error = std::get_if<native::ErrorMessage>(&*decoded)) {
      if (header.request_id == request_id || header.request_id == 0) {
        return proto::unexpected(error_from_meter(*error, describe()));
      }
    }
    if (header.request_id == request_id) return std::move(*decoded);
    // An answer to an earlier request that timed out: skip it.
  }
}

proto::Result<native::LoginOk, CommandError> NativeClient::login(const std::string& user, const std::string& password) {
  auto answer = exchange(native::Login{user, password});
  if (!answer) return proto::unexpected(answer.error());
  const auto* ok = std::get_if<native::LoginOk>(&*answer);
  if (!ok) return proto::unexpected(CommandError{exit_protocol, describe() + " did not answer the login"});
  token_ = ok->token;
  return *ok;
}

proto::Result<nlohmann::json, CommandError> NativeClient::request(const std::string& operation,
                                                                  const nlohmann::json& arguments) {
  native::OperationRequest message{operation, std::monostate{}, arguments};
  if (!token_.empty()) message.auth = native::SessionAuth{token_};
  auto answer = exchange(message);
  if (!answer) return proto::unexpected(answer.error());
  const auto* response = std::get_if<native::OperationResponse>(&*answer);
  if (!response) return proto::unexpected(CommandError{exit_protocol, describe() + " did not answer " + operation});
  return response->result;
}

void NativeClient::set_timeout(std::chrono::milliseconds timeout) { transport_->timeout = timeout; }

std::chrono::milliseconds NativeClient::timeout() const { return transport_->timeout; }

void NativeClient::logout() {
  if (token_.empty()) return;
  [[maybe_unused]] auto ignored = exchange(native::Logout{token_});
  token_.clear();
}

}  // namespace cli
