// A router of your own: the queue asks it, for each payload, which collectors receive it. This one
// shards orders by customer: the payload's first key is a customer id, hashed onto one of the
// "shard-N" collectors, so one customer's orders always reach the same collector (and its state),
// whichever consumer runs them. A payload without a customer reaches no collector and is counted as
// unrouted. The program sends N orders for M customers and exits non-zero unless every order reached
// exactly the shard its customer hashes to, and the one order without a customer was unrouted.
//
//   custom_router [--orders N] [--customers M] [--shards S]

#include <sluice/core/task.hpp>
#include <sluice/queue/collector_queue.hpp>
#include <sluice/queue/router.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

using namespace sluice;

namespace {

/// Customer id -> shard index; shared by the router and the check at the end.
std::size_t shard_of(std::string_view customer, std::size_t shards) {
    return std::hash<std::string_view>{}(customer) % shards;
}

/// Routes by the payload's first key onto the collectors named "shard-0" ... "shard-(S-1)". The
/// shard's collector index is looked up by key in the route table, so collector order does not matter.
struct shard_router {
    std::size_t shards;

    void route(const payload<std::string>& p, const route_table& table, route_targets& out) const {
        if (p.keys.empty()) {
            out.note_unrouted(); // no customer: counted in queue_stats::unrouted, resolves as empty Ok
            return;
        }
        const std::string key = "shard-" + std::to_string(shard_of(p.keys[0], shards));
        const std::int64_t index = table.find_key(key);
        if (index < 0) out.note_unrouted();
        else out.add(static_cast<std::uint32_t>(index));
    }
};

static_assert(router_for<shard_router, std::string>);

} // namespace

int main(int argc, char** argv) {
    std::size_t orders = 3000, customers = 97, shards = 4;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string_view flag = argv[i];
        const std::size_t value = std::strtoull(argv[i + 1], nullptr, 10);
        if (flag == "--orders") orders = value;
        else if (flag == "--customers") customers = value;
        else if (flag == "--shards") shards = value;
        else {
            std::fprintf(stderr, "usage: custom_router [--orders N] [--customers M] [--shards S]\n");
            return 2;
        }
    }
    if (shards == 0 || customers == 0) return 2;

    io_loop loop;
    // Each shard's processor answers with its own shard number, so the sender sees where it went.
    std::vector<collector<std::string, std::size_t>> collectors;
    std::vector<std::size_t> per_shard(shards, 0);
    for (std::size_t s = 0; s < shards; ++s)
        collectors.push_back({"shard-" + std::to_string(s),
                              [s, &per_shard](const payload<std::string>&, collector_context&) -> task<std::size_t> {
                                  ++per_shard[s];
                                  co_return s;
                              }});
    collector_queue<std::string, std::size_t, queue_discipline::fifo, shard_router> queue(
        loop, collectors, {.max_consumers = 8, .capacity = 1024}, shard_router{shards});

    std::size_t right = 0, wrong = 0, empty = 0;
    auto run = [&]() -> task<stop_report> {
        co_await queue.start();
        auto publisher = queue.get_publisher();
        std::vector<collector_event<std::size_t>> events;
        std::vector<std::string> customer_of;
        for (std::size_t id = 0; id < orders; ++id) {
            std::string customer = "customer-" + std::to_string(id % customers);
            auto p = payload<std::string>::to_keys("{\"order\":" + std::to_string(id) + "}", {customer});
            events.push_back(co_await publisher.send(std::move(p)));
            customer_of.push_back(std::move(customer));
        }
        auto no_customer = payload<std::string>::to_keys("{\"order\":-1}", {});
        auto orphan = co_await publisher.send(std::move(no_customer));

        for (std::size_t id = 0; id < orders; ++id) {
            const result_list<std::size_t>& results = co_await events[id].wait();
            if (results.size() == 1 && results.first().has_value() &&
                results.first().value() == shard_of(customer_of[id], shards))
                ++right;
            else
                ++wrong;
        }
        const result_list<std::size_t>& lost = co_await orphan.wait();
        if (lost.size() == 1 && lost.first().is_ok() && !lost.first().has_value()) ++empty;
        co_return co_await queue.stop(std::chrono::seconds(1));
    };
    const stop_report report = loop.run_until_complete(run());

    const auto stats = queue.stats();
    for (std::size_t s = 0; s < shards; ++s) std::printf("shard-%zu: %zu orders\n", s, per_shard[s]);
    std::printf("orders %zu: on their customer's shard %zu, elsewhere %zu; unrouted %llu (answered empty: %zu)\n",
                orders, right, wrong, static_cast<unsigned long long>(stats.unrouted), empty);
    return (right == orders && wrong == 0 && stats.unrouted == 1 && empty == 1 && report.drained) ? 0 : 1;
}
