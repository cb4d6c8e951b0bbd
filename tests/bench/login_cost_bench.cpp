// Login cost benchmark: what one password check costs a meter, in time and memory, with
// libsec's scrypt (libsec/password_hash.hpp), for the default and the fleet parameters.
//
// For each parameter set it measures
//   hash_password           a new PHC string (what setting a password costs)
//   verify (known user)     verify_password against a stored hash (what a login costs)
//   verify (unknown user)   verify_password against unknown_user_hash(): must cost the same
//   EVP_PBE_scrypt          the reference: OpenSSL's scrypt called directly with the same
//                           parameters, salt size, output size and maxmem
// Time: the median, minimum and maximum of --runs runs after one unmeasured warm-up run;
// each round runs the operations in a rotated order, so slow drift in the machine's load
// does not always favour the same one.
// Memory: the peak resident memory of one operation, measured in a forked child that does
// only that operation: the child's ru_maxrss from wait4() minus the ru_maxrss the child
// read from getrusage() before starting (its inherited baseline). Median of three children.
// The peak includes a floor that any scrypt call touches, whatever its parameters; the
// header line gives it, measured with the smallest scrypt (N=2 r=1 p=1).
// Ratios are given of the medians and of the minimums: on a loaded machine the minimum is
// the steadier estimate of what the code itself costs.
//
// The ratios ours/reference should be about 1.00: libsec adds a KDF fetch, a salt from
// RAND_bytes and the PHC formatting around the same OpenSSL scrypt.
//
// It prints a table, then one JSON line per measurement. Run through scripts/bench-login.
//
// Usage: login_cost_bench [--runs N] [--fleet-runs N]
//   --runs N        timed runs per operation at the default parameters (default 7)
//   --fleet-runs N  timed runs per operation at the fleet parameters (default 31)
//
// Exit status: 0 clean run, 1 an operation failed, 2 usage error.

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/opensslv.h>

#include <malloc.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <functional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "libsec/password_hash.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using Operation = std::function<bool()>;

constexpr int k_memory_children = 3;
constexpr std::string_view k_password = "Meter-Operator-7";

struct Options {
  int runs = 7;
  int fleet_runs = 31;
};

struct Figures {
  std::string operation;
  std::vector<double> milliseconds;
  long peak_kib = -1;  // -1: not measured
};

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const std::size_t middle = values.size() / 2;
  return values.size() % 2 ? values[middle] : (values[middle - 1] + values[middle]) / 2;
}

double minimum(const std::vector<double>& values) { return *std::min_element(values.begin(), values.end()); }

