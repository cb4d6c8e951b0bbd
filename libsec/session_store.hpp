#pragma once
// Login sessions of the native protocol, the role the vendor's "ION sessions" play
// (seed 000, firmware 4.0.0: "An ION session uses a session token ID to authenticate ION
// requests to a device"). A login opens a session and hands the client a random token;
// later requests on the same connection present the token instead of a password. A
// session ends at logout, when its connection closes, or after an idle timeout (seed 004,
// "Managing user account lockouts and timeouts": "Session timeout for ION protocol only.
// This is configurable because there is no login and logout action for ION protocol
// sessions").
//
// The store keeps no token: it indexes each session by the SHA-256 of its token, so a
// memory dump of the store yields no usable token, and the lookup's timing depends on
// digests of the presented token, not on how many characters of a real token it shares.
// The final match is CRYPTO_memcmp over the whole digest.
//
// The store does no I/O and reads time only from the Clock it is handed. It is not
// synchronized: one store per meter, used by one thread at a time (meterd's I/O thread).

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>

#include "libproto/result.hpp"
#include "libsec/clock.hpp"

namespace sec {

// OWASP ASVS 4.0.3, V3.2.2, asks for session tokens with at least 64 bits of entropy
// (128 is the common floor); we take 256 bits from RAND_bytes, which leaves a guess
// hopeless at any request rate and costs a client nothing.
inline constexpr std::size_t k_session_token_bytes = 32;
// Tokens travel as lowercase hex: 64 characters, well inside the native protocol's token
// field (libproto/codec/native_messages.hpp, k_max_token_length = 128), with no case or
// padding questions for clients.
inline constexpr std::size_t k_session_token_length = 2 * k_session_token_bytes;
// The seeds call the ION session timeout configurable but give no default; 5 minutes
// is ours (a forgotten console logs itself out before lunch, a scripted run does not).
inline constexpr std::chrono::seconds k_default_idle_timeout = std::chrono::minutes(5);
// No vendor figure for sessions. Above the 50-user maximum (seed 004, "Managing user
// accounts": "The maximum number of users is 50") so each user can hold a session,
// small enough that a full store costs a few kilobytes.
inline constexpr std::size_t k_default_max_sessions = 64;

// Identifies one client connection (TCP connection, serial line) for the lifetime of the
// connection. Assigned by the server; libsec only compares them.
struct ConnectionId {
  std::uint64_t value = 0;
  friend bool operator==(const ConnectionId&, const ConnectionId&) = default;
};

// Why a session operation was refused. Values start at 1 so that 0 stays "no error" in
// std::error_code.
enum class SessionError {
  // The text presented is not a token at all: not k_session_token_length lowercase hex
  // characters. Nothing was looked up.
  malformed_token = 1,
  // No session has this token: it was never issued, was closed by logout or with its
  // connection, or expired and was already removed. Deliberately one answer for all of
  // these, so a caller cannot tell a guessed token from a revoked one.
  unknown_token,
  // The session existed but had been idle for the idle timeout or longer. It is removed
  // now; presenting the token again gives unknown_token. The client logs in again.
  expired,
  // The token belongs to a session opened on another connection. Sessions are bound to
  // the connection that logged in, so a token seen on the wire or in a log cannot be
  // replayed from elsewhere. The session itself is left intact and is not refreshed:
  // whoever presented the token elsewhere must not be able to end or extend it.
  wrong_connection,
  // The store already holds max_sessions live sessions (after removing expired ones).
  // open() refuses rather than evicting: see SessionStore.
  too_many_sessions,
  // OpenSSL's random generator or SHA-256 failed (RAND_bytes or EVP_Digest returned an
  // error), or the generator produced a token already in use, which only a broken
  // generator does. No session was opened or used.
  crypto_failure,
};

std::string_view to_string(SessionError error);
const std::error_category& session_category();
std::error_code make_error_code(SessionError error);

// A session token as handed to the client. Holds the only copy of the secret the store
// ever sees, and wipes it (OPENSSL_cleanse) when destroyed or overwritten.
class SessionToken {
 public:
  explicit SessionToken(std::string text) : text_(std::move(text)) {}
  SessionToken(const SessionToken&) = default;
  SessionToken(SessionToken&&) noexcept = default;
  // One assignment for copy and move: the old text ends in `other` and is wiped there.
  SessionToken& operator=(SessionToken other) noexcept {
    text_.swap(other.text_);
    return *this;
  }
  ~SessionToken();

