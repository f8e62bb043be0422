// SigV4 signing benchmark: signed requests per second for a typical SQS SendMessageBatch request
// (POST / with a ~2 KiB JSON body of 10 entries; Host, Content-Type application/x-amz-json-1.0,
// X-Amz-Target AmazonSQS.SendMessageBatch), next to the raw cost of the same cryptography done with
// OpenSSL directly in the same run, and the ratio of the two (target: at most 1.5).
//
//   sign/<creds>      sigv4_signer::sign() into a reused sigv4_result (the steady state of an HTTP
//                     client: signing key cached, buffers grown)
//   raw/<creds>       the minimal crypto work of one signature, on reused OpenSSL 3 contexts: SHA-256
//                     of the body, SHA-256 of a canonical request of the same size, one HMAC-SHA256 of
//                     a string to sign of the same size with an EVP_MAC_CTX already keyed with the
//                     signing key (EVP_MAC_init with a NULL key re-uses it)
//   raw_oneshot/<creds>  the same work with EVP_Digest() and HMAC() one-shot calls, which fetch their
//                     algorithms on every call on OpenSSL 3: what a naive signer pays
//   sign_cold/<creds> sign() with the key cache cleared first: a cache miss (four more HMACs)
//
// <creds> is `keys` (long-term access keys) or `session` (temporary credentials with a 1 KiB session
// token, signed, as on EC2/ECS/Lambda). The ratio sign/raw is printed at the end for each.
// Build it optimised (the `dev` preset is a Debug build): e.g. -DCMAKE_BUILD_TYPE=Release. On a shared
// machine, `--benchmark_repetitions=10 --benchmark_enable_random_interleaving=true` steadies the ratio.

#include <benchmark/benchmark.h>

#include "median_reporter.hpp"

#if SLUICE_HAS_OPENSSL

#include <sluice/aws/sigv4.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/params.h>

namespace {

using namespace std::chrono_literals;

// Ten SendMessageBatch entries of ~200 bytes each: ~2 KiB of JSON, as a collector batch would send.
std::string make_batch_body() {
    std::string body = R"({"QueueUrl":"https://sqs.us-east-1.amazonaws.com/123456789012/sluice-events","Entries":[)";
    for (int i = 0; i < 10; ++i) {
        if (i != 0) body += ',';
        body += R"({"Id":"m)" + std::to_string(i) + R"(","MessageBody":")";
        body += R"({\"ts\":\"2026-03-14T09:26:53.589Z\",\"service\":\"checkout\",\"event\":\"order_placed\",)";
        body += R"(\"region\":\"us-east-1\",\"order\":\"ord-)" + std::to_string(100000 + i) +
                R"(\",\"items\":3,\"amount_cents\":4599}"})";
    }
    body += "]}";
    return body;
}

struct fixture {
    std::string body = make_batch_body();
    sluice::aws::header_list headers{{"Host", "sqs.us-east-1.amazonaws.com"},
                                     {"Content-Type", "application/x-amz-json-1.0"},
                                     {"X-Amz-Target", "AmazonSQS.SendMessageBatch"}};
    sluice::aws::aws_credentials credentials;
    sluice::aws::sigv4_request request;

    explicit fixture(bool with_token) {
        credentials.access_key_id = "ASIAIOSFODNN7EXAMPLE";
        credentials.secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
        if (with_token) {
            // STS session tokens are around 1 KiB of base64.
            for (int i = 0; credentials.session_token.size() < 1024; ++i)
                credentials.session_token += "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQ" + std::to_string(i);
        }
        request.method = "POST";
        request.path = "/";
        request.headers = headers;
        request.body = body;
        request.region = "us-east-1";
        request.service = "sqs";
        request.time = std::chrono::sys_days{std::chrono::year{2026} / 3 / 14} + 9h + 26min + 53s;
    }
};

