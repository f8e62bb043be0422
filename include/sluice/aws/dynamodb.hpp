#pragma once

// DynamoDB BatchWriteItem on the shared AWS batch layer: dynamodb_service is DynamoDB's traits,
// dynamodb_dispatcher the batch dispatcher for it.
//
//   POST / HTTP/1.1
//   Content-Type: application/x-amz-json-1.0
//   X-Amz-Target: DynamoDB_20120810.BatchWriteItem
//   {"RequestItems":{"orders":[{"PutRequest":{"Item":{"id":{"S":"o-1"},"total":{"N":"12.50"}}}},
//                             {"DeleteRequest":{"Key":{"id":{"S":"o-0"}}}}]}}
//   ->
//   {"UnprocessedItems":{"orders":[{"PutRequest":{"Item":{"id":{"S":"o-1"},...}}}]}}
//
// Limits (AWS, 2026; overridable): 25 operations and 16 MB per request, 400 KB per item. Items come
// as JSON documents converted with boto3's rules, or already in AttributeValue form (see
// aws/dynamodb_item.hpp); each is checked before it is sent (types, numbers, sizes, the table's key
// attributes), since one bad item makes DynamoDB refuse the whole request.
//
// Items handed back in UnprocessedItems (DynamoDB did not get to them for lack of capacity) are
// retried alone, with backoff, as throttled; a whole request answered with
// ProvisionedThroughputExceededException is throttled too.
//
// Two operations on one primary key in one request make DynamoDB refuse the request, so writes are
// de-duplicated by key (duplicate_policy::replace_older): one write per key is in flight at a time; a
// newer write of that key waits, and replaces (with a warning, as boto3-batch-utils warns) an older
// one still waiting, which then ends with the newer one's outcome. The last write wins, as it would
// have had every write been sent one after another, and never two writes of a key share a request.
// (boto3-batch-utils keeps the first and drops the later one: it loses the newest data.)

#if !SLUICE_HAS_CURL || !SLUICE_HAS_OPENSSL || !SLUICE_HAS_SIMDJSON
#error "sluice/aws/dynamodb.hpp needs libcurl, OpenSSL and simdjson (SLUICE_HAS_CURL, SLUICE_HAS_OPENSSL, SLUICE_HAS_SIMDJSON)"
#endif

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <sluice/aws/batch/dispatcher.hpp>
#include <sluice/aws/batch/response.hpp>
#include <sluice/aws/batch/service.hpp>
#include <sluice/aws/dynamodb_item.hpp>
#include <sluice/text/json_escape.hpp>

namespace sluice::aws {

/// One write: a PutRequest of an item or a DeleteRequest of a key.
struct dynamodb_write {
    /// The kind of write.
    enum class operation : unsigned char { put, remove };
    /// This write's kind.
    operation op = operation::put;
    /// The item (put) or the key (remove): a JSON object, or AttributeValue JSON when
    /// `attribute_values` is set.
    std::string document{};
    /// True when `document` is already AttributeValue JSON (else plain JSON, converted).
    bool attribute_values = false;
    /// The table; empty: the dispatcher's. Another table must be listed in dynamodb_options::tables.
    std::string table{};

