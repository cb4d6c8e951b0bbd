#include "libsec/session_store.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <set>
#include <string>
#include <vector>

using namespace sec;
using namespace std::chrono_literals;

namespace {

constexpr ConnectionId k_first{1};
constexpr ConnectionId k_second{2};

std::string open_text(SessionStore& store, const std::string& user, ConnectionId connection) {
  auto token = store.open(user, connection);
  REQUIRE(token);
  return std::string(token->text());
}

}  // namespace

TEST_CASE("A session token is 64 lowercase hex characters and tokens look random", "[libsec][session]") {
  ManualClock clock;
  SessionStore store(clock, k_default_idle_timeout, 1024);
  std::set<std::string> tokens;
  std::array<int, 16> digit_counts{};
  constexpr int k_tokens = 256;
  for (int i = 0; i < k_tokens; ++i) {
    const std::string token = open_text(store, "User1", k_first);
    REQUIRE(token.size() == k_session_token_length);
    REQUIRE(token.size() == 64);  // 256 bits
    for (const char c : token) {
      const bool digit = c >= '0' && c <= '9';
      const bool lower_hex = c >= 'a' && c <= 'f';
      REQUIRE((digit || lower_hex));
      ++digit_counts[static_cast<std::size_t>(digit ? c - '0' : c - 'a' + 10)];
    }
    tokens.insert(token);
  }
  CHECK(tokens.size() == static_cast<std::size_t>(k_tokens));
  // 16384 hex digits: each value is expected 1024 times with a standard deviation of
  // about 31, so a band of 20 % fails only for a broken generator or encoder.
  for (const int count : digit_counts) {
    CHECK(count > 820);
    CHECK(count < 1230);
  }
}

TEST_CASE("Two sessions of the same user on the same connection get different tokens", "[libsec][session]") {
  ManualClock clock;
  SessionStore store(clock);
  const auto first = open_text(store, "User1", k_first);
  const auto second = open_text(store, "User1", k_first);
  CHECK(first != second);
  CHECK(store.size() == 2);
}

TEST_CASE("A token authenticates on the connection that opened it", "[libsec][session]") {
  ManualClock clock;
  SessionStore store(clock);
  const auto opened_at = clock.now();
  const auto token = open_text(store, "User1", k_first);
  clock.advance(10s);
  const auto info = store.authenticate(token, k_first);
  REQUIRE(info);
  CHECK(info->user == "User1");
  CHECK(info->connection == k_first);
  CHECK(info->opened_at == opened_at);
  CHECK(info->last_used == clock.now());
}

TEST_CASE("Malformed and unknown tokens are refused", "[libsec][session]") {
  ManualClock clock;
  SessionStore store(clock);
  const auto token = open_text(store, "User1", k_first);

  std::string upper = token;
  std::transform(upper.begin(), upper.end(), upper.begin(), [](char c) { return c >= 'a' && c <= 'f' ? c - 32 : c; });
  const std::vector<std::string> malformed = {"", token.substr(1), token + "0", std::string(64, 'g')};
  for (const auto& text : malformed) {
    const auto result = store.authenticate(text, k_first);
    REQUIRE_FALSE(result);
    CHECK(result.error() == SessionError::malformed_token);
  }
  if (upper != token) {
    const auto result = store.authenticate(upper, k_first);
    REQUIRE_FALSE(result);
    CHECK(result.error() == SessionError::malformed_token);
  }

  // Well formed, never issued; and the real token with its last digit changed.
  std::string changed = token;
  changed.back() = changed.back() == '0' ? '1' : '0';
  for (const auto& text : {std::string(64, '0'), changed}) {
    const auto result = store.authenticate(text, k_first);
    REQUIRE_FALSE(result);
    CHECK(result.error() == SessionError::unknown_token);
  }
  CHECK(store.authenticate(token, k_first));
}

TEST_CASE("A token presented on another connection is refused and the session neither ends nor refreshes",
          "[libsec][session]") {
  ManualClock clock;
  SessionStore store(clock, 60s);
  const auto token = open_text(store, "User1", k_first);

  clock.advance(59s);
  const auto elsewhere = store.authenticate(token, k_second);
  REQUIRE_FALSE(elsewhere);
  CHECK(elsewhere.error() == SessionError::wrong_connection);
  const auto closed_elsewhere = store.close(token, k_second);
  REQUIRE_FALSE(closed_elsewhere);
  CHECK(closed_elsewhere.error() == SessionError::wrong_connection);
  CHECK(store.size() == 1);

  // The refused attempts did not refresh the idle timer: 60 s after the login it is gone.
  clock.advance(1s);
  const auto late = store.authenticate(token, k_first);
  REQUIRE_FALSE(late);
  CHECK(late.error() == SessionError::expired);
}

TEST_CASE("A session is valid one second before the idle timeout and expired at it", "[libsec][session]") {
  ManualClock clock;
  SessionStore store(clock, 300s);
  CHECK(store.idle_timeout() == k_default_idle_timeout);
  const auto token = open_text(store, "User1", k_first);
  const auto still_valid = open_text(store, "User1", k_first);

  clock.advance(299s);
  CHECK(store.authenticate(still_valid, k_first));

  clock.advance(1s);
  const auto expired = store.authenticate(token, k_first);
  REQUIRE_FALSE(expired);
  CHECK(expired.error() == SessionError::expired);
  // An expired session is removed: the token is now simply unknown.
  const auto again = store.authenticate(token, k_first);
  REQUIRE_FALSE(again);
  CHECK(again.error() == SessionError::unknown_token);
  CHECK(store.size() == 1);
}

