#pragma once
// The reader of a security document's sections, shared by the SecurityConfiguration
// document (security_document.cpp) and a meter profile's `security:` section
// (meter_profile.cpp), so both accept exactly the same keys and values and say the same
// things about them. Internal to libsec: callers outside it use parse_security_document
// or parse_meter_profile.
//
// Both functions throw proto::model::YamlFieldError, located at the offending node;
// the public parsers turn it into their Result.

#include "libproto/model/yaml_document.hpp"
#include "libsec/security_document.hpp"

namespace sec::detail {

enum class SecurityKeys {
  // A SecurityConfiguration document: the sections sit at the top, next to apiVersion
  // and kind, and the options include modbus_access, time_sync and web_server.
  document,
  // A profile's `security:` map: no apiVersion or kind, and modbus_access, time_sync,
  // web_server and event_priorities are refused with the place the profile gives them
  // (meter_profile.hpp). Contexts in messages read "security.policy", not "policy".
  profile,
};

// Refuses keys that are not sections of `keys`' kind of map.
void check_security_keys(const proto::model::YamlMap& map, SecurityKeys keys);

// Reads every section present in `map` into `document`; keys left out stay as they are.
void read_security_sections(const proto::model::YamlMap& map, SecurityKeys keys, SecurityDocument& document);

}  // namespace sec::detail
