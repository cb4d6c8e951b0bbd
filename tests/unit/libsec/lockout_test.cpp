#include "libsec/lockout.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace sec;
using namespace std::chrono_literals;

namespace {

const LockoutKey k_user1_native_ethernet{"User1", LoginProtocol::native, ConnectionType::ethernet};
const LockoutKey k_user1_native_serial{"User1", LoginProtocol::native, ConnectionType::serial};
const LockoutKey k_user1_web_ethernet{"User1", LoginProtocol::web, ConnectionType::ethernet};
const LockoutKey k_user2_native_ethernet{"User2", LoginProtocol::native, ConnectionType::ethernet};

// 3 failures within 5 minutes lock for 10 minutes.
const LockoutPolicy k_policy{3, 300s, 600s};

LockoutPolicy same_policy(LoginProtocol /*protocol*/) { return k_policy; }

// Fails `count` times, one second apart, and returns the last answer.
LockoutTracker::Failure fail(LockoutTracker& tracker, ManualClock& clock, const LockoutKey& key, int count,
                             const LockoutPolicy& policy = k_policy) {
  LockoutTracker::Failure last{0, false};
  for (int i = 0; i < count; ++i) {
    if (i > 0) clock.advance(1s);
    last = tracker.record_failure(key, policy);
  }
  return last;
}

}  // namespace

TEST_CASE("Lockout names and default policy", "[libsec][lockout]") {
  CHECK(to_string(LoginProtocol::native) == "native");
  CHECK(to_string(LoginProtocol::web) == "web");
  CHECK(to_string(ConnectionType::ethernet) == "ethernet");
  CHECK(to_string(ConnectionType::serial) == "serial");
  const LockoutPolicy policy;
  CHECK(policy.attempts == 5);
  CHECK(policy.window == 300s);
  CHECK(policy.duration == 600s);
}

TEST_CASE("A key locks at the Nth failure and frees exactly at the duration", "[libsec][lockout]") {
  ManualClock clock;
  LockoutTracker tracker(clock);
  CHECK_FALSE(tracker.status(k_user1_native_ethernet, k_policy).locked);

  const auto first = tracker.record_failure(k_user1_native_ethernet, k_policy);
  CHECK(first.failures_in_window == 1);
  CHECK_FALSE(first.locked_now);
  clock.advance(1s);
  const auto second = tracker.record_failure(k_user1_native_ethernet, k_policy);
  CHECK(second.failures_in_window == 2);
  CHECK_FALSE(second.locked_now);
  CHECK_FALSE(tracker.status(k_user1_native_ethernet, k_policy).locked);

  clock.advance(1s);
  const auto third = tracker.record_failure(k_user1_native_ethernet, k_policy);  // t0
  CHECK(third.failures_in_window == 3);
  CHECK(third.locked_now);

  auto status = tracker.status(k_user1_native_ethernet, k_policy);
  CHECK(status.locked);
  CHECK_FALSE(status.until_unlocked);
  CHECK(status.remaining == 600s);

  clock.advance(599s);  // t0 + duration - 1 s
  status = tracker.status(k_user1_native_ethernet, k_policy);
  CHECK(status.locked);
  CHECK(status.remaining == 1s);

  clock.advance(1s);  // t0 + duration
  status = tracker.status(k_user1_native_ethernet, k_policy);
  CHECK_FALSE(status.locked);
  CHECK(status.remaining == 0s);

  // After the lock the count starts from zero.
  const auto after = tracker.record_failure(k_user1_native_ethernet, k_policy);
  CHECK(after.failures_in_window == 1);
  CHECK_FALSE(after.locked_now);
}

TEST_CASE("Remaining lock time is rounded up to whole seconds", "[libsec][lockout]") {
  ManualClock clock;
  LockoutTracker tracker(clock);
  REQUIRE(fail(tracker, clock, k_user1_native_ethernet, 3).locked_now);
  clock.advance(599s + 800ms);
  auto status = tracker.status(k_user1_native_ethernet, k_policy);
  CHECK(status.locked);
  CHECK(status.remaining == 1s);
  clock.advance(100ms);
  CHECK(tracker.status(k_user1_native_ethernet, k_policy).remaining == 1s);
  clock.advance(100ms);
  CHECK_FALSE(tracker.status(k_user1_native_ethernet, k_policy).locked);
}

