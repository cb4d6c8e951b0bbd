#pragma once
// Deterministic noise: a value is a pure function of (seed, stream, time bucket). There is
// no generator state, so the noise at meter time t is the same whether the engine reached
// t in one step or a thousand, after a restart, or on another machine.

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace meterd::simulation {

// The finaliser of splitmix64 (Steele, Lea, Flood: "Fast splittable pseudorandom number
// generators", OOPSLA 2014): a bijection on 64 bits in which every input bit affects every
// output bit, so consecutive buckets and streams give unrelated values.
constexpr std::uint64_t mix64(std::uint64_t value) {
  value += 0x9e3779b97f4a7c15ULL;
  value = (value ^ (value >> 30)) * 0xbf58476d1ce4e5b9ULL;
  value = (value ^ (value >> 27)) * 0x94d049bb133111ebULL;
  return value ^ (value >> 31);
}

// The per-(seed, stream) part of the hash, which callers on a hot path compute once.
// Chained rather than XORed together, so (seed, stream) pairs with the same XOR differ.
constexpr std::uint64_t noise_stream_key(std::uint64_t seed, std::uint64_t stream) {
  return mix64(mix64(seed) ^ stream);
}

// Zero mean, unit variance, approximately Gaussian: the sum of four independent uniforms
// taken from the four 16-bit quarters of one hash (Irwin-Hall, n = 4). Bounded to
// +-2*sqrt(3) (about 3.46 sigma), which suits measurement noise: no absurd outliers, and no
// logarithms or cosines on the integration path.
constexpr double standard_noise_for_key(std::uint64_t stream_key, std::int64_t bucket) {
  constexpr double k_quarter_scale = 1.0 / 65536.0;
  constexpr double k_unit_variance_scale = 1.7320508075688772;  // sqrt(12 / 4)
  const std::uint64_t hash = mix64(stream_key ^ static_cast<std::uint64_t>(bucket));
  double sum = 0.0;
  for (int shift = 0; shift < 64; shift += 16) {
    // +0.5 centres each quarter in its cell, so each uniform has mean exactly 1/2.
    sum += (static_cast<double>((hash >> shift) & 0xffffU) + 0.5) * k_quarter_scale;
  }
  return (sum - 2.0) * k_unit_variance_scale;
}

// standard_noise_for_key(noise_stream_key(seed, stream), bucket), for callers off the hot path.
constexpr double standard_noise(std::uint64_t seed, std::uint64_t stream, std::int64_t bucket) {
  return standard_noise_for_key(noise_stream_key(seed, stream), bucket);
}

// The bucket that meter time t falls into when noise holds each value for period_s (> 0).
// Absurd or non-finite times map to a bucket too rather than overflow the conversion.
inline std::int64_t noise_bucket(double unix_time, double period_s) {
  constexpr double k_max_bucket = 1e18;  // below 2^63
  const double bucket = std::floor(unix_time / period_s);
  if (!(bucket > -k_max_bucket)) return bucket < 0.0 ? -static_cast<std::int64_t>(k_max_bucket) : 0;
  return static_cast<std::int64_t>(std::min(bucket, k_max_bucket));
}

}  // namespace meterd::simulation