    /// A PutRequest of `item` (a JSON object) to the dispatcher's table.
    [[nodiscard]] static dynamodb_write put(std::string item) { return {operation::put, std::move(item), false, {}}; }
    /// A DeleteRequest of `key` (a JSON object of the key attributes) in the dispatcher's table.
    [[nodiscard]] static dynamodb_write remove(std::string key) { return {operation::remove, std::move(key), false, {}}; }
};

/// A table a dispatcher writes to: its name (or ARN) and primary key.
struct dynamodb_table {
    /// The table's name or ARN.
    std::string name{};
    /// Its primary key (what duplicates within a batch are found by).
    dynamodb_key_schema key{};
};

/// DynamoDB's limits as AWS documents them (2026). Entries are counted by their JSON (what the 16 MB
/// request limit counts, with room for the request around them); the item limit is 400 KB as DynamoDB
/// counts item sizes (checked when the item is read).
[[nodiscard]] constexpr batch_limits dynamodb_default_limits() noexcept {
    return {25, 16'000'000 - 65'536, 400 * 1024, 0, size_basis::json};
}

/// Where writes go and how items are read.
struct dynamodb_options {
    /// The table writes go to by default, and its primary key (attribute names; types optional).
    dynamodb_table table{};
    /// Other tables records may name (dynamodb_write::table): each request writes to one table (the
    /// table is the batch key).
    std::vector<dynamodb_table> tables{};
    /// Set, binary and size rules for items.
    dynamodb_item_options items{};
    /// Overrides of DynamoDB's limits (zero fields keep them).
    batch_limits limits = no_overrides;
};

/// DynamoDB's error codes for BatchWriteItem (per request: the call has no per-item errors).
[[nodiscard]] inline const error_table& dynamodb_errors() noexcept {
    static constexpr error_rule rules[] = {
        {"ProvisionedThroughputExceededException", error_verdict::throttle},
        {"RequestLimitExceeded", error_verdict::throttle},
        {"ThrottlingException", error_verdict::throttle},
        {"InternalServerError", error_verdict::retry},
        {"ReplicatedWriteConflictException", error_verdict::retry},
        {"ValidationException", error_verdict::reject},
        {"ResourceNotFoundException", error_verdict::reject},
        {"ItemCollectionSizeLimitExceededException", error_verdict::reject},
        {"AccessDeniedException", error_verdict::reject},
    };
    static const error_table table{rules, error_verdict::retry};
    return table;
}

} // namespace sluice::aws

namespace sluice::detail::dynamodb {

/// The canonical key text of an item or key in AttributeValue JSON (as dynamodb_item_reader makes
/// it), or nullopt when a key attribute is missing or malformed.
inline std::optional<std::string> key_of(const simdjson::dom::object& item, const aws::dynamodb_key_schema& schema) {
    std::string key;
    for (int k = 0; k < (schema.sort_key.empty() ? 1 : 2); ++k) {
        simdjson::dom::object av;
        if (item[k == 0 ? schema.partition_key : schema.sort_key].get_object().get(av) != simdjson::SUCCESS) return std::nullopt;
        std::string_view v;
        std::string part;
        if (av["S"].get_string().get(v) == simdjson::SUCCESS) {
            append_key_part(part, 'S', v);
        } else if (av["N"].get_string().get(v) == simdjson::SUCCESS) {
            const auto d = text::parse_decimal(v, text::decimal_grammar::lenient);
            if (!d) return std::nullopt;
            append_key_part(part, 'N', d->canonical());
        } else if (av["B"].get_string().get(v) == simdjson::SUCCESS) {
            const auto bytes = text::decode_base64(v);
            if (!bytes) return std::nullopt;
            append_key_part(part, 'B', *bytes);
        } else {
            return std::nullopt;
        }
        if (!key.empty()) key += '|';
        key += part;
    }
    return key;
}

/// The item of {"PutRequest":{"Item":..}} or the key of {"DeleteRequest":{"Key":..}}.
inline bool written_item(const simdjson::dom::element& request, simdjson::dom::object& item) {
    return request["PutRequest"]["Item"].get_object().get(item) == simdjson::SUCCESS ||
           request["DeleteRequest"]["Key"].get_object().get(item) == simdjson::SUCCESS;
}

} // namespace sluice::detail::dynamodb

namespace sluice::aws {

/// BatchWriteItem's traits for the batch layer.
class dynamodb_service {
public:
    /// What one entry carries.
    using record_type = dynamodb_write;
    struct request_state {};
    /// AWS JSON 1.0.
    static constexpr wire_protocol protocol = wire_protocol::json_1_0;
    /// The X-Amz-Target of the operation.
    static constexpr std::string_view target = "DynamoDB_20120810.BatchWriteItem";

    /// Throws std::invalid_argument for invalid table options.
    explicit dynamodb_service(dynamodb_options options)
        : options_(std::move(options)), limits_(dynamodb_default_limits().overridden_by(options_.limits)) {
        options_.items.max_item_bytes = limits_.max_record_bytes;
        check_table(options_.table);
        for (const auto& t : options_.tables) check_table(t);
    }

