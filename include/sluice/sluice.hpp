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
#include <sluice/io/socket.hpp>
#include <sluice/io/tls_options.hpp>
#if SLUICE_HAS_OPENSSL
#include <sluice/io/tls_stream.hpp> // TLS client streams need OpenSSL
#endif

// queue and routing
#include <sluice/queue/collector.hpp>
#include <sluice/queue/collector_event.hpp>
#include <sluice/queue/collector_queue.hpp>
#include <sluice/queue/payload.hpp>
#include <sluice/queue/router.hpp>

// metrics and logs
#include <sluice/metrics/log.hpp>
#include <sluice/metrics/metrics.hpp>

// text encodings
#include <sluice/text/base64.hpp>
#include <sluice/text/cbor.hpp>
#include <sluice/text/decimal.hpp>
#include <sluice/text/json_escape.hpp>
#include <sluice/text/json_writer.hpp>
#include <sluice/text/rfc3339.hpp>
#include <sluice/text/utf8.hpp>

// codecs
#include <sluice/codec/compression.hpp>
#include <sluice/codec/crc32c.hpp>
#include <sluice/codec/stream_compression.hpp>

// delivery and buffers
#include <sluice/delivery/backoff.hpp>
#include <sluice/delivery/collector_delivery.hpp>
#include <sluice/delivery/concurrency.hpp>
#include <sluice/delivery/disk_buffer.hpp>
#include <sluice/delivery/pipeline.hpp>
#include <sluice/delivery/rate_limiter.hpp>
#include <sluice/delivery/sink.hpp>

// sinks
#include <sluice/sinks/fault_injecting_sink.hpp>
#include <sluice/sinks/ndjson_file.hpp>

// http and aws. Headers that need optional dependencies sit in nested blocks, so the single-header
// edition inlines each as few times as it can (see scripts/amalgamate.py).
#include <sluice/aws/config.hpp>
#include <sluice/aws/credentials.hpp>
#include <sluice/aws/error.hpp>
#include <sluice/aws/retry.hpp>
#include <sluice/http/error.hpp>
#include <sluice/http/header.hpp>
#include <sluice/http/request_parser.hpp>
#include <sluice/http/router.hpp>
#include <sluice/http/server.hpp>
#include <sluice/http/server_options.hpp>
#include <sluice/http/server_request.hpp>
#include <sluice/http/server_response.hpp>
#if SLUICE_HAS_OPENSSL
#include <sluice/aws/sigv4.hpp> // SigV4 needs OpenSSL
#endif
#include <sluice/aws/batch/errors.hpp>
#include <sluice/aws/batch/limits.hpp>
#if SLUICE_HAS_SIMDJSON
#include <sluice/aws/batch/response.hpp> // batch responses are read with simdjson
#include <sluice/aws/sqs_protocol.hpp>   // the SQS protocol needs simdjson
#include <sluice/http/json_body.hpp>      // JSON request bodies for the server need simdjson
#include <sluice/aws/dynamodb_item.hpp>  // DynamoDB items are read with simdjson On Demand
#endif
#if SLUICE_HAS_CURL
#include <sluice/http/client.hpp> // the HTTP client needs libcurl
#if SLUICE_HAS_SIMDJSON
#include <sluice/aws/credentials_provider.hpp>
#if SLUICE_HAS_OPENSSL
#include <sluice/aws/batch/dispatcher.hpp>
#include <sluice/aws/batch/service.hpp>
#include <sluice/aws/batch/sink.hpp>
#include <sluice/aws/service_client.hpp>
#include <sluice/aws/kinesis.hpp>
#include <sluice/aws/sqs.hpp>
#include <sluice/aws/firehose.hpp>
#include <sluice/aws/dynamodb.hpp>
#include <sluice/aws/cloudwatch.hpp>
#include <sluice/aws/cloudwatch_aggregator.hpp>
#include <sluice/aws/cloudwatch_logs.hpp>
#endif
#endif
#endif

// object formats (NDJSON, CSV, Parquet): records are parsed with simdjson
#if SLUICE_HAS_SIMDJSON
#include <sluice/formats/csv.hpp>
#include <sluice/formats/ndjson.hpp>
#include <sluice/formats/parquet/writer.hpp>
#endif

// the object engine (files and S3 objects of NDJSON, CSV or Parquet): the formats need simdjson, the
// S3 destination also libcurl and OpenSSL
#if SLUICE_HAS_SIMDJSON
#include <sluice/objects/engine.hpp>
#include <sluice/objects/local_directory.hpp>
#if SLUICE_HAS_CURL && SLUICE_HAS_OPENSSL
#include <sluice/aws/s3.hpp>
#include <sluice/objects/s3_bucket.hpp>
#endif
#endif

// Apache Pulsar on the binary protocol
#include <sluice/pulsar/proto.hpp>
#include <sluice/pulsar/commands.hpp>
#include <sluice/pulsar/frames.hpp>
#include <sluice/pulsar/compression.hpp>
#include <sluice/pulsar/message.hpp>
#include <sluice/pulsar/connection.hpp>
#include <sluice/pulsar/lookup.hpp>
#include <sluice/pulsar/partition_producer.hpp>
#include <sluice/pulsar/producer.hpp>
#include <sluice/pulsar/dead_letter.hpp>
#include <sluice/pulsar/consumer.hpp>
#include <sluice/pulsar/serdes.hpp>
#if SLUICE_HAS_SIMDJSON
#include <sluice/pulsar/json_serde.hpp> // JSON payloads are read with simdjson
#endif
#include <sluice/pulsar/source.hpp>
#include <sluice/pulsar/delivery_sink.hpp>

// sluiced's configuration files (TOML): with toml++, which the sluice::config target brings
#if SLUICE_HAS_TOMLPP
#include <sluice/config/pipeline_config.hpp>
#include <sluice/config/summary.hpp>
#include <sluice/config/toml_config.hpp>
#endif

// the observability routes for any http::router: /metrics, /health, /status.json and the status page
#include <sluice/metrics/last_errors.hpp>
#include <sluice/metrics/service_status.hpp>
#include <sluice/metrics/status_page.hpp>

// the OpenSearch/Elasticsearch _bulk sink and the generic HTTP sink: libcurl and simdjson
#include <sluice/http/retry_after.hpp>
#if SLUICE_HAS_CURL && SLUICE_HAS_SIMDJSON
#include <sluice/sinks/http_sink.hpp>
#include <sluice/sinks/opensearch.hpp>
#endif
