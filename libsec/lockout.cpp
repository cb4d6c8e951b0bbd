#include "libsec/lockout.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <tuple>

namespace sec {

std::string_view to_string(LoginProtocol protocol) {
  switch (protocol) {
    case LoginProtocol::native: return "native";
    case LoginProtocol::web: return "web";
  }
  return "unknown-protocol";
}

std::string_view to_string(ConnectionType connection) {
  switch (connection) {
    case ConnectionType::ethernet: return "ethernet";
    case ConnectionType::serial: return "serial";
  }
  return "unknown-connection";
}

namespace {

using std::chrono::seconds;
using time_point = Clock::time_point;

// Whether a lock set at `locked_at` still holds at `now` with `duration`. A duration of
// zero means until unlock(); a negative one is a misconfiguration and fails the same way.
bool lock_holds(time_point locked_at, seconds duration, time_point now) {
  return duration <= seconds::zero() || now < locked_at + duration;
}

// A failure at `failed_at` counts at `now` while now - failed_at < window.
bool in_window(time_point failed_at, seconds window, time_point now) { return now - failed_at < window; }

std::uint32_t lock_threshold(const LockoutPolicy& policy) {
  return std::min(policy.attempts, k_max_remembered_failures);
}

}  // namespace

bool LockoutTracker::KeyOrder::operator()(const LockoutKey& left, const LockoutKey& right) const {
  return std::tie(left.user, left.protocol, left.connection) < std::tie(right.user, right.protocol, right.connection);
}

LockoutTracker::LockoutTracker(const Clock& clock, std::size_t max_tracked_keys)
    : clock_(clock), max_tracked_keys_(std::max<std::size_t>(max_tracked_keys, 1)) {}

namespace {

// The shared evaluation of one record under one policy, for status() and entries().
template <typename Record>
LockStatus status_of(const Record& record, const LockoutPolicy& policy, time_point now) {
  if (!record.lock || !lock_holds(record.lock->locked_at, policy.duration, now)) return {};
  if (policy.duration <= seconds::zero()) return {true, true, seconds::zero()};
  const auto left = record.lock->locked_at + policy.duration - now;
  return {true, false, std::chrono::ceil<seconds>(left)};
}

template <typename Record>
std::uint32_t failures_of(const Record& record, const LockoutPolicy& policy, time_point now) {
  // The failures before a lock that has run out no longer count: after a lock the count
  // starts from zero. (No failure is recorded while a key is locked.)
  if (record.lock && !lock_holds(record.lock->locked_at, policy.duration, now)) return 0;
  const auto counted = std::count_if(record.failures.begin(), record.failures.end(),
                                     [&](time_point failed_at) { return in_window(failed_at, policy.window, now); });
  return static_cast<std::uint32_t>(counted);
}

}  // namespace

LockStatus LockoutTracker::status(const LockoutKey& key, const LockoutPolicy& policy) const {
  const auto found = records_.find(key);
  if (found == records_.end()) return {};
  return status_of(found->second, policy, clock_.now());
}

LockoutTracker::Failure LockoutTracker::record_failure(const LockoutKey& key, const LockoutPolicy& policy) {
  const auto now = clock_.now();
  auto found = records_.find(key);
  if (found == records_.end()) {
    make_room(now);
    found = records_.emplace(key, Record{}).first;
  }
  Record& record = found->second;
  record.last_touched = ++touch_counter_;

  if (record.lock) {
    if (lock_holds(record.lock->locked_at, policy.duration, now)) return {failures_of(record, policy, now), false};
    record.lock.reset();
    record.failures.clear();
  }

  auto& failures = record.failures;
  failures.erase(failures.begin(), std::find_if(failures.begin(), failures.end(), [&](time_point failed_at) {
                   return in_window(failed_at, policy.window, now);
                 }));
  failures.push_back(now);

  if (policy.attempts != 0 && failures.size() >= lock_threshold(policy)) {
    record.lock = Lock{now, policy.duration};
    return {static_cast<std::uint32_t>(failures.size()), true};
  }
  // Only a policy that never locks gets here with a full history: keep the newest.
  if (failures.size() > k_max_remembered_failures) failures.erase(failures.begin());
  return {static_cast<std::uint32_t>(failures.size()), false};
}

void LockoutTracker::record_success(const LockoutKey& key) {
  const auto found = records_.find(key);
  if (found == records_.end()) return;
  Record& record = found->second;
  // A record with a lock stays, even one that seems to have run out: this call has no
  // policy, and a lock the current policy still holds must not end here. A lock that has
  // run out is cleared by the next failure, and its record counts as unlocked when room
  // is needed.
  if (!record.lock) {
    records_.erase(found);
    return;
  }
  record.failures.clear();
  record.last_touched = ++touch_counter_;
}

std::size_t LockoutTracker::unlock(std::string_view user) {
  const auto now = clock_.now();
  std::size_t were_locked = 0;
  // The order sorts by user first and native, ethernet are the smallest values, so the
  // user's keys start here and are contiguous.
  auto it = records_.lower_bound(LockoutKey{std::string(user), LoginProtocol::native, ConnectionType::ethernet});
  while (it != records_.end() && it->first.user == user) {
    const auto& lock = it->second.lock;
    if (lock && lock_holds(lock->locked_at, lock->duration_at_lock, now)) ++were_locked;
    it = records_.erase(it);
  }
  return were_locked;
}

std::vector<LockoutEntry> LockoutTracker::entries(
    const std::function<LockoutPolicy(LoginProtocol)>& policy_of) const {
  const auto now = clock_.now();
  std::vector<LockoutEntry> result;
  for (const auto& [key, record] : records_) {
    const LockoutPolicy policy = policy_of(key.protocol);
    const LockStatus lock_status = status_of(record, policy, now);
    const std::uint32_t failures = failures_of(record, policy, now);
    if (failures > 0 || lock_status.locked) result.push_back(LockoutEntry{key, failures, lock_status});
  }
  return result;
}

void LockoutTracker::make_room(time_point now) {
  if (records_.size() < max_tracked_keys_) return;
  // Judged by the duration at locking: other protocols' policies are not known here.
  const auto holds = [&](const Record& record) {
    return record.lock && lock_holds(record.lock->locked_at, record.lock->duration_at_lock, now);
  };
  auto victim = records_.end();
  for (auto it = records_.begin(); it != records_.end(); ++it) {
    if (holds(it->second)) continue;
    if (victim == records_.end() || it->second.last_touched < victim->second.last_touched) victim = it;
  }
  if (victim == records_.end()) {
    // Every key is locked: drop the oldest lock (see record_failure in the header for why
    // dropping one beats refusing the new key).
    for (auto it = records_.begin(); it != records_.end(); ++it) {
      if (victim == records_.end() || it->second.lock->locked_at < victim->second.lock->locked_at) victim = it;
    }
  }
  records_.erase(victim);
}

namespace {

struct MacDeleter {
  void operator()(EVP_MAC* mac) const { EVP_MAC_free(mac); }
};
struct MacContextDeleter {
  void operator()(EVP_MAC_CTX* context) const { EVP_MAC_CTX_free(context); }
};

// HMAC-SHA256 over the credentials. The user's length goes in before the user, so that
// ("ab", "c") and ("a", "bc") give different input; the password, last, needs none.
template <typename Digest, typename Key>
std::optional<Digest> credential_digest(const Key& mac_key, const LockoutKey& key, std::string_view password) {
  const std::unique_ptr<EVP_MAC, MacDeleter> mac(EVP_MAC_fetch(nullptr, "HMAC", nullptr));
  if (!mac) return std::nullopt;
  const std::unique_ptr<EVP_MAC_CTX, MacContextDeleter> context(EVP_MAC_CTX_new(mac.get()));
  if (!context) return std::nullopt;
  char digest_name[] = "SHA256";
  const OSSL_PARAM parameters[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name, 0),
                                   OSSL_PARAM_construct_end()};
  if (EVP_MAC_init(context.get(), mac_key.data(), mac_key.size(), parameters) != 1) return std::nullopt;