long median(std::vector<long> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

std::optional<double> time_once_ms(const Operation& operation) {
  const auto started = Clock::now();
  const bool ok = operation();
  const auto elapsed = Clock::now() - started;
  if (!ok) return std::nullopt;
  return std::chrono::duration<double, std::milli>(elapsed).count();
}

// The peak resident memory one run of `operation` adds, in KiB, or -1 if the child failed.
// The parent has no other threads here, so the child may call OpenSSL after fork().
long peak_kib_in_child(const Operation& operation) {
  // The child starts with the parent's resident pages as its baseline (ru_maxrss is a
  // high-water mark). Freed heap blocks of earlier runs are resident too, and a hash in
  // the child would reuse them without raising the mark. malloc_trim hands them back
  // (madvise) first, so the child's hash touches fresh pages and the mark counts all of
  // the memory one hash needs.
  malloc_trim(0);
  int channel[2];
  if (pipe(channel) != 0) return -1;
  const pid_t child = fork();
  if (child < 0) {
    close(channel[0]);
    close(channel[1]);
    return -1;
  }
  if (child == 0) {
    close(channel[0]);
    rusage before{};
    getrusage(RUSAGE_SELF, &before);
    const bool ok = operation();
    const long baseline = before.ru_maxrss;
    const bool sent = write(channel[1], &baseline, sizeof baseline) == static_cast<ssize_t>(sizeof baseline);
    _exit(ok && sent ? 0 : 1);
  }
  close(channel[1]);
  long baseline = 0;
  const bool received = read(channel[0], &baseline, sizeof baseline) == static_cast<ssize_t>(sizeof baseline);
  close(channel[0]);
  int status = 0;
  rusage usage{};
  if (wait4(child, &status, 0, &usage) != child) return -1;
  if (!received || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return -1;
  return usage.ru_maxrss - baseline;
}

std::string fixed(double value, int decimals) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.*f", decimals, value);
  return buffer;
}

std::string json_escape(std::string_view text) {
  std::string escaped;
  for (const char c : text) {
    if (c == '"' || c == '\\') escaped += '\\';
    escaped += c;
  }
  return escaped;
}

struct ParamsReport {
  std::string name;
  sec::ScryptParams params;
  std::vector<Figures> figures;  // hash, verify known, verify unknown, reference
};

// Runs every measurement for one parameter set. Returns false if an operation failed.
bool measure(const std::string& name, sec::ScryptParams params, int runs, ParamsReport& report) {
  report = ParamsReport{name, params, {}};
  const auto stored = sec::hash_password(k_password, params);
  if (!stored) {
    std::fprintf(stderr, "login_cost_bench: hash_password failed: %s\n", std::string(sec::to_string(stored.error())).c_str());
    return false;
  }
  const std::string decoy = sec::unknown_user_hash(params);
  const std::uint64_t n = std::uint64_t{1} << params.log2_n;
  const std::uint64_t max_memory = sec::scrypt_memory_bytes(params);
  const std::array<unsigned char, sec::k_salt_bytes> reference_salt{0x6d, 0x65, 0x74, 0x65, 0x72, 0x63, 0x74, 0x6c,
                                                                    0x2d, 0x62, 0x65, 0x6e, 0x63, 0x68, 0x00, 0x01};

  const std::vector<std::pair<std::string, Operation>> operations{
      {"hash_password", [&] { return static_cast<bool>(sec::hash_password(k_password, params)); }},
      {"verify (known user)", [&] { return sec::verify_password(k_password, *stored); }},
      {"verify (unknown user)", [&] { return !sec::verify_password(k_password, decoy); }},
      {"EVP_PBE_scrypt (reference)",
       [&] {
         std::array<unsigned char, sec::k_hash_bytes> key{};
         const bool ok = EVP_PBE_scrypt(k_password.data(), k_password.size(), reference_salt.data(),
                                        reference_salt.size(), n, params.r, params.p, max_memory, key.data(),
                                        key.size()) == 1;
         OPENSSL_cleanse(key.data(), key.size());
         return ok;
       }},
  };
  for (const auto& [operation_name, operation] : operations) {
    report.figures.push_back(Figures{operation_name, {}, -1});
    if (!operation()) {  // warm-up: loads the provider, faults in the code
      std::fprintf(stderr, "login_cost_bench: %s failed\n", operation_name.c_str());
      return false;
    }
  }
  for (int round = 0; round < runs; ++round) {
    for (std::size_t step = 0; step < operations.size(); ++step) {
      const std::size_t which = (static_cast<std::size_t>(round) + step) % operations.size();
      const auto elapsed = time_once_ms(operations[which].second);
      if (!elapsed) {
        std::fprintf(stderr, "login_cost_bench: %s failed\n", operations[which].first.c_str());
        return false;
      }
      report.figures[which].milliseconds.push_back(*elapsed);
    }
  }
  // Memory of setting a password, of a login, and of the reference; the unknown-user
  // verification runs the same code as a login.
  for (const std::size_t which : {std::size_t{0}, std::size_t{1}, std::size_t{3}}) {
    std::vector<long> peaks;
    for (int i = 0; i < k_memory_children; ++i) {
      const long peak = peak_kib_in_child(operations[which].second);
      if (peak < 0) {
        std::fprintf(stderr, "login_cost_bench: memory run of %s failed\n", operations[which].first.c_str());
        return false;
      }
      peaks.push_back(peak);
    }
    report.figures[which].peak_kib = median(peaks);
  }
  return true;
}

bool parse_count(std::string_view text, int& out) {
  int value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || value < 1 || value > 10000) return false;
  out = value;
  return true;
}

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string one, five, fifteen;
  if (!(in >> one >> five >> fifteen)) return "unknown";
  return one + " " + five + " " + fifteen;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string_view argument = argv[i];
    const bool has_value = i + 1 < argc;
    if (argument == "--runs" && has_value && parse_count(argv[i + 1], options.runs)) {
      ++i;
    } else if (argument == "--fleet-runs" && has_value && parse_count(argv[i + 1], options.fleet_runs)) {
      ++i;
    } else if (argument == "-h" || argument == "--help") {
      std::printf("login_cost_bench [--runs N] [--fleet-runs N]\n");
      return 0;
    } else {
      std::fprintf(stderr, "login_cost_bench: bad argument '%s' (usage: login_cost_bench [--runs N] [--fleet-runs N])\n",
                   argv[i]);
      return 2;
    }
  }

  std::printf("login cost benchmark: libsec scrypt (EVP_KDF \"SCRYPT\") against EVP_PBE_scrypt\n");
  std::printf("  library: %s\n", OpenSSL_version(OPENSSL_VERSION));
  std::printf("  host:    %u CPUs, load average %s before the run\n", std::thread::hardware_concurrency(),
              load_average().c_str());
  std::printf("  runs:    %d at the default parameters, %d at the fleet parameters (median, min, max);"
              " memory: median of %d forked children\n",
              options.runs, options.fleet_runs, k_memory_children);

  // Any scrypt call, however small, touches some heap OpenSSL keeps (provider and method
  // caches, the KDF context). Measured with the smallest scrypt there is, it is the part
  // of each peak below that does not depend on the parameters.
  const Operation smallest_scrypt = [] {
    std::array<unsigned char, sec::k_hash_bytes> key{};
    const std::array<unsigned char, sec::k_salt_bytes> salt{};
    return EVP_PBE_scrypt("x", 1, salt.data(), salt.size(), 2, 1, 1, 0, key.data(), key.size()) == 1;
  };
  if (!smallest_scrypt()) {
    std::fprintf(stderr, "login_cost_bench: EVP_PBE_scrypt failed\n");
    return 1;
  }
  std::vector<long> floor_peaks;
  for (int i = 0; i < k_memory_children; ++i) floor_peaks.push_back(peak_kib_in_child(smallest_scrypt));
  const long floor_kib = median(floor_peaks);
  if (floor_kib < 0) {
    std::fprintf(stderr, "login_cost_bench: memory run of the smallest scrypt failed\n");
    return 1;
  }
  std::printf("  memory:  each peak includes a floor of %s MiB that any scrypt call touches"
              " (EVP_PBE_scrypt at N=2 r=1 p=1)\n\n",
              fixed(floor_kib / 1024.0, 1).c_str());

  std::vector<ParamsReport> reports(2);
  if (!measure("default", sec::k_default_scrypt, options.runs, reports[0]) ||
      !measure("fleet", sec::k_fleet_scrypt, options.fleet_runs, reports[1])) {
    return 1;
  }

  std::printf("%-8s %-32s %-28s %10s %10s %10s %10s\n", "params", "", "operation", "median ms", "min ms", "max ms",
              "peak MiB");
  for (const ParamsReport& report : reports) {
    bool first = true;
    for (const Figures& figures : report.figures) {
      const auto [low, high] = std::minmax_element(figures.milliseconds.begin(), figures.milliseconds.end());
      std::printf("%-8s %-32s %-28s %10s %10s %10s %10s\n", first ? report.name.c_str() : "",
                  first ? sec::describe(report.params).c_str() : "", figures.operation.c_str(),
                  fixed(median(figures.milliseconds), 2).c_str(), fixed(*low, 2).c_str(), fixed(*high, 2).c_str(),
                  figures.peak_kib < 0 ? "-" : fixed(figures.peak_kib / 1024.0, 1).c_str());
      first = false;
    }
    const Figures& ours = report.figures[0];
    const Figures& login = report.figures[1];
    const Figures& unknown = report.figures[2];
    const Figures& reference = report.figures[3];
    const auto ratio = [](const Figures& a, const Figures& b) {
      return fixed(median(a.milliseconds) / median(b.milliseconds), 2) + "x (min " +
             fixed(minimum(a.milliseconds) / minimum(b.milliseconds), 2) + "x)";
    };
    const auto memory_ratio = [](const Figures& a, const Figures& b) {
      return fixed(static_cast<double>(a.peak_kib) / static_cast<double>(b.peak_kib), 2) + "x";
    };
    std::printf("%-8s %-32s ours/reference: hash time %s, login time %s, hash memory %s, login memory %s\n", "",
                "", ratio(ours, reference).c_str(), ratio(login, reference).c_str(),
                memory_ratio(ours, reference).c_str(), memory_ratio(login, reference).c_str());
    std::printf("%-8s %-32s unknown/known user login time %s\n\n", "", "", ratio(unknown, login).c_str());
  }

  std::printf("{\"measurement\": \"login_cost_memory_floor\", \"operation\": \"EVP_PBE_scrypt N=2 r=1 p=1\", "
              "\"peak_kib\": %ld}\n",
              floor_kib);
  for (const ParamsReport& report : reports) {
    for (const Figures& figures : report.figures) {
      const auto [low, high] = std::minmax_element(figures.milliseconds.begin(), figures.milliseconds.end());
      std::printf("{\"measurement\": \"login_cost\", \"params\": \"%s\", \"log2_n\": %d, \"r\": %u, \"p\": %u, "
                  "\"operation\": \"%s\", \"runs\": %zu, \"median_ms\": %s, \"min_ms\": %s, \"max_ms\": %s, "
                  "\"peak_kib\": %s}\n",
                  report.name.c_str(), report.params.log2_n, report.params.r, report.params.p,
                  json_escape(figures.operation).c_str(), figures.milliseconds.size(),
                  fixed(median(figures.milliseconds), 3).c_str(), fixed(*low, 3).c_str(), fixed(*high, 3).c_str(),
                  figures.peak_kib < 0 ? "null" : std::to_string(figures.peak_kib).c_str());
    }
  }
  return 0;
}
