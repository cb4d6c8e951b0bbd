#pragma once
// Lockout after failed logins (seed 004, "Managing user account lockouts and timeouts").
//
// What the seed fixes:
//  - "Lockout is applied to each user, protocol and connection type, including webpages.
//    For example, serial and Ethernet protocols are locked out separately." A lockout
//    key is therefore (user, protocol, connection type), and each protocol has its own
//    policy ("Select each protocol and click Edit to change lockout ... values").
//  - "If a user account is locked out, that user can still access the device by
//    entering the correct credentials over a different protocol and communications
//    method." A lock on one key leaves every other key alone.
//  - The settings are "Lockout after unsuccessful login attempts" and "Lockout duration";
//    LockoutPolicy adds the window in which failures are counted, which the seed leaves
//    open.
//
// How a server uses the tracker on a login: status() first, and a locked key is refused
// without verifying the password (so a guess made during a lock tells nothing); otherwise
// verify, then record_failure() or record_success().
//
// Keys use the user name as presented, whether or not such a user exists: the tracker
// locks a made-up name exactly like a real one, so "locked out" reveals nothing about
// which names are real.
//
// Nothing here does I/O; time comes from the Clock the tracker is handed. Not
// synchronized: one tracker per meter, used by one thread (meterd's I/O thread).

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "libsec/clock.hpp"

namespace sec {

// The protocol family a login arrives by. The native protocol stands for the vendor's ION
// protocol; the web is the meter's webpages, which the seed names separately ("including
// webpages").
enum class LoginProtocol { native, web };
// The physical connection, locked out separately (seed 004: "serial and Ethernet
// protocols are locked out separately").
enum class ConnectionType { ethernet, serial };

// "native", "web".
std::string_view to_string(LoginProtocol protocol);
// "ethernet", "serial".
std::string_view to_string(ConnectionType connection);

// One protocol's lockout settings. The defaults are ours; the seed makes them configurable
// without giving figures. Five tries in five minutes leaves room for typing mistakes, and
// ten minutes of lock holds an online guessing attack to well under a thousand guesses a
// day per key.
struct LockoutPolicy {
  // Failures within `window` that lock the key. 0: never lock (failures are still
  // counted, for entries()). Values above k_max_remembered_failures act as that value.
  std::uint32_t attempts = 5;
  // How far back failures count. A failure at t stops counting at t + window. Zero or
  // less: only the failure being recorded counts.
  std::chrono::seconds window{300};
  // How long a lock lasts from the failure that set it: locked until t0 + duration, free
  // from then on. 0 (or less, which fails closed): locked until an administrator calls
  // unlock().
  std::chrono::seconds duration{600};

  friend bool operator==(const LockoutPolicy&, const LockoutPolicy&) = default;
};

// Each key remembers the times of at most this many recent failures, which bounds its
// memory whatever the policy says. An `attempts` above it therefore locks at this many
// failures: earlier than configured, never later. No vendor figure; a hundred is far above
// any useful lockout threshold.
inline constexpr std::uint32_t k_max_remembered_failures = 100;

// Who is being counted: the user name as presented, and how they came.
struct LockoutKey {
  std::string user;
  LoginProtocol protocol;
  ConnectionType connection;

  friend bool operator==(const LockoutKey&, const LockoutKey&) = default;
};

struct LockStatus {
  bool locked = false;
  // Locked with a duration of 0: only unlock() ends it. remaining is then 0.
  bool until_unlocked = false;
  // Time left, rounded up to whole seconds, so a lock with 0.2 s to go says 1 s, never 0.
  std::chrono::seconds remaining{0};
};

struct LockoutEntry {
  LockoutKey key;
  // Failures within the key's window (those that led to a lock included, while it lasts).
  std::uint32_t failures;
  LockStatus status;
};

// The failure counts and locks of one meter.
//
// A key is locked when its failures within the policy's window reach `attempts`. The lock
// lasts `duration` from the locking failure; once it has run out, the count starts again
// from zero. Status and failure counts are evaluated against the policy passed with each
// call, so an administrator's change to a protocol's policy applies at once, to running
// locks too (shortening a duration frees keys sooner; setting it to 0 keeps them locked).
//
// Memory is bounded: at most max_tracked_keys keys (a failure for a new key when full
// drops one, see record_failure), each with at most k_max_remembered_failures times.
class LockoutTracker {
 public:
  // No vendor figure. 4096 keys covers the 50 users of seed 004 ("The maximum number of
  // users is 50") on every protocol and connection type many times over, and leaves room
  // for made-up names; with the default policy a key takes a few hundred bytes, so a full
  // tracker costs about a megabyte.
  // A max_tracked_keys of 0 acts as 1.
  explicit LockoutTracker(const Clock& clock, std::size_t max_tracked_keys = 4096);
  // A copy would be a second, diverging record of the same meter's locks.
  LockoutTracker(const LockoutTracker&) = delete;
  LockoutTracker& operator=(const LockoutTracker&) = delete;