  std::string_view text() const { return text_; }

 private:
  std::string text_;
};

// What a caller may know about a live session. Returned by authenticate() after the
// use has been recorded, so last_used is the time of this request.
struct SessionInfo {
  std::string user;
  ConnectionId connection;
  Clock::time_point opened_at;
  Clock::time_point last_used;
};

// The live sessions of one meter.
//
// Idle timeout: a session expires when idle_timeout or more has passed since it was
// opened or last successfully authenticated; every successful authenticate() refreshes
// it. A refused attempt (wrong connection) does not. An idle_timeout of zero or less
// expires every session at once, so a misconfiguration fails closed.
//
// Cap: at most max_sessions live sessions. When full, open() first drops expired
// sessions, then refuses with too_many_sessions. It does not evict the oldest idle
// session: eviction would let anyone able to log in (or a script stuck in a login loop)
// silently log out an operator in the middle of a configuration change, while refusal
// only delays new logins until an idle timeout passes or a connection closes (sessions
// die with their connection). max_sessions of zero refuses every login.
class SessionStore {
 public:
  explicit SessionStore(const Clock& clock, std::chrono::seconds idle_timeout = k_default_idle_timeout,
                        std::size_t max_sessions = k_default_max_sessions);
  // Copying would duplicate live sessions; a store belongs to one meter.
  SessionStore(const SessionStore&) = delete;
  SessionStore& operator=(const SessionStore&) = delete;

  // Opens a session for `user`, whose credentials the caller has already verified, bound
  // to `connection`. Returns the new token (k_session_token_length lowercase hex).
  proto::Result<SessionToken, SessionError> open(std::string user, ConnectionId connection);

  // Checks a token presented on `connection` and records the use. Errors:
  // malformed_token, unknown_token, expired, wrong_connection, crypto_failure.
  proto::Result<SessionInfo, SessionError> authenticate(std::string_view token, ConnectionId connection);

  // Logout. Takes the connection too: a token that authenticate() would refuse on this
  // connection must not be able to end the session either. Same errors as authenticate();
  // an expired session is removed and reported as expired.
  proto::Result<proto::Ok, SessionError> close(std::string_view token, ConnectionId connection);

  // Drops every session opened on `connection`, which has closed. Returns how many.
  std::size_t close_connection(ConnectionId connection);

  // Housekeeping: removes every expired session. Returns how many. Not needed for
  // correctness (authenticate() checks expiry itself); it frees memory and slots.
  std::size_t expire();

  std::size_t size() const { return sessions_.size(); }
  std::chrono::seconds idle_timeout() const { return idle_timeout_; }
  // A changed security configuration applies to open sessions from their next request.
  void set_idle_timeout(std::chrono::seconds idle_timeout) { idle_timeout_ = idle_timeout; }
  std::size_t max_sessions() const { return max_sessions_; }

 private:
  using TokenDigest = std::array<unsigned char, 32>;  // SHA-256
  struct Session {
    TokenDigest digest;
    SessionInfo info;
  };
  // Keyed by the first 8 bytes of the token's digest: the map's own comparisons then see
  // only hash bits, and the whole digest is compared in constant time after the lookup.
  using Sessions = std::unordered_map<std::uint64_t, Session>;

  proto::Result<Sessions::iterator, SessionError> find_live(std::string_view token, ConnectionId connection);
  bool expired(const SessionInfo& info, Clock::time_point now) const;

  const Clock& clock_;
  std::chrono::seconds idle_timeout_;
  std::size_t max_sessions_;
  Sessions sessions_;
};

}  // namespace sec

template <>
struct std::is_error_code_enum<sec::SessionError> : std::true_type {};
