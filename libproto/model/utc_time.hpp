#pragma once
// Meter clock values as people read them.

#include <string>

namespace proto::model {

// "2026-11-21T12:00:00Z" for a Unix time (seconds since 1970-01-01 UTC, fraction dropped).
std::string iso_utc(double unix_time);

}  // namespace proto::model