  // Whether `key` is locked now, under `policy` (its protocol's).
  LockStatus status(const LockoutKey& key, const LockoutPolicy& policy) const;

  struct Failure {
    // Failures of this key within the window, this one included.
    std::uint32_t failures_in_window;
    // This failure locked the key (it was not locked before).
    bool locked_now;
  };
  // Records a failed login for `key`. Failures older than the window no longer count. On a
  // key that is still locked nothing is recorded and the lock is not extended: a locked
  // key is refused before verification, so this is a caller's slip, and extending locks on
  // failures would let anyone keep a user locked out by guessing during the lock.
  //
  // When the tracker is full and `key` is new, one key is dropped to make room: the least
  // recently touched key that is not locked; if every key is locked, the key locked
  // longest ago. Dropping a lock frees that key early, but the alternative, refusing to
  // track new keys, would let whoever filled the tracker with locks on made-up names guess
  // at real accounts without ever being locked out. The oldest lock is the one closest to
  // its end (with equal durations) and has held its key the longest.
  Failure record_failure(const LockoutKey& key, const LockoutPolicy& policy);

  // Records a successful login: clears the key's failures. It does not clear a lock (a
  // locked key is refused before verification, so a success cannot come from one).
  void record_success(const LockoutKey& key);

  // An administrator's unlock: forgets every key of `user` (failures and locks, on every
  // protocol and connection type). Returns how many of them were locked, judged by the
  // duration in force when each lock was set.
  std::size_t unlock(std::string_view user);

  // Every key with failures within its window or a lock, sorted by user, then protocol,
  // then connection type (enum order). policy_of gives each protocol's policy.
  std::vector<LockoutEntry> entries(const std::function<LockoutPolicy(LoginProtocol)>& policy_of) const;

  // How many keys the tracker holds, including some with nothing left to report (failures
  // that fell out of their window, locks that ran out); any key that is not locked may be
  // dropped when room is needed.
  std::size_t size() const { return records_.size(); }
  std::size_t max_tracked_keys() const { return max_tracked_keys_; }

 private:
  struct Lock {
    Clock::time_point locked_at;
    // The policy's duration at the locking failure, for decisions taken without a policy
    // (unlock's count, which key to drop).
    std::chrono::seconds duration_at_lock;
  };
  struct Record {
    // Oldest first; never more than k_max_remembered_failures.
    std::vector<Clock::time_point> failures;
    std::optional<Lock> lock;
    // Sequence number of the last record_failure or record_success, for dropping the least
    // recently touched key; a counter rather than a time, so ties cannot happen.
    std::uint64_t last_touched = 0;
  };
  struct KeyOrder {
    bool operator()(const LockoutKey& left, const LockoutKey& right) const;
  };
  using Records = std::map<LockoutKey, Record, KeyOrder>;

  void make_room(Clock::time_point now);

  const Clock& clock_;
  std::size_t max_tracked_keys_;
  Records records_;
  std::uint64_t touch_counter_ = 0;
};

// Decides which failed logins go to the security event log, so that one client retrying
// the same wrong credentials in a loop yields one event rather than thousands: repeated
// identical wrong credentials within a short event window count as one logged event. A
// different password, user, protocol or connection type is a new event, as is the same
// one once the window has passed since it was last logged (so a loop that never stops is
// still logged once per window).
//
// It remembers no password and no user name: only an HMAC-SHA256 of (protocol, connection
// type, user, password) under a random key drawn from RAND_bytes when the deduplicator is
// made and never stored or shown, so its memory cannot be used to test password guesses
// offline. If the random generator fails, every failure is logged.
class FailedLoginDeduplicator {
 public:
  // At most max_entries credentials remembered; when full, those whose window has passed
  // are dropped, then the one logged longest ago (which then logs again if repeated: the
  // deduplicator errs towards logging). A window of zero or less, or max_entries of 0,
  // logs every failure.
  explicit FailedLoginDeduplicator(const Clock& clock, std::chrono::seconds window = std::chrono::seconds(10),
                                   std::size_t max_entries = 1024);
  // The key is wiped (OPENSSL_cleanse) on destruction; copying would duplicate it.
  ~FailedLoginDeduplicator();
  FailedLoginDeduplicator(const FailedLoginDeduplicator&) = delete;
  FailedLoginDeduplicator& operator=(const FailedLoginDeduplicator&) = delete;

  // True when this (key, password) was not logged within the window: the caller logs the
  // failure. Each true answer starts a new window for these credentials.
  bool should_log(const LockoutKey& key, std::string_view password);

 private:
  using Digest = std::array<unsigned char, 32>;  // HMAC-SHA256

  const Clock& clock_;
  std::chrono::seconds window_;
  std::size_t max_entries_;
  std::array<unsigned char, 32> mac_key_{};
  bool keyed_ = false;
  // When each remembered credential was last logged.
  std::map<Digest, Clock::time_point> last_logged_;
};

}  // namespace sec