TEST_CASE("Failures outside the window do not count", "[libsec][lockout]") {
  ManualClock clock;
  LockoutTracker tracker(clock);
  CHECK(tracker.record_failure(k_user1_native_ethernet, k_policy).failures_in_window == 1);  // t = 0
  clock.advance(100s);
  CHECK(tracker.record_failure(k_user1_native_ethernet, k_policy).failures_in_window == 2);  // t = 100
  clock.advance(200s);
  // t = 300: the first failure is exactly one window old and no longer counts.
  const auto third = tracker.record_failure(k_user1_native_ethernet, k_policy);
  CHECK(third.failures_in_window == 2);
  CHECK_FALSE(third.locked_now);
  CHECK_FALSE(tracker.status(k_user1_native_ethernet, k_policy).locked);
  clock.advance(50s);
  // t = 350: failures at 100, 300 and 350 are within 300 s.
  const auto fourth = tracker.record_failure(k_user1_native_ethernet, k_policy);
  CHECK(fourth.failures_in_window == 3);
  CHECK(fourth.locked_now);
}

TEST_CASE("A successful login clears the failures", "[libsec][lockout]") {
  ManualClock clock;
  LockoutTracker tracker(clock);
  fail(tracker, clock, k_user1_native_ethernet, 2);
  tracker.record_success(k_user1_native_ethernet);
  CHECK(tracker.size() == 0);
  CHECK(fail(tracker, clock, k_user1_native_ethernet, 2).failures_in_window == 2);
  CHECK_FALSE(tracker.status(k_user1_native_ethernet, k_policy).locked);
  CHECK(fail(tracker, clock, k_user1_native_ethernet, 1).locked_now);
}

TEST_CASE("A successful login does not clear a lock", "[libsec][lockout]") {
  ManualClock clock;
  LockoutTracker tracker(clock);
  REQUIRE(fail(tracker, clock, k_user1_native_ethernet, 3).locked_now);
  tracker.record_success(k_user1_native_ethernet);
  CHECK(tracker.status(k_user1_native_ethernet, k_policy).locked);
}

TEST_CASE("Failures on a locked key neither count nor extend the lock", "[libsec][lockout]") {
  ManualClock clock;
  LockoutTracker tracker(clock);
  REQUIRE(fail(tracker, clock, k_user1_native_ethernet, 3).locked_now);
  clock.advance(500s);
  const auto during = tracker.record_failure(k_user1_native_ethernet, k_policy);
  CHECK_FALSE(during.locked_now);
  CHECK(tracker.status(k_user1_native_ethernet, k_policy).remaining == 100s);
  clock.advance(100s);
  CHECK_FALSE(tracker.status(k_user1_native_ethernet, k_policy).locked);
}

TEST_CASE("A lock leaves other users alone", "[libsec][lockout]") {
  ManualClock clock;
  LockoutTracker tracker(clock);
  REQUIRE(fail(tracker, clock, k_user1_native_ethernet, 3).locked_now);
  CHECK_FALSE(tracker.status(k_user2_native_ethernet, k_policy).locked);
  CHECK(tracker.record_failure(k_user2_native_ethernet, k_policy).failures_in_window == 1);
}

TEST_CASE("A lock leaves the other protocol and the other connection type alone", "[libsec][lockout]") {
  ManualClock clock;
  LockoutTracker tracker(clock);
  REQUIRE(fail(tracker, clock, k_user1_native_ethernet, 3).locked_now);
  // Seed 004: the user can still log in over a different protocol and communications method.
  CHECK_FALSE(tracker.status(k_user1_native_serial, k_policy).locked);
  CHECK_FALSE(tracker.status(k_user1_web_ethernet, k_policy).locked);
  CHECK(tracker.record_failure(k_user1_native_serial, k_policy).failures_in_window == 1);
  CHECK(tracker.record_failure(k_user1_web_ethernet, k_policy).failures_in_window == 1);
  tracker.record_success(k_user1_web_ethernet);
  CHECK(tracker.status(k_user1_native_ethernet, k_policy).locked);
}

