#pragma once
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "libproto/model/embedded_file.hpp"

namespace meterd::embedded_scenarios {

// profiles/scenarios/*.yaml, compiled in so meterd runs without any file installed.
std::span<const proto::model::EmbeddedFile> embedded_files();

inline constexpr std::string_view k_default_scenario = "steady-state";

}  // namespace meterd::embedded_scenarios
