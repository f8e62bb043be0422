#pragma once

// Attempts of one destination operation (a file write, an S3 request) under the engine's retry
// options: exponential backoff with full jitter (delivery/backoff.hpp), bounded by attempts and
// elapsed time. The operation answers with an outcome: ok, retryable (retry / throttled) or final.

#include <chrono>
#include <stop_token>
#include <utility>

#include <sluice/core/executor.hpp>
#include <sluice/core/outcome.hpp>
#include <sluice/core/task.hpp>
#include <sluice/delivery/backoff.hpp>
#include <sluice/io/loop.hpp>

namespace sluice::objects::detail {

/// Runs `attempt()` (a callable returning task<outcome>) until it succeeds, fails for good, or the
/// retry options run out; counts the attempts that were tried again in `retries`. A stop request
/// ends the waiting between attempts with the last failure (kind cancelled).
template <class Attempt>
task<outcome> with_retries(io_loop& loop, backoff_policy& policy, Attempt attempt, unsigned& retries,
                           std::stop_token stop = {}) {
    const auto first = std::chrono::steady_clock::now();
    for (unsigned n = 1;; ++n) {
        outcome o = co_await attempt();
        o.attempts = n;
        if (o.is_ok() || !o.retryable()) co_return o;
        if (!policy.may_retry(n, first, std::chrono::steady_clock::now())) co_return o;
        if (stop.stop_requested()) {
            o.kind = outcome_kind::cancelled;
            co_return o;
        }
        ++retries;
        bool cancelled = false;
        try {
            co_await loop.sleep_for(policy.delay(n + 1), stop);
        } catch (const operation_cancelled&) {
            cancelled = true;
        }
        if (cancelled) {
            o.kind = outcome_kind::cancelled;
            co_return o;
        }
    }
}

} // namespace sluice::objects::detail
