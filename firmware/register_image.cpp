#include "firmware/register_image.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace meterd {

using proto::model::RegisterEntry;
using proto::model::RegisterSource;

RegisterImage::RegisterImage(const proto::model::RegisterMap& map) {
  for (const auto& entry : map.entries()) {
    const bool continues = !segments_.empty() &&
                           segments_.back().first_address + segments_.back().words.size() == entry.address() &&
                           segments_.back().entries.back()->block == entry.block;
    if (!continues) segments_.push_back(Segment{entry.address(), {}, {}});
    auto& segment = segments_.back();
    segment.words.resize(segment.words.size() + entry.count, 0);
    segment.entries.push_back(&entry);
  }
}

void RegisterImage::refresh(const proto::model::Measurements& measurements, const MeterState& state) {
  using proto::codec::encode_number;
  using proto::codec::WordOrder;
  // Modbus has no "not available" value; PowerLogic maps use NaN for it.
  constexpr double not_available = std::numeric_limits<double>::quiet_NaN();
  for (auto& segment : segments_) {
    for (const auto* entry : segment.entries) {
      double value = not_available;
      switch (entry->source) {
        case RegisterSource::measurement: value = measurements[entry->point] * entry->scale; break;
        case RegisterSource::unix_time: value = std::floor(measurements.unix_time); break;
        case RegisterSource::peak_demand_time: value = std::floor(measurements.peak_demand_unix_time); break;
        case RegisterSource::config: value = static_cast<double>(state.setting(entry->setting)); break;
        case RegisterSource::reserved: value = not_available; break;
      }
      const auto words = encode_number(value, entry->type, WordOrder::big);
      const auto offset = static_cast<std::size_t>(entry->address() - segment.first_address);
      std::copy_n(words.begin(), std::min<std::size_t>(words.size(), entry->count), segment.words.begin() + offset);
    }
  }
}

const RegisterImage::Segment* RegisterImage::segment_containing(std::uint16_t address) const {
  auto it = std::upper_bound(segments_.begin(), segments_.end(), address,
                             [](std::uint16_t value, const Segment& segment) { return value < segment.first_address; });
  if (it == segments_.begin()) return nullptr;
  --it;
  if (address >= it->first_address + it->words.size()) return nullptr;
  return &*it;
}

bool RegisterImage::read(std::uint16_t address, std::span<std::uint16_t> out) const {
  const auto* segment = segment_containing(address);
  if (!segment) return false;
  const std::size_t offset = address - segment->first_address;
  if (offset + out.size() > segment->words.size()) return false;
  std::copy_n(segment->words.begin() + static_cast<std::ptrdiff_t>(offset), out.size(), out.begin());
  return true;
}

std::optional<std::vector<const RegisterEntry*>> RegisterImage::entries_covering(std::uint16_t address,
                                                                                 std::uint16_t quantity) const {
  const auto* segment = segment_containing(address);
  if (!segment) return std::nullopt;
  std::vector<const RegisterEntry*> covered;
  std::size_t next = address;
  const std::size_t end = static_cast<std::size_t>(address) + quantity;
  for (const auto* entry : segment->entries) {
    if (entry->address() + entry->count <= next) continue;
    if (entry->address() != next) return std::nullopt;  // starts inside an entry
    covered.push_back(entry);
    next += entry->count;
    if (next >= end) break;
  }
  if (next != end) return std::nullopt;  // ends inside an entry or past the block
  return covered;
}

}  // namespace meterd
