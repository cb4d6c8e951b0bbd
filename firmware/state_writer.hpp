#pragma once
// Writes meter state files off the I/O thread. A file write ends in two fsyncs, which can
// take milliseconds each; a fleet saving every few seconds on the I/O thread would hold up
// every client. Periodic saves are queued here and written by a thread of their own;
// saves that must be durable before the meter answers (a configuration write) are
// written at once. Every snapshot carries a sequence number, so an older snapshot never
// replaces a newer one on disk, whichever thread writes last.

#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "firmware/meter_state.hpp"

namespace meterd {

class StateWriter {
 public:
  StateWriter();
  ~StateWriter();  // writes what is queued, then stops
  StateWriter(const StateWriter&) = delete;
  StateWriter& operator=(const StateWriter&) = delete;

  // Queues a snapshot; it replaces a queued older snapshot of the same directory.
  void save_later(const std::filesystem::path& directory, MeterState snapshot);
  // Writes on the caller's thread and returns once the file is durable.
  proto::Result<proto::Ok, std::string> save_now(const std::filesystem::path& directory, const MeterState& snapshot);
  // Returns once everything queued so far is written.
  void flush();

 private:
  struct Queued {
    MeterState snapshot;
    std::uint64_t sequence;
  };

  void run();
  proto::Result<proto::Ok, std::string> write(const std::filesystem::path& directory, const MeterState& snapshot,
                                              std::uint64_t sequence);

  std::mutex queue_mutex_;
  std::condition_variable queue_changed_;
  std::map<std::filesystem::path, Queued> queued_;
  std::uint64_t next_sequence_ = 1;
  bool writing_ = false;
  bool stopping_ = false;

  std::mutex write_mutex_;  // one file write at a time
  std::map<std::filesystem::path, std::uint64_t> written_sequence_;

  std::thread thread_;
};

// The process's writer, started on first use.
StateWriter& state_writer();

}  // namespace meterd