    /// The table (what logs and metrics name).
    [[nodiscard]] std::string_view name() const noexcept { return options_.table.name; }
    /// BatchWriteItem's limits with the options' overrides.
    [[nodiscard]] batch_limits limits() const noexcept { return limits_; }
    /// Its documented error codes and their verdicts.
    [[nodiscard]] const error_table& errors() const noexcept { return dynamodb_errors(); }
    /// The JSON of the largest item: at most 8 bytes of JSON per byte DynamoDB counts ({"NULL":true}
    /// in a list counts 2), plus the request's field names.
    [[nodiscard]] std::size_t max_encoded_record() const noexcept { return limits_.max_record_bytes * 8 + 4096; }
    /// A newer write of a pending key replaces the older one (DynamoDB refuses a request writing a key twice).
    [[nodiscard]] duplicate_policy duplicates() const noexcept { return duplicate_policy::replace_older; }

    /// Reads the item (converted or checked) for its table. Empty when valid.
    [[nodiscard]] std::string prepare(dynamodb_write& w) {
        const dynamodb_table* table = table_of(w);
        if (table == nullptr)
            return "table '" + w.table + "' is not among the dispatcher's tables (dynamodb_options::tables)";
        return read(w, *table);
    }

    /// {"PutRequest":{"Item":..}} or {"DeleteRequest":{"Key":..}}; its batch key is the table and its
    /// dedup and order key the table and primary key.
    [[nodiscard]] entry_meta encode_entry(const dynamodb_write& w, std::string& out) const {
        if (prepared_for_ != &w) {
            const dynamodb_table* table = table_of(w);
            if (table == nullptr || !read(w, *table).empty())
                throw std::invalid_argument("sluice: DynamoDB write encoded without a successful prepare()");
        }
        prepared_for_ = nullptr;
        const std::size_t start = out.size();
        out.reserve(start + prepared_.attribute_values.size() + 32);
        out += w.op == dynamodb_write::operation::put ? "{\"PutRequest\":{\"Item\":" : "{\"DeleteRequest\":{\"Key\":";
        out += prepared_.attribute_values;
        out += "}}";
        entry_meta meta;
        meta.counted = out.size() - start;
        meta.batch_key = table_of(w)->name;
        meta.dedup_key = meta.batch_key + '\n' + prepared_.key;
        meta.order_key = meta.dedup_key;
        return meta;
    }

    /// {"RequestItems":{"<table>":[entries]}}: the batch key's table (the default one without keys).
    bool frame_request(sink_batch batch, request_frame& frame, request_state&) const {
        const std::string_view table = batch.key.empty() ? std::string_view(options_.table.name) : batch.key;
        frame.head.clear();
        frame.head += "{\"RequestItems\":{\"";
        text::append_json_escaped(frame.head, table);
        frame.head += "\":[";
        frame.tail = "]}}";
        return true;
    }

    /// The same request as one body.
    [[nodiscard]] request_state encode_request(sink_batch batch, std::string& body) const {
        return encode_framed(*this, batch, body);
    }

    /// Every item not handed back in UnprocessedItems was written; those handed back are retried.
    [[nodiscard]] batch_result read_response(std::string_view body, sink_batch batch, request_state&) {
        simdjson::dom::object root;
        if (!reader_.parse(body, root))
            return batch_result::failed(outcome::retry("unreadable BatchWriteItem response (not a JSON object)"));
        simdjson::dom::object unprocessed;
        if (root["UnprocessedItems"].get_object().get(unprocessed) != simdjson::SUCCESS || unprocessed.size() == 0)
            return batch_result::all_ok();
        const dynamodb_table* table = table_named(batch.key.empty() ? std::string_view(options_.table.name) : batch.key);
        const dynamodb_key_schema& schema = table ? table->key : options_.table.key;
        std::vector<std::string> back;
        for (auto table_items : unprocessed) {
            simdjson::dom::array list;
            if (table_items.value.get_array().get(list) != simdjson::SUCCESS) return unmatched();
            for (simdjson::dom::element r : list) {
                simdjson::dom::object item;
                std::optional<std::string> key;
                if (sluice::detail::dynamodb::written_item(r, item)) key = sluice::detail::dynamodb::key_of(item, schema);
                if (!key) return unmatched();
                back.push_back(std::move(*key));
            }
        }
        return by_unprocessed(entry_keys(batch, schema), back);
    }

