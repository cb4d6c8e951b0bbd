#include "firmware/state_writer.hpp"

#include "firmware/log.hpp"

namespace meterd {

StateWriter::StateWriter() : thread_([this] { run(); }) {}

StateWriter::~StateWriter() {
  {
    std::lock_guard lock(queue_mutex_);
    stopping_ = true;
  }
  queue_changed_.notify_all();
  thread_.join();
}

void StateWriter::save_later(const std::filesystem::path& directory, MeterState snapshot) {
  {
    std::lock_guard lock(queue_mutex_);
    queued_[directory] = Queued{std::move(snapshot), next_sequence_++};
  }
  queue_changed_.notify_all();
}

proto::Result<proto::Ok, std::string> StateWriter::save_now(const std::filesystem::path& directory,
                                                            const MeterState& snapshot) {
  std::uint64_t sequence = 0;
  {
    std::lock_guard lock(queue_mutex_);
    sequence = next_sequence_++;
    queued_.erase(directory);  // older than this one by construction
  }
  return write(directory, snapshot, sequence);
}

void StateWriter::flush() {
  std::unique_lock lock(queue_mutex_);
  queue_changed_.wait(lock, [this] { return queued_.empty() && !writing_; });
}

proto::Result<proto::Ok, std::string> StateWriter::write(const std::filesystem::path& directory,
                                                         const MeterState& snapshot, std::uint64_t sequence) {
  std::lock_guard lock(write_mutex_);
  auto& written = written_sequence_[directory];
  if (sequence < written) return proto::Ok{};  // a newer snapshot is on disk already
  auto saved = save_meter_state(directory, snapshot);
  if (saved) written = sequence;
  return saved;
}

void StateWriter::run() {
  std::unique_lock lock(queue_mutex_);
  while (true) {
    queue_changed_.wait(lock, [this] { return stopping_ || !queued_.empty(); });
    if (queued_.empty()) return;  // stopping, and nothing left to write
    auto entry = queued_.extract(queued_.begin());
    writing_ = true;
    lock.unlock();
    if (auto saved = write(entry.key(), entry.mapped().snapshot, entry.mapped().sequence); !saved) {
      log::error("meter.save_failed", {{"serial", entry.mapped().snapshot.serial_number}, {"reason", saved.error()}});
    }
    lock.lock();
    writing_ = false;
    queue_changed_.notify_all();
  }
}

StateWriter& state_writer() {
  static StateWriter writer;
  return writer;
}

}  // namespace meterd
