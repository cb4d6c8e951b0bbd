#include "libproto/model/measurement.hpp"

namespace proto::model {

std::optional<Point> find_point(std::string_view name) {
  for (const auto& point_info : k_points) {
    if (point_info.name == name) return point_info.point;
  }
  return std::nullopt;
}

}  // namespace proto::model
