#pragma once

// What a TLS client trusts and who it is: the settings of tls_context (io/tls_stream.hpp). Apart
// from the stream so that configuration structs (a Pulsar client's, say) can carry them in builds
// without OpenSSL, where asking for TLS then fails with a clear error.

#include <string>

namespace sluice {

/// How TLS clients verify servers, and who they are themselves. The defaults verify: the chain
/// against the system's trusted CAs and the certificate's names against the host.
struct tls_options {
    /// PEM file of trusted CA certificates. With ca_dir also empty: the system's trusted CAs.
    std::string ca_file{};
    /// Directory of trusted CA certificates named by subject hash (`openssl rehash DIR`).
    std::string ca_dir{};
    /// Client certificate chain (PEM) for servers that ask for one; empty: none.
    std::string cert_file{};
    /// The client certificate's private key (PEM, unencrypted). Its path may appear in errors, its
    /// content never.
    std::string key_file{};
    /// INSECURE: accept any certificate, trusted or not, for any name. Anyone on the path can then
    /// read and change the traffic. Only for a test or a network you trust completely.
    bool insecure_skip_verify = false;
    /// INSECURE: verify the chain but accept a certificate issued for any name, so any holder of a
    /// certificate from a trusted CA can pose as the server.
    bool insecure_skip_hostname_check = false;
};

} // namespace sluice
