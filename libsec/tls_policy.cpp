#include "libsec/tls_policy.hpp"

#include <openssl/x509_vfy.h>

#include "libsec/meter_address.hpp"
#include "libsec/openssl_handles.hpp"
#include "libsec/pem_files.hpp"

namespace sec {

namespace {

using Context = boost::asio::ssl::context;
using ContextResult = proto::Result<std::shared_ptr<Context>, std::string>;

// Pinning mode: the chain is not what authenticates the meter (a generated certificate is
// self-signed and names the meter by serial number, not by the address used), its public
// key is, and the caller checks that after the handshake (see make_client_tls_context).
// Being a distinct function also lets requires_pin_check recognise the mode.
int accept_chain_for_pin_check(int, X509_STORE_CTX*) { return 1; }

// CA mode: OpenSSL's verdict on the chain and the name stands, and an end-entity
// certificate verified without any expected name fails: otherwise forgetting
// set_expected_peer_name would quietly accept any certificate the CA ever issued.
int require_verified_chain_and_name(int preverified, X509_STORE_CTX* store) {
  if (preverified == 0) return 0;
  if (X509_STORE_CTX_get_error_depth(store) != 0) return 1;
  X509_VERIFY_PARAM* parameters = X509_STORE_CTX_get0_param(store);
  const OpensslStringHandle ip(X509_VERIFY_PARAM_get1_ip_asc(parameters));
  if (X509_VERIFY_PARAM_get0_host(parameters, 0) != nullptr || ip != nullptr) return 1;
  X509_STORE_CTX_set_error(store, X509_V_ERR_APPLICATION_VERIFICATION);
  return 0;
}

// The policy both sides share.
proto::Result<proto::Ok, std::string> apply_policy(SSL_CTX* context, std::uint64_t options) {
  SSL_CTX_set_security_level(context, k_tls_security_level);
  // Each setter returns 1 on success; a cipher or group the OpenSSL build lacks fails here,
  // when the context is made, rather than in the first handshake.
  const bool applied = SSL_CTX_set_min_proto_version(context, k_tls_min_version) == 1 &&
                       SSL_CTX_set_max_proto_version(context, k_tls_max_version) == 1 &&
                       SSL_CTX_set_cipher_list(context, k_tls12_cipher_list) == 1 &&
                       SSL_CTX_set_ciphersuites(context, k_tls13_ciphersuites) == 1 &&
                       SSL_CTX_set1_groups_list(context, k_tls_groups) == 1;
  if (!applied) return proto::unexpected("cannot apply the TLS policy: " + take_openssl_errors());
  // set_options adds to what the method and openssl.cnf set; clear_options removes the one
  // option of ours that a configuration file could have turned the other way.
  SSL_CTX_clear_options(context, SSL_OP_ALLOW_CLIENT_RENEGOTIATION);
  SSL_CTX_set_options(context, options);
  SSL_CTX_set_session_cache_mode(context, SSL_SESS_CACHE_OFF);
  return proto::Ok{};
}

ContextResult new_context(Context::method method) {
  // Asio reports a failed SSL_CTX_new by throwing; libsec reports errors as results.
  try {
    return std::make_shared<Context>(method);
  } catch (const std::exception& error) {
    return proto::unexpected(std::string("cannot create a TLS context: ") + error.what() + " (" +
                             take_openssl_errors() + ")");
  }
}

}  // namespace

ContextResult make_server_tls_context(const std::filesystem::path& certificate, const std::filesystem::path& key) {
  auto context = new_context(Context::tls_server);
  if (!context) return context;
  SSL_CTX* handle = (*context)->native_handle();
  if (auto applied = apply_policy(handle, k_tls_server_options); !applied) return proto::unexpected(applied.error());
  // TLS 1.3 sends session tickets regardless of SSL_OP_NO_TICKET unless told to send none.
  SSL_CTX_set_num_tickets(handle, 0);
  SSL_CTX_set_verify(handle, SSL_VERIFY_NONE, nullptr);

  const auto chain = load_certificate_chain_pem(certificate);
  if (!chain) return proto::unexpected(chain.error());
  const auto private_key = load_private_key_pem(key);
  if (!private_key) return proto::unexpected(private_key.error());
  // After the security level is set, so a key too weak for the policy is refused here.
  if (SSL_CTX_use_certificate(handle, chain->front().get()) != 1) {
    return proto::unexpected("cannot use " + certificate.string() + ": " + take_openssl_errors());
  }
  for (std::size_t i = 1; i < chain->size(); ++i) {
    if (SSL_CTX_add1_chain_cert(handle, (*chain)[i].get()) != 1) {
      return proto::unexpected("cannot use the chain in " + certificate.string() + ": " + take_openssl_errors());
    }
  }
  if (SSL_CTX_use_PrivateKey(handle, private_key->get()) != 1 || SSL_CTX_check_private_key(handle) != 1) {
    return proto::unexpected(key.string() + " is not the key of " + certificate.string() + " (" +
                             take_openssl_errors() + ")");
  }
  return context;
}

ContextResult make_client_tls_context(std::optional<std::filesystem::path> ca_file) {
  auto context = new_context(Context::tls_client);
  if (!context) return context;
  SSL_CTX* handle = (*context)->native_handle();
  if (auto applied = apply_policy(handle, k_tls_options); !applied) return proto::unexpected(applied.error());
  if (!ca_file) {
    SSL_CTX_set_verify(handle, SSL_VERIFY_PEER, accept_chain_for_pin_check);
    return context;
  }
  std::error_code error;
  if (!std::filesystem::is_regular_file(*ca_file, error)) {
    return proto::unexpected("CA file " + ca_file->string() + " does not exist or is not a file");
  }
  if (SSL_CTX_load_verify_file(handle, ca_file->c_str()) != 1) {
    return proto::unexpected("CA file " + ca_file->string() + " holds no usable PEM certificate (" +
                             take_openssl_errors() + ")");
  }
  X509_VERIFY_PARAM_set_hostflags(SSL_CTX_get0_param(handle), X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  SSL_CTX_set_verify(handle, SSL_VERIFY_PEER, require_verified_chain_and_name);
  return context;
}

proto::Result<proto::Ok, std::string> set_expected_peer_name(SSL* connection, std::string_view host) {
  if (is_ip_address(host)) {
    if (host.starts_with('[')) host = host.substr(1, host.size() - 2);
    if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(connection), std::string(host).c_str()) != 1) {
      return proto::unexpected("cannot expect address " + std::string(host) + ": " + take_openssl_errors());
    }
    return proto::Ok{};
  }
  // The same validation as the known-meters file; the port does not matter here.
  if (auto valid = canonical_meter_address(host, 1); !valid) return proto::unexpected(valid.error());
  const std::string name(host);
  SSL_set_hostflags(connection, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  if (SSL_set1_host(connection, name.c_str()) != 1 || SSL_set_tlsext_host_name(connection, name.c_str()) != 1) {
    return proto::unexpected("cannot expect host name " + name + ": " + take_openssl_errors());
  }
  return proto::Ok{};
}

bool requires_pin_check(const SSL* connection) {
  return SSL_get_verify_callback(connection) == accept_chain_for_pin_check;
}

bool requires_pin_check(const SSL_CTX* context) {
  return SSL_CTX_get_verify_callback(context) == accept_chain_for_pin_check;
}

}  // namespace sec