TEST_CASE("Unknown user names lock like real ones", "[libsec][lockout]") {
  ManualClock clock;
  LockoutTracker tracker(clock);
  const LockoutKey made_up{"no-such-user", LoginProtocol::web, ConnectionType::ethernet};
  CHECK(fail(tracker, clock, made_up, 3).locked_now);
  CHECK(tracker.status(made_up, k_policy).locked);
  // User names are compared exactly.
  const LockoutKey other_case{"No-Such-User", LoginProtocol::web, ConnectionType::ethernet};
  CHECK_FALSE(tracker.status(other_case, k_policy).locked);
}

TEST_CASE("A duration of 0 locks until an administrator unlocks", "[libsec][lockout]") {
  ManualClock clock;
  LockoutTracker tracker(clock);
  const LockoutPolicy forever{3, 300s, 0s};
  REQUIRE(fail(tracker, clock, k_user1_native_ethernet, 3, forever).locked_now);
  clock.advance(std::chrono::hours(24 * 365));
  const auto status = tracker.status(k_user1_native_ethernet, forever);
  CHECK(status.locked);
  CHECK(status.until_unlocked);
  CHECK(status.remaining == 0s);
  CHECK(tracker.unlock("User1") == 1);
  CHECK_FALSE(tracker.status(k_user1_native_ethernet, forever).locked);
  CHECK(tracker.record_failure(k_user1_native_ethernet, forever).failures_in_window == 1);
}

TEST_CASE("Attempts of 0 never lock but failures are still counted", "[libsec][lockout]") {
  ManualClock clock;
  LockoutTracker tracker(clock);
  const LockoutPolicy never{0, 300s, 600s};
  const auto last = fail(tracker, clock, k_user1_native_ethernet, 20, never);
  CHECK_FALSE(last.locked_now);
  CHECK(last.failures_in_window == 20);
  CHECK_FALSE(tracker.status(k_user1_native_ethernet, never).locked);
}

TEST_CASE("Attempts above the remembered failures lock at that many", "[libsec][lockout]") {
  ManualClock clock;
  LockoutTracker tracker(clock);
  const LockoutPolicy huge{1000000, std::chrono::hours(24), 600s};
  const auto last = fail(tracker, clock, k_user1_native_ethernet, static_cast<int>(k_max_remembered_failures), huge);
  CHECK(last.locked_now);
  CHECK(last.failures_in_window == k_max_remembered_failures);
}

TEST_CASE("unlock clears every key of the user and counts the locked ones", "[libsec][lockout]") {
  ManualClock clock;
  LockoutTracker tracker(clock);
  REQUIRE(fail(tracker, clock, k_user1_native_ethernet, 3).locked_now);
  REQUIRE(fail(tracker, clock, k_user1_native_serial, 3).locked_now);
  fail(tracker, clock, k_user1_web_ethernet, 1);  // failures, no lock
  REQUIRE(fail(tracker, clock, k_user2_native_ethernet, 3).locked_now);
  // A user name that sorts between: "User1" < "User10" < "User2".
  fail(tracker, clock, LockoutKey{"User10", LoginProtocol::native, ConnectionType::ethernet}, 1);

  CHECK(tracker.unlock("User1") == 2);
  CHECK_FALSE(tracker.status(k_user1_native_ethernet, k_policy).locked);
  CHECK_FALSE(tracker.status(k_user1_native_serial, k_policy).locked);
  CHECK(tracker.record_failure(k_user1_web_ethernet, k_policy).failures_in_window == 1);
  CHECK(tracker.status(k_user2_native_ethernet, k_policy).locked);
  CHECK(tracker.size() == 3);  // User1 web again, User10, User2
  CHECK(tracker.unlock("User1") == 0);
  CHECK(tracker.unlock("nobody") == 0);
}

TEST_CASE("unlock does not count a lock that has run out", "[libsec][lockout]") {
  ManualClock clock;
  LockoutTracker tracker(clock);
  REQUIRE(fail(tracker, clock, k_user1_native_ethernet, 3).locked_now);
  clock.advance(600s);
  CHECK(tracker.unlock("User1") == 0);
  CHECK(tracker.size() == 0);
}

