#include "libsec/openssl_handles.hpp"

#include <openssl/err.h>

namespace sec {

std::string take_openssl_errors() {
  std::string text;
  while (const unsigned long code = ERR_get_error()) {
    char reason[256];
    ERR_error_string_n(code, reason, sizeof reason);
    if (!text.empty()) text += "; ";
    text += reason;
  }
  return text.empty() ? std::string("no detail from OpenSSL") : text;
}

}  // namespace sec
