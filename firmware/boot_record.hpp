#pragma once
// The boot record (<state>/firmware/boot.json): which package slot the meter runs, what
// each slot holds, the trial of a newly activated slot and how the last trial ended. The
// boot supervisor reads it before every boot and the firmware changes it when it
// activates a package; every read-modify-write happens under lock_boot_record so the two
// never lose each other's change. man/meterd.8.scd, FIRMWARE SLOTS, describes the layout
// of the firmware directory.
//
// The parser and formatter are pure; the file helpers below them replace the file
// atomically (write, fsync, rename), so a power cut leaves the old record or the new one.

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "libproto/model/version.hpp"
#include "libproto/result.hpp"

namespace meterd {

enum class Slot { a, b };
std::string_view to_string(Slot slot);  // "a", "b"
std::optional<Slot> parse_slot(std::string_view text);
Slot other_slot(Slot slot);

inline constexpr int k_default_trial_attempts = 3;
inline constexpr std::uint32_t k_default_health_deadline_s = 60;
// The exit status of a firmware process that asks its supervisor to boot again (after an
// activation). Outside sysexits(3)'s 64..78 and the shell's 126..255 so it means nothing else.
inline constexpr int k_exit_reboot = 100;

// A record is a few hundred bytes; 64 KiB bounds what a planted or corrupted file makes
// the supervisor read before it refuses it.
inline constexpr std::size_t k_max_boot_record_bytes = 64 * 1024;
inline constexpr int k_boot_record_format_version = 1;
// Bounds on what a record may ask of the supervisor: upgrade.activate allows 5..3600 s and
// 1..10 boots; the record accepts shorter deadlines so tests need not wait 5 s.
inline constexpr std::uint32_t k_max_health_deadline_s = 3600;
inline constexpr int k_max_trial_attempts = 10;

struct SlotRecord {
  // The executable meterd was installed as, not a package.
  bool factory = false;
  // Package slots: the manifest's. Factory: unset (the command line's --firmware, or the
  // model's latest).
  std::optional<proto::model::Version> version;
  std::string executable;      // absolute path run for this slot
  std::string installed_at;    // ISO 8601 UTC
  std::string key_id;          // package slots: the signing key's id
  std::string payload_sha256;  // package slots: lowercase hex

  friend bool operator==(const SlotRecord&, const SlotRecord&) = default;
};

struct TrialRecord {
  Slot slot = Slot::b;
  int attempts = 0;  // boots of the trial slot so far
  int max_attempts = k_default_trial_attempts;
  std::uint32_t health_deadline_s = k_default_health_deadline_s;
  proto::model::Version from_version;  // what ran before
  proto::model::Version to_version;
  std::optional<proto::model::Version> floor_on_commit;  // the rollback floor once committed
  std::int64_t requested_at = 0;                         // unix seconds

  friend bool operator==(const TrialRecord&, const TrialRecord&) = default;
};

struct BootOutcome {
  bool committed = false;  // false: fell back
  Slot slot = Slot::b;     // the slot that was tried
  proto::model::Version version;
  // Why it fell back: "no health report within 60 s", "exited with status 3 on 3 boots",
  // "killed by signal 11 on 3 boots". Empty when committed.
  std::string reason;
  std::int64_t at = 0;  // unix seconds

  friend bool operator==(const BootOutcome&, const BootOutcome&) = default;
};

struct BootRecord {
  Slot active = Slot::a;  // the committed slot
  std::array<std::optional<SlotRecord>, 2> slots;
  std::optional<TrialRecord> trial;
  std::optional<proto::model::Version> rollback_floor;
  std::optional<BootOutcome> last_outcome;

  std::optional<SlotRecord>& slot(Slot which) { return slots[static_cast<std::size_t>(which)]; }
  const std::optional<SlotRecord>& slot(Slot which) const { return slots[static_cast<std::size_t>(which)]; }

  friend bool operator==(const BootRecord&, const BootRecord&) = default;
};

// Strict: unknown format_version, missing or mistyped members, a version that is not
// X.Y.Z, an active or trial slot with nothing in it, a trial of the active slot, and
// limits out of range are refused with a message naming `file` and the member.
proto::Result<BootRecord, std::string> parse_boot_record(std::string_view json_text, const std::filesystem::path& file);
// JSON, format_version 1; parse_boot_record(format_boot_record(r)) == r for any record it accepts.
std::string format_boot_record(const BootRecord& record);

std::filesystem::path firmware_directory(const std::filesystem::path& state_dir);  // state_dir/"firmware"
std::filesystem::path slot_directory(const std::filesystem::path& state_dir, Slot slot);
// The copy of meter-state.json taken at activation and put back by a fallback.
std::filesystem::path pre_trial_state_file(const std::filesystem::path& state_dir);

// nullopt when there is no boot.json yet (a meter that never booted under a supervisor).
proto::Result<std::optional<BootRecord>, std::string> load_boot_record(const std::filesystem::path& state_dir);
// Creates the firmware directory if needed; atomic replace with fsync.
proto::Result<proto::Ok, std::string> save_boot_record(const std::filesystem::path& state_dir,
                                                       const BootRecord& record);

// An exclusive flock on <state>/firmware/boot.lock, released when this goes out of scope
// (or when the process dies, so a crash never leaves the record locked).
class BootRecordLock {
 public:
  explicit BootRecordLock(int fd) : fd_(fd) {}
  BootRecordLock(BootRecordLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  BootRecordLock& operator=(BootRecordLock&& other) noexcept;
  BootRecordLock(const BootRecordLock&) = delete;
  BootRecordLock& operator=(const BootRecordLock&) = delete;
  ~BootRecordLock();

 private:
  int fd_;
};

// Waits for the lock; holders only read and write one small file.
proto::Result<BootRecordLock, std::string> lock_boot_record(const std::filesystem::path& state_dir);

}  // namespace meterd