void sign_bench(benchmark::State& state, bool with_token) {
    const fixture f(with_token);
    sluice::aws::sigv4_signer signer;
    sluice::aws::sigv4_result result;
    for (auto _ : state) {
        signer.sign(f.request, f.credentials, result);
        benchmark::DoNotOptimize(result.signature.data());
        benchmark::ClobberMemory();
    }
    state.counters["body_bytes"] = static_cast<double>(f.body.size());
    state.counters["creq_bytes"] = static_cast<double>(result.canonical_request.size());
    state.SetItemsProcessed(state.iterations());
}

void sign_cold_bench(benchmark::State& state, bool with_token) {
    const fixture f(with_token);
    sluice::aws::sigv4_signer signer;
    sluice::aws::sigv4_result result;
    for (auto _ : state) {
        signer.clear_key_cache();
        signer.sign(f.request, f.credentials, result);
        benchmark::DoNotOptimize(result.signature.data());
    }
    state.SetItemsProcessed(state.iterations());
}

// The canonical request and string to sign the signer produces for this request: the raw baselines
// hash inputs of exactly these sizes.
struct raw_inputs {
    std::string body, canonical_request, string_to_sign;
    unsigned char key[32];
};

raw_inputs make_raw_inputs(bool with_token) {
    const fixture f(with_token);
    sluice::aws::sigv4_signer signer;
    const sluice::aws::sigv4_result result = signer.sign(f.request, f.credentials);
    raw_inputs in{f.body, result.canonical_request, result.string_to_sign, {}};
    for (int i = 0; i < 32; ++i) in.key[i] = static_cast<unsigned char>(i * 7 + 1); // any 32-byte key
    return in;
}

void check(bool ok, const char* what) {
    if (!ok) throw std::runtime_error(std::string("OpenSSL ") + what + " failed");
}

void raw_bench(benchmark::State& state, bool with_token) {
    const raw_inputs in = make_raw_inputs(with_token);
    EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    EVP_MD_CTX* md_ctx = EVP_MD_CTX_new();
    EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    EVP_MAC_CTX* mac_ctx = EVP_MAC_CTX_new(mac);
    char digest_name[] = "SHA256";
    const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name, 0),
                                 OSSL_PARAM_construct_end()};
    check(md && md_ctx && mac && mac_ctx, "setup");
    check(EVP_MAC_init(mac_ctx, in.key, sizeof in.key, params) == 1, "HMAC key");
    unsigned char out[32];
    unsigned int out_size = 0;
    std::size_t mac_size = 0;
    for (auto _ : state) {
        check(EVP_DigestInit_ex2(md_ctx, md, nullptr) == 1, "digest init");
        check(EVP_DigestUpdate(md_ctx, in.body.data(), in.body.size()) == 1, "digest update");
        check(EVP_DigestFinal_ex(md_ctx, out, &out_size) == 1, "digest final");
        benchmark::DoNotOptimize(out);
        check(EVP_DigestInit_ex2(md_ctx, md, nullptr) == 1, "digest init");
        check(EVP_DigestUpdate(md_ctx, in.canonical_request.data(), in.canonical_request.size()) == 1, "update");
        check(EVP_DigestFinal_ex(md_ctx, out, &out_size) == 1, "digest final");
        benchmark::DoNotOptimize(out);
        check(EVP_MAC_init(mac_ctx, nullptr, 0, nullptr) == 1, "HMAC init");
        check(EVP_MAC_update(mac_ctx, reinterpret_cast<const unsigned char*>(in.string_to_sign.data()),
                             in.string_to_sign.size()) == 1,
              "HMAC update");
        check(EVP_MAC_final(mac_ctx, out, &mac_size, sizeof out) == 1, "HMAC final");
        benchmark::DoNotOptimize(out);
        benchmark::ClobberMemory();
    }
    EVP_MAC_CTX_free(mac_ctx);
    EVP_MAC_free(mac);
    EVP_MD_CTX_free(md_ctx);
    EVP_MD_free(md);
    state.SetItemsProcessed(state.iterations());
}

