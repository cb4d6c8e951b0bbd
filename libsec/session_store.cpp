#include "libsec/session_store.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cstring>
#include <utility>

namespace sec {

using proto::Ok;
using proto::Result;
using proto::unexpected;

std::string_view to_string(SessionError error) {
  switch (error) {
    case SessionError::malformed_token: return "malformed session token";
    case SessionError::unknown_token: return "unknown session token";
    case SessionError::expired: return "session expired (log in again)";
    case SessionError::wrong_connection: return "session token belongs to another connection";
    case SessionError::too_many_sessions: return "too many sessions";
    case SessionError::crypto_failure: return "random generator or digest failure";
  }
  return "unknown session error";
}

namespace {

class SessionCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "sec-session"; }
  std::string message(int value) const override { return std::string(to_string(static_cast<SessionError>(value))); }
};

bool well_formed(std::string_view token) {
  if (token.size() != k_session_token_length) return false;
  // Only lowercase: one spelling per token, so the digest of a token is unambiguous.
  for (const char c : token) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string to_hex(const unsigned char* bytes, std::size_t size) {
  static constexpr char k_digits[] = "0123456789abcdef";
  std::string text(2 * size, '\0');
  for (std::size_t i = 0; i < size; ++i) {
    text[2 * i] = k_digits[bytes[i] >> 4];
    text[2 * i + 1] = k_digits[bytes[i] & 0x0F];
  }
  return text;
}

template <typename Digest>
bool sha256(std::string_view text, Digest& out) {
  static_assert(sizeof(out) == 32);
  unsigned int length = 0;
  return EVP_Digest(text.data(), text.size(), out.data(), &length, EVP_sha256(), nullptr) == 1 &&
         length == out.size();
}

template <typename Digest>
std::uint64_t key_of(const Digest& digest) {
  std::uint64_t key = 0;
  std::memcpy(&key, digest.data(), sizeof key);
  return key;
}

}  // namespace

const std::error_category& session_category() {
  static const SessionCategory category;
  return category;
}

std::error_code make_error_code(SessionError error) { return {static_cast<int>(error), session_category()}; }

SessionToken::~SessionToken() { OPENSSL_cleanse(text_.data(), text_.size()); }

SessionStore::SessionStore(const Clock& clock, std::chrono::seconds idle_timeout, std::size_t max_sessions)
    : clock_(clock), idle_timeout_(idle_timeout), max_sessions_(max_sessions) {}

bool SessionStore::expired(const SessionInfo& info, Clock::time_point now) const {
  // Expired at exactly idle_timeout, not after it: a timeout of N seconds means a session
  // idle for N seconds is gone.
  return now - info.last_used >= idle_timeout_;
}

Result<SessionToken, SessionError> SessionStore::open(std::string user, ConnectionId connection) {
  expire();
  if (sessions_.size() >= max_sessions_) return unexpected(SessionError::too_many_sessions);

  std::array<unsigned char, k_session_token_bytes> random{};
  const bool drawn = RAND_bytes(random.data(), static_cast<int>(random.size())) == 1;
  SessionToken token(to_hex(random.data(), random.size()));
  OPENSSL_cleanse(random.data(), random.size());
  if (!drawn) return unexpected(SessionError::crypto_failure);

  TokenDigest digest{};
  if (!sha256(token.text(), digest)) return unexpected(SessionError::crypto_failure);
  // A new token shares its 64 key bits with one of 64 live tokens with probability
  // 2^-58; if it happens the generator is suspect, and overwriting would hand one
  // client's session to another, so refuse.
  const Clock::time_point now = clock_.now();
  const auto [where, inserted] =
      sessions_.try_emplace(key_of(digest), Session{digest, SessionInfo{std::move(user), connection, now, now}});
  if (!inserted) return unexpected(SessionError::crypto_failure);
  return token;
}

Result<SessionStore::Sessions::iterator, SessionError> SessionStore::find_live(std::string_view token,
                                                                                 ConnectionId connection) {
  if (!well_formed(token)) return unexpected(SessionError::malformed_token);
  TokenDigest digest{};
  if (!sha256(token, digest)) return unexpected(SessionError::crypto_failure);

  const auto where = sessions_.find(key_of(digest));
  if (where == sessions_.end()) return unexpected(SessionError::unknown_token);
  if (CRYPTO_memcmp(where->second.digest.data(), digest.data(), digest.size()) != 0) {
    return unexpected(SessionError::unknown_token);
  }
  // Expiry before connection: an expired session is dead wherever it is presented, and
  // removing it here keeps the store from holding on to it until the next expire().
  if (expired(where->second.info, clock_.now())) {
    sessions_.erase(where);
    return unexpected(SessionError::expired);
  }
  if (!(where->second.info.connection == connection)) return unexpected(SessionError::wrong_connection);
  return where;
}

Result<SessionInfo, SessionError> SessionStore::authenticate(std::string_view token, ConnectionId connection) {
  auto found = find_live(token, connection);
  if (!found) return unexpected(found.error());
  SessionInfo& info = found.value()->second.info;
  info.last_used = clock_.now();
  return info;
}

Result<Ok, SessionError> SessionStore::close(std::string_view token, ConnectionId connection) {
  auto found = find_live(token, connection);
  if (!found) return unexpected(found.error());
  sessions_.erase(found.value());
  return Ok{};
}

std::size_t SessionStore::close_connection(ConnectionId connection) {
  return std::erase_if(sessions_,
                       [connection](const auto& entry) { return entry.second.info.connection == connection; });
}

std::size_t SessionStore::expire() {
  const Clock::time_point now = clock_.now();
  return std::erase_if(sessions_, [this, now](const auto& entry) { return expired(entry.second.info, now); });
}

}  // namespace sec
