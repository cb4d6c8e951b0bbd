#pragma once
// The native protocol's `upgrade.*` operations (FIRMWARE UPGRADE in
// meter-native-protocol(7)): a resumable upload of a signed firmware package, its
// verification and installation into the inactive slot, and the activation that reboots
// into it on trial under the boot supervisor. All need the Security Config permission:
// firmware replaces the code that enforces security.
//
//   upgrade.status {}                          -> slots, trial, floor, trusted keys, upload
//   upgrade.begin {"length", "sha256"}         -> {"offset"}: where to send from
//   upgrade.chunk {"offset", "data": bytes}    -> {"offset"}
//   upgrade.finish {}                          -> {"slot", "manifest"} or package_refused
//   upgrade.activate {"health_deadline_s"?, "max_attempts"?} -> {"slot", "version", "rebooting"}
//   upgrade.abort {}                           -> {"discarded"}

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "firmware/native_service.hpp"
#include "firmware/upload_store.hpp"

namespace meterd {

// upgrade.activate's bounds (meter-native-protocol(7)): the health deadline leaves a
// meterd under sanitizers time to start, and a trial never blocks the meter for hours;
// a few boots tell a crash from bad luck, ten is already a long outage.
inline constexpr std::uint32_t k_min_activation_deadline_s = 5;
inline constexpr std::uint32_t k_max_activation_deadline_s = 3600;
inline constexpr int k_max_activation_attempts = 10;

// What the upgrade operations of one meter share between requests. The upload itself
// lives on disk; `verifying` says upgrade.finish has it on the password worker, and
// until that ends nothing else may touch it. Set and read on the I/O thread; cleared by
// whichever thread drops the finished work last, hence atomic.
struct UpgradeSession {
  explicit UpgradeSession(const std::filesystem::path& state_dir) : upload(state_dir) {}
  UploadStore upload;
  std::atomic<bool> verifying{false};
};

bool is_upgrade_operation(std::string_view operation);

NativeOutcome run_upgrade_operation(NativeService& service, std::uint32_t request_id, const std::string& operation,
                                    const nlohmann::json& arguments, const Caller& caller);

}  // namespace meterd
