#pragma once
// One thread that runs password hashing (scrypt at the OWASP cost takes a few hundred
// milliseconds and 128 MiB), so the I/O thread keeps serving Modbus and other clients
// meanwhile. One thread bounds the memory; a bounded queue bounds the backlog a flood
// of logins can build (a full queue is answered "busy" at once).

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace meterd {

inline constexpr std::size_t k_default_password_queue = 64;

class PasswordWorker {
 public:
  explicit PasswordWorker(std::size_t max_queued = k_default_password_queue);
  ~PasswordWorker();  // finishes the job in hand, drops the rest, joins
  PasswordWorker(const PasswordWorker&) = delete;
  PasswordWorker& operator=(const PasswordWorker&) = delete;

  // Runs `job` on the worker thread. False when the queue is full or stopping.
  bool submit(std::function<void()> job);

 private:
  void run();

  std::size_t max_queued_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace meterd
