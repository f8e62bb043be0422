#pragma once

// One loopback fake AWS service (tests/support/aws_fakes.hpp) behind a sluice_test::http_server, and a
// batch dispatcher of a service run against it on a fresh loop: what every AWS batch service's tests
// do, once.

#include "aws_fakes.hpp"
#include "http_server.hpp"

#include <sluice/aws/batch/dispatcher.hpp>
#include <sluice/aws/credentials_provider.hpp>
#include <sluice/aws/service_client.hpp>
#include <sluice/io/loop.hpp>
#include <sluice/metrics/log.hpp>

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace sluice_test {

inline constexpr const char* fake_secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

/// A service's delivery options made fast for tests: batches sealed after 5 ms, backoff of 1 to 5 ms.
inline sluice::delivery_options fast_delivery(sluice::delivery_options d, unsigned attempts = 10) {
    d.batch.max_age = std::chrono::milliseconds(5);
    d.retry.max_attempts = attempts;
    d.retry.initial_backoff = std::chrono::milliseconds(1);
    d.retry.max_backoff = std::chrono::milliseconds(5);
    return d;
}

/// Log lines kept for checks (warnings about duplicates, never record bodies).
struct captured_log {
    std::mutex mutex;
    std::vector<std::string> lines;
    sluice::logger log{sluice::log_options{.level = sluice::log_level::debug}, [this](const sluice::log_record& r) {
                           std::string line(r.message);
                           for (const auto& f : r.fields) line += " " + std::string(f.key) + "=" + std::string(f.value);
                           std::lock_guard lock(mutex);
                           lines.push_back(std::move(line));
                       }};
    std::size_t count(std::string_view part) {
        std::lock_guard lock(mutex);
        std::size_t n = 0;
        for (const auto& l : lines) n += l.find(part) != std::string::npos ? 1 : 0;
        return n;
    }
};

template <class Fake>
struct aws_harness {
    Fake fake;
    http_server server{[this](const http_exchange& ex) { return fake.handle(ex); }};
    std::string signing_name;

    explicit aws_harness(std::string signing) : signing_name(std::move(signing)) {}

    [[nodiscard]] sluice::aws::service_client_options client_options() const {
        sluice::aws::service_client_options o;
        o.service = signing_name;
        o.region = "us-east-1";
        o.endpoint = server.url();
        o.attempt_timeout = std::chrono::seconds(10);
        return o;
    }

    [[nodiscard]] static std::shared_ptr<sluice::aws::credentials_provider> credentials() {
        sluice::aws::aws_credentials c;
        c.access_key_id = "AKIDEXAMPLE123456";
        c.secret_access_key = fake_secret;
        return std::make_shared<sluice::aws::static_credentials_provider>(c);
    }

    /// Runs `body(dispatcher)` with a dispatcher of `service` against the fake (or `endpoint`), then
    /// stops it.
    template <class Service, class Body>
    void run(Service service, sluice::aws::batch_dispatcher_options common, Body body, std::string endpoint = {}) {
        sluice::io_loop loop;
        auto main = [&]() -> sluice::task<void> {
            sluice::http::client http(loop);
            auto options = client_options();
            if (!endpoint.empty()) options.endpoint = endpoint;
            sluice::aws::service_client client(http, credentials(), options);
            if (!common.delivery) common.delivery = fast_delivery(service.default_delivery());
            sluice::aws::batch_dispatcher<Service> d(loop, client, std::move(service), common);
            co_await d.start();
            co_await body(d);
            co_await d.stop(std::chrono::seconds(5));
        };
        loop.run_until_complete(main());
        loop.drain();
    }
};

} // namespace sluice_test