void raw_oneshot_bench(benchmark::State& state, bool with_token) {
    const raw_inputs in = make_raw_inputs(with_token);
    unsigned char out[32];
    unsigned int out_size = 0;
    for (auto _ : state) {
        check(EVP_Digest(in.body.data(), in.body.size(), out, &out_size, EVP_sha256(), nullptr) == 1, "digest");
        benchmark::DoNotOptimize(out);
        check(EVP_Digest(in.canonical_request.data(), in.canonical_request.size(), out, &out_size, EVP_sha256(),
                         nullptr) == 1,
              "digest");
        benchmark::DoNotOptimize(out);
        check(HMAC(EVP_sha256(), in.key, sizeof in.key, reinterpret_cast<const unsigned char*>(in.string_to_sign.data()),
                   in.string_to_sign.size(), out, &out_size) != nullptr,
              "HMAC");
        benchmark::DoNotOptimize(out);
        benchmark::ClobberMemory();
    }
    state.SetItemsProcessed(state.iterations());
}

BENCHMARK_CAPTURE(sign_bench, keys, false)->Name("sign/keys")->Unit(benchmark::kNanosecond);
BENCHMARK_CAPTURE(raw_bench, keys, false)->Name("raw/keys")->Unit(benchmark::kNanosecond);
BENCHMARK_CAPTURE(sign_bench, session, true)->Name("sign/session")->Unit(benchmark::kNanosecond);
BENCHMARK_CAPTURE(raw_bench, session, true)->Name("raw/session")->Unit(benchmark::kNanosecond);
BENCHMARK_CAPTURE(raw_oneshot_bench, keys, false)->Name("raw_oneshot/keys")->Unit(benchmark::kNanosecond);
BENCHMARK_CAPTURE(sign_cold_bench, keys, false)->Name("sign_cold/keys")->Unit(benchmark::kNanosecond);


} // namespace

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    sluice_bench::median_reporter reporter;
    benchmark::RunSpecifiedBenchmarks(&reporter);
    benchmark::Shutdown();

    std::printf("\nSigV4, SQS SendMessageBatch (%zu-byte body), same run, CPU time per request:\n",
                make_batch_body().size());
    bool within_target = true;
    for (const char* creds : {"keys", "session"}) {
        const double sign = reporter.median_ns(std::string("sign/") + creds);
        const double raw = reporter.median_ns(std::string("raw/") + creds);
        if (sign <= 0 || raw <= 0) continue; // filtered out
        const double ratio = sign / raw;
        within_target = within_target && ratio <= 1.5;
        std::printf("  %-8s sluice %9.0f signed req/s (%6.0f ns)   raw crypto %9.0f /s (%6.0f ns)   ratio %.2f "
                    "(target <= 1.5)\n",
                    creds, 1e9 / sign, sign, 1e9 / raw, raw, ratio);
    }
    const double oneshot = reporter.median_ns("raw_oneshot/keys");
    const double cold = reporter.median_ns("sign_cold/keys");
    if (oneshot > 0) std::printf("  raw crypto with one-shot EVP_Digest/HMAC calls: %9.0f /s (%6.0f ns)\n", 1e9 / oneshot, oneshot);
    if (cold > 0) std::printf("  sluice with a signing-key cache miss:            %9.0f /s (%6.0f ns)\n", 1e9 / cold, cold);
    if (!within_target) std::printf("  ratio above target\n");
#if !defined(__OPTIMIZE__)
    std::printf("  note: built without optimisation (a Debug build?): the ratios say little; build with -O2\n");
#endif
    return 0;
}

#else // !SLUICE_HAS_OPENSSL

#include <cstdio>

int main() {
    std::printf("bench_sigv4: skipped, sluice was built without OpenSSL\n");
    return 0;
}

#endif