TEST_CASE("Each successful use restarts the idle timeout", "[libsec][session]") {
  ManualClock clock;
  SessionStore store(clock, 60s);
  const auto token = open_text(store, "User1", k_first);
  // Five minutes of requests 50 s apart outlive a 60 s timeout many times over.
  for (int i = 0; i < 6; ++i) {
    clock.advance(50s);
    REQUIRE(store.authenticate(token, k_first));
  }
  clock.advance(59s);
  CHECK(store.authenticate(token, k_first));
  clock.advance(60s);
  const auto idle = store.authenticate(token, k_first);
  REQUIRE_FALSE(idle);
  CHECK(idle.error() == SessionError::expired);
}

TEST_CASE("Logout ends only its own session", "[libsec][session]") {
  ManualClock clock;
  SessionStore store(clock);
  const auto token = open_text(store, "User1", k_first);
  const auto other = open_text(store, "User1", k_first);

  REQUIRE(store.close(token, k_first));
  const auto after = store.authenticate(token, k_first);
  REQUIRE_FALSE(after);
  CHECK(after.error() == SessionError::unknown_token);
  const auto twice = store.close(token, k_first);
  REQUIRE_FALSE(twice);
  CHECK(twice.error() == SessionError::unknown_token);
  CHECK(store.authenticate(other, k_first));
  CHECK(store.size() == 1);
}

TEST_CASE("Closing a connection drops every session it opened and no other", "[libsec][session]") {
  ManualClock clock;
  SessionStore store(clock);
  const auto first_a = open_text(store, "User1", k_first);
  const auto first_b = open_text(store, "User2", k_first);
  const auto second = open_text(store, "User1", k_second);

  CHECK(store.close_connection(k_first) == 2);
  CHECK(store.close_connection(k_first) == 0);
  for (const auto& token : {first_a, first_b}) {
    const auto result = store.authenticate(token, k_first);
    REQUIRE_FALSE(result);
    CHECK(result.error() == SessionError::unknown_token);
  }
  CHECK(store.authenticate(second, k_second));
  CHECK(store.size() == 1);
}

TEST_CASE("Housekeeping removes expired sessions only", "[libsec][session]") {
  ManualClock clock;
  SessionStore store(clock, 60s);
  open_text(store, "User1", k_first);
  clock.advance(30s);
  const auto young = open_text(store, "User1", k_second);
  CHECK(store.expire() == 0);
  clock.advance(30s);
  CHECK(store.expire() == 1);
  CHECK(store.size() == 1);
  CHECK(store.authenticate(young, k_second));
}

TEST_CASE("A full store refuses new sessions without evicting live ones", "[libsec][session]") {
  ManualClock clock;
  SessionStore store(clock, 60s, 2);
  CHECK(store.max_sessions() == 2);
  const auto oldest = open_text(store, "User1", k_first);
  clock.advance(10s);
  const auto newer = open_text(store, "User1", k_second);

  const auto refused = store.open("User1", ConnectionId{3});
  REQUIRE_FALSE(refused);
  CHECK(refused.error() == SessionError::too_many_sessions);
  CHECK(store.authenticate(newer, k_second));

  SECTION("a slot frees when a connection closes") {
    CHECK(store.close_connection(k_second) == 1);
    CHECK(store.open("User1", ConnectionId{3}));
    CHECK(store.authenticate(oldest, k_first));
  }
  SECTION("a slot frees when a session expires, without calling expire") {
    clock.advance(50s);  // oldest idle for 60 s, newer refreshed 50 s ago
    CHECK(store.open("User1", ConnectionId{3}));
    CHECK(store.authenticate(newer, k_second));
    CHECK(store.size() == 2);
  }
}

TEST_CASE("A zero idle timeout or session cap fails closed", "[libsec][session]") {
  ManualClock clock;
  SessionStore no_time(clock, 0s);
  const auto token = open_text(no_time, "User1", k_first);
  const auto result = no_time.authenticate(token, k_first);
  REQUIRE_FALSE(result);
  CHECK(result.error() == SessionError::expired);

  SessionStore no_room(clock, 60s, 0);
  const auto refused = no_room.open("User1", k_first);
  REQUIRE_FALSE(refused);
  CHECK(refused.error() == SessionError::too_many_sessions);
}

TEST_CASE("Session errors have names and map onto std::error_code", "[libsec][session]") {
  for (const auto error : {SessionError::malformed_token, SessionError::unknown_token, SessionError::expired,
                           SessionError::wrong_connection, SessionError::too_many_sessions,
                           SessionError::crypto_failure}) {
    CHECK(to_string(error) != "unknown session error");
    const std::error_code code = error;
    CHECK(code);
    CHECK(code.category() == session_category());
    CHECK(code.message() == std::string(to_string(error)));
  }
  CHECK(to_string(SessionError::wrong_connection) == "session token belongs to another connection");
}

TEST_CASE("Session tokens copy and move as values", "[libsec][session]") {
  const SessionToken original(std::string(64, 'a'));
  SessionToken copy = original;
  CHECK(copy.text() == original.text());
  SessionToken moved = std::move(copy);
  CHECK(moved.text() == original.text());
  SessionToken assigned(std::string(64, 'b'));
  assigned = moved;
  CHECK(assigned.text() == original.text());
  assigned = SessionToken(std::string(64, 'c'));
  CHECK(assigned.text() == std::string(64, 'c'));
}

TEST_CASE("The manual clock moves only forward and only when told", "[libsec][clock]") {
  ManualClock clock;
  const auto start = clock.now();
  CHECK(clock.now() == start);
  clock.advance(5s);
  CHECK(clock.now() - start == 5s);
  clock.advance(-10s);
  CHECK(clock.now() - start == 5s);
  const SteadyClock steady;
  const Clock& any = steady;
  const auto before = std::chrono::steady_clock::now();
  const auto read = any.now();
  CHECK(before <= read);
  CHECK(read <= std::chrono::steady_clock::now());
}
