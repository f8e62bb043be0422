// No acknowledged loss when the disk buffer's writes fail (issue 8 §4). The scenario that lost records:
// a disk buffer on a 1 MiB tmpfs, the sink down, 4,000 records offered by 64 concurrent senders.
// Before, a failed group commit reset its shared error before its waiters read it, so ~1,300 of them
// were told "persisted" for records that never reached the disk. Here every deliver() that returned
// "persisted" must be delivered after a restart, and no record that was refused may ever be delivered:
// counted by id, under drop_newest and under block (with max_block), on a tmpfs when this process may
// mount one (root) and, always, with RLIMIT_FSIZE in a child process (writes fail with EFBIG).

#include <doctest/doctest.h>

#include <sluice/delivery/pipeline.hpp>
#include <sluice/io/loop.hpp>
#include <sluice/sinks/fault_injecting_sink.hpp>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <stdlib.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

// Everything of this file lives in its own namespace, so that the unity build (tests/CMakeLists.txt)
// can compile it in one translation unit with other test files.
namespace test_delivery_disk_full {

using namespace sluice;
using namespace std::chrono_literals;

namespace {

constexpr int total_records = 4000;
constexpr int senders = 64;

std::string record_for(int id) {
    std::string r = "id-" + std::to_string(id) + "-";
    r.resize(300, 'x');
    return r;
}
int id_from(std::string_view record) { return std::stoi(std::string(record.substr(3, record.find('-', 3) - 3))); }

/// What the senders were told, by id.
struct answers {
    std::set<int> persisted;
    std::map<int, outcome_kind> refused;
};

delivery_options full_disk_options(const std::filesystem::path& dir, when_full policy, std::uint64_t segment_bytes) {
    delivery_options o;
    o.name = "full";
    o.batch = {.max_events = 100, .max_bytes = 1u << 20, .max_age = 2ms};
    o.buffer.type = buffer_type::disk;
    o.buffer.policy = policy;
    o.buffer.max_block = 20ms;
    o.buffer.max_events = 500;
    o.retry = {.max_attempts = 1'000'000, .initial_backoff = 1ms, .max_backoff = 5ms, .max_elapsed = std::chrono::hours(1)};
    disk_buffer_options d;
    d.directory = dir;
    d.segment_bytes = segment_bytes;
    d.block_bytes = 16 * 1024;
    d.fsync = fsync_policy::every_batch;
    o.disk = d;
    return o;
}

/// 4,000 records from 64 senders into a disk buffer that fills up, the sink down all along.
answers offer_to_full_disk(const std::filesystem::path& dir, when_full policy, std::uint64_t segment_bytes) {
    io_loop loop;
    fault_injecting_sink down(loop, {.request_failure_rate = 1.0});
    delivery_pipeline<fault_injecting_sink> p(loop, down, full_disk_options(dir, policy, segment_bytes));
    answers a;
    int next = 0;
    auto sender = [&]() -> task<void> {
        while (next < total_records) {
            const int id = next++;
            try {
                auto receipt = co_await p.deliver(record_for(id));
                if (receipt.persisted) a.persisted.insert(id);
            } catch (const delivery_error& e) {
                a.refused[id] = e.kind();
            }
        }
    };
    loop.run_until_complete([&]() -> task<void> {
        co_await p.start();
        for (int s = 0; s < senders; ++s) loop.spawn(sender());
        while (a.persisted.size() + a.refused.size() < static_cast<std::size_t>(total_records))
            co_await loop.sleep_for(2ms);
        co_await p.stop(5ms);
    }());
    loop.drain();
    CHECK(down.delivered().empty());
    MESSAGE("persisted " << a.persisted.size() << ", refused " << a.refused.size() << ", disk write errors "
                         << p.stats().disk_write_errors << ", waits for room " << p.stats().disk_full_waits);
    return a;
}

/// Restarts on `dir` with the sink up and returns how often each id was delivered.
std::map<int, int> deliver_what_is_left(const std::filesystem::path& dir, std::uint64_t segment_bytes) {
    io_loop loop;
    fault_injecting_sink up(loop);
    delivery_pipeline<fault_injecting_sink> p(loop, up, full_disk_options(dir, when_full::block, segment_bytes));
    loop.run_until_complete([&]() -> task<void> {
        co_await p.start();
        co_await p.flush();
        co_await p.stop();
    }());
    loop.drain();
    std::map<int, int> seen;
    for (const auto& r : up.delivered()) ++seen[id_from(r)];
    return seen;
}

/// Every accepted id delivered, no refused id delivered, every sender answered.
void check_no_acknowledged_loss(const answers& a, const std::map<int, int>& seen, when_full policy) {
    CHECK(a.persisted.size() + a.refused.size() == static_cast<std::size_t>(total_records));
    CHECK(a.persisted.size() > 100);
    CHECK(!a.refused.empty()); // the disk did fill up
    std::size_t lost = 0, duplicated = 0, refused_but_delivered = 0;
    for (int id : a.persisted) {
        auto it = seen.find(id);
        if (it == seen.end()) ++lost;
        else if (it->second > 1) ++duplicated;
    }
    for (const auto& [id, kind] : a.refused) {
        CHECK(kind == outcome_kind::dropped); // a clear outcome, never a raw system error
        if (seen.count(id)) ++refused_but_delivered;
    }
    const std::string name = policy == when_full::block ? "block" : "drop_newest";
    MESSAGE(name << ": accepted " << a.persisted.size() << ", accepted-and-lost " << lost << ", refused-but-delivered "
            << refused_but_delivered);
    CHECK(lost == 0);
    CHECK(duplicated == 0);
    CHECK(refused_but_delivered == 0);
    CHECK(seen.size() == a.persisted.size());
}

std::filesystem::path fresh_dir() {
    char tmpl[] = "/tmp/sluice-disk-full-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    return tmpl;
}

/// A 1 MiB tmpfs mounted on `at`, or false when this process may not mount one.
bool mount_small_tmpfs(const std::filesystem::path& at) {
    return ::mount("tmpfs", at.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0700") == 0;
}

std::vector<int> read_ids(const std::filesystem::path& path) {
    std::vector<int> ids;
    std::ifstream in(path);
    for (int id; in >> id;) ids.push_back(id);
    return ids;
}

} // namespace

TEST_SUITE("delivery disk full") {

TEST_CASE("a full tmpfs under the disk buffer: no record is acknowledged and lost, none refused and delivered") {
    for (when_full policy : {when_full::drop_newest, when_full::block}) {
        CAPTURE(static_cast<int>(policy));
        auto base = fresh_dir();
        auto mnt = base / "mnt";
        std::filesystem::create_directories(mnt);
        if (!mount_small_tmpfs(mnt)) {
            MESSAGE("cannot mount a tmpfs here (not root?); the RLIMIT_FSIZE case covers the scenario");
            std::filesystem::remove_all(base);
            return;
        }
        answers a = offer_to_full_disk(mnt / "buffer", policy, 64 * 1024);
        auto seen = deliver_what_is_left(mnt / "buffer", 64 * 1024);
        check_no_acknowledged_loss(a, seen, policy);
        ::umount2(mnt.c_str(), MNT_DETACH);
        std::filesystem::remove_all(base);
    }
}

TEST_CASE("writes failing with EFBIG (RLIMIT_FSIZE): no record is acknowledged and lost, none refused and delivered") {
    for (when_full policy : {when_full::drop_newest, when_full::block}) {
        CAPTURE(static_cast<int>(policy));
        auto base = fresh_dir();
        auto dir = base / "buffer";
        pid_t pid = ::fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            // The child: every file it writes stops at 256 KiB; a segment would grow to 1 MiB.
            std::signal(SIGXFSZ, SIG_IGN);
            rlimit limit{256 * 1024, 256 * 1024};
            ::setrlimit(RLIMIT_FSIZE, &limit);
            answers a = offer_to_full_disk(dir, policy, 1u << 20);
            std::ofstream persisted(base / "persisted"), refused(base / "refused");
            for (int id : a.persisted) persisted << id << '\n';
            for (const auto& [id, kind] : a.refused) refused << id << ' ' << static_cast<int>(kind) << '\n';
            persisted.close(); // _Exit flushes nothing
            refused.close();
            std::_Exit(persisted && refused ? 0 : 1);
        }
        int status = 0;
        ::waitpid(pid, &status, 0);
        REQUIRE(WIFEXITED(status));
        REQUIRE(WEXITSTATUS(status) == 0);
        answers a;
        for (int id : read_ids(base / "persisted")) a.persisted.insert(id);
        auto refused = read_ids(base / "refused"); // id, kind pairs
        for (std::size_t i = 0; i + 1 < refused.size(); i += 2) a.refused[refused[i]] = static_cast<outcome_kind>(refused[i + 1]);
        auto seen = deliver_what_is_left(dir, 1u << 20);
        check_no_acknowledged_loss(a, seen, policy);
        std::filesystem::remove_all(base);
    }
}

} // TEST_SUITE

} // namespace test_delivery_disk_full