    /// Batches of 25 sealed after 50 ms, 8 requests in flight, 10 attempts per write with backoff
    /// from 50 ms to 10 s (UnprocessedItems clear as capacity returns).
    [[nodiscard]] delivery_options default_delivery() const {
        delivery_options d;
        d.name = "dynamodb";
        d.batch.max_events = limits_.max_entries;
        d.batch.max_bytes = limits_.max_request_bytes;
        d.batch.max_age = std::chrono::milliseconds(50);
        d.retry.max_attempts = 10;
        d.retry.initial_backoff = std::chrono::milliseconds(50);
        d.retry.max_backoff = std::chrono::milliseconds(10'000);
        d.concurrency.max_in_flight = 8;
        return d;
    }

    /// Two writes of one primary key never go out together, not even after a restart replays them
    /// from a disk buffer: the engine holds a key's next write until the previous one finished.
    void adjust(delivery_options& d) const {
        if (!d.ordered) d.order_by_key = true;
    }

    /// The options it was made with.
    [[nodiscard]] const dynamodb_options& options() const noexcept { return options_; }

private:
    static void check_table(const dynamodb_table& t) {
        const bool arn = t.name.starts_with("arn:");
        bool ok = arn ? t.name.size() <= 1024 : t.name.size() >= 3 && t.name.size() <= 255;
        for (char c : t.name) {
            const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                               c == '.' || c == '-';
            if (!plain && !(arn && (c == ':' || c == '/'))) ok = false;
        }
        if (!ok) throw std::invalid_argument("sluice: a DynamoDB table is a name of 3 to 255 characters of [a-zA-Z0-9_.-] or an ARN");
        if (t.key.partition_key.empty()) throw std::invalid_argument("sluice: DynamoDB table " + t.name + " needs its partition key's name");
    }

    const dynamodb_table* table_named(std::string_view name) const noexcept {
        if (name == options_.table.name) return &options_.table;
        for (const auto& t : options_.tables)
            if (t.name == name) return &t;
        return nullptr;
    }

    const dynamodb_table* table_of(const dynamodb_write& w) const noexcept {
        return w.table.empty() ? &options_.table : table_named(w.table);
    }

    // Converts or checks the document into prepared_, remembered for the encode_entry that follows.
    std::string read(const dynamodb_write& w, const dynamodb_table& table) const {
        prepared_for_ = nullptr;
        const bool key_only = w.op == dynamodb_write::operation::remove;
        std::string why = w.attribute_values
                              ? item_reader_.from_attribute_values(w.document, table.key, key_only, options_.items, prepared_)
                              : item_reader_.from_json(w.document, table.key, key_only, options_.items, prepared_);
        if (why.empty()) prepared_for_ = &w;
        return why;
    }

    // The keys of the batch's entries, read back from their JSON (only when items were handed back).
    std::vector<std::string> entry_keys(sink_batch batch, const dynamodb_key_schema& schema) {
        std::vector<std::string> keys;
        keys.reserve(batch.records.size());
        for (std::string_view entry : batch.records) {
            simdjson::dom::element e;
            simdjson::dom::object item;
            std::optional<std::string> key;
            if (entry_parser_.parse(entry.data(), entry.size(), true).get(e) == simdjson::SUCCESS &&
                sluice::detail::dynamodb::written_item(e, item))
                key = sluice::detail::dynamodb::key_of(item, schema);
            keys.push_back(key.value_or(std::string()));
        }
        return keys;
    }

    // Items were handed back that name no entry: retry the whole batch rather than guess (a put or a
    // delete written twice leaves the same item; the dispatcher keeps newer writes of a key waiting).
    static batch_result unmatched() {
        return batch_result::failed(outcome::throttle("unprocessed items that match no entry of the request"));
    }

    dynamodb_options options_;
    batch_limits limits_;
    batch_response_reader reader_{};
    simdjson::dom::parser entry_parser_{};
    // prepare() reads the item once; encode_entry(), called next for the same record, uses it.
    mutable dynamodb_item_reader item_reader_{};
    mutable dynamodb_item prepared_{};
    mutable const dynamodb_write* prepared_for_ = nullptr;
};

static_assert(batch_service<dynamodb_service>);

/// DynamoDB's batch dispatcher: submit / send / flush / stop, as for every AWS batch API.
using dynamodb_dispatcher = batch_dispatcher<dynamodb_service>;

} // namespace sluice::aws