  const std::uint64_t user_length = key.user.size();
  std::array<unsigned char, 10> header{static_cast<unsigned char>(key.protocol),
                                       static_cast<unsigned char>(key.connection)};
  for (std::size_t i = 0; i < 8; ++i) header[2 + i] = static_cast<unsigned char>(user_length >> (56 - 8 * i));
  const auto bytes = [](std::string_view text) { return reinterpret_cast<const unsigned char*>(text.data()); };
  Digest digest{};
  std::size_t written = 0;
  if (EVP_MAC_update(context.get(), header.data(), header.size()) != 1 ||
      EVP_MAC_update(context.get(), bytes(key.user), key.user.size()) != 1 ||
      EVP_MAC_update(context.get(), bytes(password), password.size()) != 1 ||
      EVP_MAC_final(context.get(), digest.data(), &written, digest.size()) != 1 || written != digest.size()) {
    return std::nullopt;
  }
  return digest;
}

}  // namespace

FailedLoginDeduplicator::FailedLoginDeduplicator(const Clock& clock, std::chrono::seconds window,
                                                 std::size_t max_entries)
    : clock_(clock), window_(window), max_entries_(max_entries) {
  keyed_ = RAND_bytes(mac_key_.data(), static_cast<int>(mac_key_.size())) == 1;
  // Without a key every failure is logged; the error queue must not leak into the next,
  // unrelated OpenSSL call.
  if (!keyed_) ERR_clear_error();
}

FailedLoginDeduplicator::~FailedLoginDeduplicator() { OPENSSL_cleanse(mac_key_.data(), mac_key_.size()); }

bool FailedLoginDeduplicator::should_log(const LockoutKey& key, std::string_view password) {
  if (!keyed_ || window_ <= seconds::zero() || max_entries_ == 0) return true;
  const auto digest = credential_digest<Digest>(mac_key_, key, password);
  if (!digest) {
    ERR_clear_error();
    return true;  // when in doubt, log
  }
  const auto now = clock_.now();
  const auto found = last_logged_.find(*digest);
  if (found != last_logged_.end()) {
    if (now - found->second < window_) return false;
    found->second = now;
    return true;
  }
  if (last_logged_.size() >= max_entries_) {
    std::erase_if(last_logged_, [&](const auto& entry) { return now - entry.second >= window_; });
  }
  if (last_logged_.size() >= max_entries_) {
    const auto logged_earlier = [](const auto& left, const auto& right) { return left.second < right.second; };
    last_logged_.erase(std::min_element(last_logged_.begin(), last_logged_.end(), logged_earlier));
  }
  last_logged_.emplace(*digest, now);
  return true;
}

}  // namespace sec
