#pragma once

// Umbrella header: everything sluice offers.
#include <sluice/version.hpp>

// core
#include <sluice/core/async_scope.hpp>
#include <sluice/core/channel.hpp>
#include <sluice/core/event.hpp>
#include <sluice/core/executor.hpp>
#include <sluice/core/mutex.hpp>
#include <sluice/core/result.hpp>
#include <sluice/core/semaphore.hpp>
#include <sluice/core/sync_wait.hpp>
#include <sluice/core/task.hpp>
#include <sluice/core/when_all.hpp>

// io
#include <sluice/io/loop.hpp>

// queue and routing
#include <sluice/queue/collector.hpp>
#include <sluice/queue/collector_event.hpp>
#include <sluice/queue/collector_queue.hpp>
#include <sluice/queue/payload.hpp>
#include <sluice/queue/router.hpp>

// metrics and logs
#include <sluice/metrics/log.hpp>
#include <sluice/metrics/metrics.hpp>

// sinks
#include <sluice/sinks/ndjson_file.hpp>

// aws (SigV4 needs OpenSSL: SLUICE_HAS_OPENSSL)
#include <sluice/aws/credentials.hpp>
#if SLUICE_HAS_OPENSSL
#include <sluice/aws/sigv4.hpp>
#endif
