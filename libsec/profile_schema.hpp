#pragma once
// Validation of a profile document against the JSON Schema shipped in
// profiles/schema/meter-profile.schema.json (embedded at build time), with valijson
// reading yaml-cpp nodes directly. Editors with a YAML language server use the same
// schema, so what they underline is what `meterctl config validate` refuses.

#include <string>
#include <string_view>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "libsec/profile_rules.hpp"

namespace sec {

// The schema text, as shipped.
std::string_view meter_profile_schema();

// Every schema violation of `document`, located at the offending node ("file:line:col").
std::vector<ProfileProblem> validate_profile_schema(const YAML::Node& document, std::string_view file_name);

}  // namespace sec
