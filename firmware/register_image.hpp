#pragma once
// The meter's Modbus registers as served: the register map laid out in contiguous
// segments, re-encoded from the latest measurements at every tick, so a request is
// answered by copying words.

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "firmware/meter_state.hpp"
#include "libproto/model/measurement.hpp"
#include "libproto/model/register_map.hpp"

namespace meterd {

class RegisterImage {
 public:
  explicit RegisterImage(const proto::model::RegisterMap& map);

  void refresh(const proto::model::Measurements& measurements, const MeterState& state);

  // Copies `out.size()` registers starting at a zero-based address; false when any of
  // them is unmapped or the range crosses from one block into another.
  bool read(std::uint16_t address, std::span<std::uint16_t> out) const;

  // The entries that exactly tile [address, address + quantity): a write must start and
  // end on entry boundaries. nullopt otherwise.
  std::optional<std::vector<const proto::model::RegisterEntry*>> entries_covering(std::uint16_t address,
                                                                                  std::uint16_t quantity) const;

 private:
  struct Segment {
    std::uint16_t first_address = 0;
    std::vector<std::uint16_t> words;
    std::vector<const proto::model::RegisterEntry*> entries;
  };

  const Segment* segment_containing(std::uint16_t address) const;

  std::vector<Segment> segments_;
};

}  // namespace meterd
