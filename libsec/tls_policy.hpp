#pragma once
// The TLS policy of meterd's TLS ports and meterctl's connections to them, as configured
// SSL_CTX objects (wrapped in boost::asio::ssl::context). No sockets here: the transport
// creates streams from these contexts.
//
// Policy: Mozilla Server Side TLS, "intermediate" configuration (guidelines v5.7), without
// its finite-field DHE suites: TLS 1.2 and 1.3 only, AEAD suites only, ECDHE over X25519,
// P-256 or P-384, no compression (CRIME), no renegotiation, no session resumption.
//
// Peer verification on the client has two modes and no third: a CA file (chain and name
// verified during the handshake) or a pinned public key (checked right after it, see
// make_client_tls_context). There is deliberately no "do not verify" mode.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

// The project's Asio header first: it works around a GCC 12 problem that any Asio header
// hits. Asio's SSL part is not in it, so it follows.
#include "libproto/transport/asio.hpp"

#include <boost/asio/ssl/context.hpp>
#include <openssl/ssl.h>

#include "libproto/result.hpp"

namespace sec {

inline constexpr int k_tls_min_version = TLS1_2_VERSION;
inline constexpr int k_tls_max_version = TLS1_3_VERSION;
// TLS 1.3 suites (SSL_CTX_set_ciphersuites), in the server's order of preference.
inline constexpr char k_tls13_ciphersuites[] =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
// TLS 1.2 suites (SSL_CTX_set_cipher_list), in the server's order of preference: ECDHE for
// forward secrecy and AEAD only, so no CBC padding oracles (Lucky13, POODLE).
inline constexpr char k_tls12_cipher_list[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
// Key exchange groups (SSL_CTX_set1_groups_list), in order of preference.
inline constexpr char k_tls_groups[] = "X25519:P-256:P-384";
// OpenSSL security level 2 (112-bit security): refuses RSA keys and certificates under
// 2048 bits and SHA-1 signatures, for an operator-installed certificate as well. Set
// explicitly, because OpenSSL 3.0's built-in default is 1 and only Debian's openssl.cnf
// raises it, and a cipher string replaces what that file configured.
inline constexpr int k_tls_security_level = 2;
// Options for both sides. No session tickets (SSL_OP_NO_TICKET, and no TLS 1.3 tickets on
// the server): management sessions are long-lived, resumption saves nothing worth the
// ticket keys it would make us manage.
inline constexpr std::uint64_t k_tls_options = SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET;
// The server picks the suite by its own order above, not the client's.
inline constexpr std::uint64_t k_tls_server_options = k_tls_options | SSL_OP_CIPHER_SERVER_PREFERENCE;

// A server context presenting `certificate` (PEM, end-entity first, optionally followed by
// its chain) with `key` (unencrypted PEM, see ensure_device_certificate). It does not ask
// clients for certificates: clients authenticate with a session login inside the tunnel.
proto::Result<std::shared_ptr<boost::asio::ssl::context>, std::string> make_server_tls_context(
    const std::filesystem::path& certificate, const std::filesystem::path& key);

// A client context.
//
// With a CA file: the peer's chain must verify against the certificates in that file only
// (not the system store: a meter's CA is a site's private CA), and its name must match the
// host the caller connects to, so every connection must call set_expected_peer_name before
// the handshake; a handshake without an expected name fails. A self-signed device
// certificate can itself be the CA file.
//
// Without a CA file (pinning): the context accepts any chain during the handshake, and the
// caller MUST then compare peer_public_key_fingerprint with the known-meters file
// (verify_pin) before sending anything. Why after the handshake and not inside it: the
// decision needs the caller (first contact asks the operator on a terminal or follows
// --accept-new, which cannot happen inside an OpenSSL callback driven by an Asio
// handshake), and a mismatch must be reported with both fingerprints and file:line, which
// a verify callback can only flatten into "certificate verify failed". Nothing is lost by
// waiting: the handshake proves the peer holds the key of the certificate it presented,
// and the client has sent no data yet. requires_pin_check tells the transport which mode
// a connection is in, so it can refuse to proceed without the pin check.
proto::Result<std::shared_ptr<boost::asio::ssl::context>, std::string> make_client_tls_context(
    std::optional<std::filesystem::path> ca_file);

// Sets the name a client connection verifies the peer's certificate against (with a CA
// file) and the SNI server name: a DNS name (SAN dNSName, no partial wildcards), or an
// IPv4/IPv6 address (SAN iPAddress; no SNI, RFC 6066 section 3 allows only names).
proto::Result<proto::Ok, std::string> set_expected_peer_name(SSL* connection, std::string_view host);

// Whether a client connection (or context) is in pinning mode: its handshake accepts any
// chain, and the caller must call verify_pin before trusting the peer.
bool requires_pin_check(const SSL* connection);
bool requires_pin_check(const SSL_CTX* context);

}  // namespace sec
