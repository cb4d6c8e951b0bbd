#include "libproto/model/utc_time.hpp"

#include <cmath>
#include <ctime>

namespace proto::model {

std::string iso_utc(double unix_time) {
  const auto seconds = static_cast<std::time_t>(std::floor(unix_time));
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

}  // namespace proto::model
