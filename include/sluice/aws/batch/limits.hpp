#pragma once

// The limits of one AWS batch API as data: one table per service, with the values AWS documents
// today, overridable at run time since AWS changes them (SQS messages went from 256 KiB to 1 MiB in
// 2025, Kinesis records from 1 MiB to 10 MiB). Every service states the same fields, so the batch
// layer and the delivery engine enforce them the same way.

#include <cstddef>
#include <string_view>

#include <sluice/delivery/sink.hpp>

namespace sluice::aws {

/// How a record's size counts against the service's limits.
enum class size_basis {
    raw,    ///< the bytes as given (SQS message bodies, CloudWatch Logs messages)
    base64, ///< binary data counted before base64 encoding (Kinesis and Firehose Data)
    json,   ///< the JSON text of the entry (DynamoDB items, CloudWatch metric data)
};

/// One batch API's limits.
struct batch_limits {
    /// Entries in one request (SQS 10, Kinesis and Firehose 500, DynamoDB 25, Logs 10,000).
    std::size_t max_entries = 500;
    /// One request, as the service counts it (sum of record sizes plus per-entry overhead).
    std::size_t max_request_bytes = 5u << 20;
    /// One record, as the service counts it.
    std::size_t max_record_bytes = 1u << 20;
    /// Bytes the service adds per entry when it sums a request (CloudWatch Logs: 26 per event).
    std::size_t entry_overhead = 0;
    /// How record sizes are counted.
    size_basis basis = size_basis::raw;

    /// What a record of `counted` bytes weighs against max_request_bytes.
    [[nodiscard]] constexpr std::size_t weight(std::size_t counted) const noexcept { return counted + entry_overhead; }

    /// The same limits with every non-zero field of `o` taking precedence.
    [[nodiscard]] constexpr batch_limits overridden_by(const batch_limits& o) const noexcept {
        batch_limits l = *this;
        if (o.max_entries) l.max_entries = o.max_entries;
        if (o.max_request_bytes) l.max_request_bytes = o.max_request_bytes;
        if (o.max_record_bytes) l.max_record_bytes = o.max_record_bytes;
        if (o.entry_overhead) l.entry_overhead = o.entry_overhead;
        return l;
    }

    /// For the delivery engine, which batches records by their weight: entries, request weight, and
    /// the largest encoded record it may hold (`max_encoded_record`: the adapter's own bound on what
    /// encoding can make of a valid record; the service's record limit is checked before encoding).
    [[nodiscard]] constexpr sink_limits to_sink_limits(std::size_t max_encoded_record) const noexcept {
        return {max_entries, max_request_bytes, max_encoded_record};
    }
};

/// A batch_limits whose fields are all zero: "override nothing".
inline constexpr batch_limits no_overrides{0, 0, 0, 0, size_basis::raw};

} // namespace sluice::aws