TEST_CASE("entries lists keys with failures or locks sorted by user, protocol and connection",
          "[libsec][lockout]") {
  ManualClock clock;
  LockoutTracker tracker(clock);
  fail(tracker, clock, k_user2_native_ethernet, 1);
  fail(tracker, clock, k_user1_web_ethernet, 2);
  REQUIRE(fail(tracker, clock, k_user1_native_serial, 3).locked_now);
  fail(tracker, clock, k_user1_native_ethernet, 1);

  const auto entries = tracker.entries(same_policy);
  REQUIRE(entries.size() == 4);
  CHECK(entries[0].key == k_user1_native_ethernet);
  CHECK(entries[0].failures == 1);
  CHECK_FALSE(entries[0].status.locked);
  CHECK(entries[1].key == k_user1_native_serial);
  CHECK(entries[1].failures == 3);
  CHECK(entries[1].status.locked);
  CHECK(entries[1].status.remaining == 600s);
  CHECK(entries[2].key == k_user1_web_ethernet);
  CHECK(entries[2].failures == 2);
  CHECK(entries[3].key == k_user2_native_ethernet);

  // Once the failures leave the window and the lock runs out, nothing is left to report.
  clock.advance(600s);
  CHECK(tracker.entries(same_policy).empty());
}

TEST_CASE("entries and status use each protocol's policy", "[libsec][lockout]") {
  ManualClock clock;
  LockoutTracker tracker(clock);
  const LockoutPolicy web_policy{2, 60s, 30s};
  const auto policy_of = [&](LoginProtocol protocol) { return protocol == LoginProtocol::web ? web_policy : k_policy; };
  REQUIRE(fail(tracker, clock, k_user1_web_ethernet, 2, web_policy).locked_now);
  REQUIRE(fail(tracker, clock, k_user1_native_ethernet, 3).locked_now);
  clock.advance(30s);
  const auto entries = tracker.entries(policy_of);
  REQUIRE(entries.size() == 1);
  CHECK(entries[0].key == k_user1_native_ethernet);
}

TEST_CASE("The tracker holds at most max_tracked_keys keys and drops the least recently touched unlocked one",
          "[libsec][lockout]") {
  ManualClock clock;
  LockoutTracker tracker(clock, 3);
  const LockoutKey a{"a", LoginProtocol::native, ConnectionType::ethernet};
  const LockoutKey b{"b", LoginProtocol::native, ConnectionType::ethernet};
  const LockoutKey c{"c", LoginProtocol::native, ConnectionType::ethernet};
  const LockoutKey d{"d", LoginProtocol::native, ConnectionType::ethernet};
  REQUIRE(fail(tracker, clock, a, 3).locked_now);  // locked, touched first
  fail(tracker, clock, b, 1);
  fail(tracker, clock, c, 1);
  clock.advance(1s);
  fail(tracker, clock, b, 1);  // b now touched after c
  fail(tracker, clock, d, 1);  // full: c goes (a is locked, b is more recent)
  CHECK(tracker.size() == 3);
  CHECK(tracker.status(a, k_policy).locked);
  const auto entries = tracker.entries(same_policy);
  REQUIRE(entries.size() == 3);
  CHECK(entries[0].key == a);
  CHECK(entries[1].key == b);
  CHECK(entries[1].failures == 2);
  CHECK(entries[2].key == d);
}

TEST_CASE("A full tracker of locked keys drops the oldest lock", "[libsec][lockout]") {
  ManualClock clock;
  LockoutTracker tracker(clock, 2);
  const LockoutKey a{"a", LoginProtocol::native, ConnectionType::ethernet};
  const LockoutKey b{"b", LoginProtocol::native, ConnectionType::ethernet};
  const LockoutKey c{"c", LoginProtocol::native, ConnectionType::ethernet};
  REQUIRE(fail(tracker, clock, b, 3).locked_now);
  clock.advance(1s);
  REQUIRE(fail(tracker, clock, a, 3).locked_now);
  clock.advance(1s);
  fail(tracker, clock, c, 1);
  CHECK(tracker.size() == 2);
  CHECK_FALSE(tracker.status(b, k_policy).locked);
  CHECK(tracker.status(a, k_policy).locked);
  CHECK(tracker.entries(same_policy).size() == 2);
}

TEST_CASE("The tracker stays bounded under a flood of made-up names", "[libsec][lockout]") {
  ManualClock clock;
  LockoutTracker tracker(clock, 64);
  const LockoutKey real{"User1", LoginProtocol::native, ConnectionType::ethernet};
  REQUIRE(fail(tracker, clock, real, 3).locked_now);
  for (int i = 0; i < 1000; ++i) {
    tracker.record_failure(LockoutKey{"guess" + std::to_string(i), LoginProtocol::native, ConnectionType::ethernet},
                           k_policy);
    REQUIRE(tracker.size() <= 64);
  }
  // Unlocked entries went first: the real user's lock survived the flood.
  CHECK(tracker.status(real, k_policy).locked);
  // A maximum of 0 acts as 1.
  LockoutTracker tiny(clock, 0);
  CHECK(tiny.max_tracked_keys() == 1);
  tiny.record_failure(real, k_policy);
  tiny.record_failure(k_user2_native_ethernet, k_policy);
  CHECK(tiny.size() == 1);
}

TEST_CASE("The deduplicator logs repeated credentials once per window", "[libsec][lockout]") {
  ManualClock clock;
  FailedLoginDeduplicator deduplicator(clock, 10s);
  CHECK(deduplicator.should_log(k_user1_native_ethernet, "wrong"));
  clock.advance(5s);
  CHECK_FALSE(deduplicator.should_log(k_user1_native_ethernet, "wrong"));
  clock.advance(4s);
  CHECK_FALSE(deduplicator.should_log(k_user1_native_ethernet, "wrong"));
  clock.advance(1s);  // 10 s after it was logged
  CHECK(deduplicator.should_log(k_user1_native_ethernet, "wrong"));
  clock.advance(9s);
  CHECK_FALSE(deduplicator.should_log(k_user1_native_ethernet, "wrong"));
}

TEST_CASE("The deduplicator logs a different password, user, protocol or connection again", "[libsec][lockout]") {
  ManualClock clock;
  FailedLoginDeduplicator deduplicator(clock);
  CHECK(deduplicator.should_log(k_user1_native_ethernet, "wrong"));
  CHECK(deduplicator.should_log(k_user1_native_ethernet, "wrong2"));
  CHECK(deduplicator.should_log(k_user1_native_ethernet, ""));
  CHECK(deduplicator.should_log(k_user2_native_ethernet, "wrong"));
  CHECK(deduplicator.should_log(k_user1_native_serial, "wrong"));
  CHECK(deduplicator.should_log(k_user1_web_ethernet, "wrong"));
  // User and password are kept apart: ("User1", "x") is not ("User", "1x").
  CHECK(deduplicator.should_log(LockoutKey{"User", LoginProtocol::native, ConnectionType::ethernet}, "1wrong"));
  CHECK_FALSE(deduplicator.should_log(k_user1_native_ethernet, "wrong"));
  CHECK_FALSE(deduplicator.should_log(k_user1_native_ethernet, "wrong2"));
}

TEST_CASE("The deduplicator is bounded and errs towards logging", "[libsec][lockout]") {
  ManualClock clock;
  FailedLoginDeduplicator deduplicator(clock, 10s, 2);
  CHECK(deduplicator.should_log(k_user1_native_ethernet, "one"));
  clock.advance(1s);
  CHECK(deduplicator.should_log(k_user1_native_ethernet, "two"));
  clock.advance(1s);
  CHECK(deduplicator.should_log(k_user1_native_ethernet, "three"));  // full: drops "one", the oldest
  CHECK_FALSE(deduplicator.should_log(k_user1_native_ethernet, "three"));
  CHECK(deduplicator.should_log(k_user1_native_ethernet, "one"));

  FailedLoginDeduplicator no_memory(clock, 10s, 0);
  CHECK(no_memory.should_log(k_user1_native_ethernet, "one"));
  CHECK(no_memory.should_log(k_user1_native_ethernet, "one"));
  FailedLoginDeduplicator no_window(clock, 0s);
  CHECK(no_window.should_log(k_user1_native_ethernet, "one"));
  CHECK(no_window.should_log(k_user1_native_ethernet, "one"));
}
