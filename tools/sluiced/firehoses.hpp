#pragma once

// The firehoses the HTTP API creates: each one its own sinks and a queue broadcasting to them. A
// definition is written to `<state>/firehoses/<name>.json` (to a temporary file, synced, renamed into
// place, the folder synced) before the firehose takes its first message, and every firehose found
// there is started again at the next start; its sinks' journals and disk buffers then give back what
// it held. Deleting one flushes it, stops it and removes its definition.

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "firehose_definition.hpp"
#include "queues.hpp"
#include "sinks.hpp"

namespace sluiced {

/// One running firehose.
class firehose {
public:
    firehose(firehose_definition d, const sink_context& ctx) : definition_(std::move(d)) {
        // Its sinks are named "<firehose>.<sink>" service-wide (metrics, journals, staging folders).
        sluice::config::queue_config q;
        q.name = definition_.name;
        sluice::config::route_config everyone;
        for (auto s : definition_.sinks) {
            const std::string local = s.name;
            s.name = definition_.name + "." + local;
            if (s.delivery.dead_letter) s.delivery.dead_letter = definition_.name + "." + *s.delivery.dead_letter;
            everyone.sinks.push_back(s.name);
            sinks_.push_back(make_sink(s, ctx));
        }
        for (std::size_t i = 0; i < definition_.sinks.size(); ++i)
            if (const auto& dl = definition_.sinks[i].delivery.dead_letter) sinks_[i]->set_dead_letter(&sink(definition_.name + "." + *dl));
        q.routes.push_back(std::move(everyone));
        queue_ = make_queue(ctx.loop, q, [this](const std::string& n) -> sink_runner& { return sink(n); }, ctx.metrics, ctx.log);
    }

    [[nodiscard]] const firehose_definition& definition() const noexcept { return definition_; }
    [[nodiscard]] queue_runner& queue() noexcept { return *queue_; }
    [[nodiscard]] const std::vector<std::unique_ptr<sink_runner>>& sinks() const noexcept { return sinks_; }

    sluice::task<void> start() {
        for (auto& s : sinks_) co_await s->start();
        co_await queue_->start();
    }

    /// Drains the queue, then flushes and stops the sinks (dead-letter sinks last).
    sluice::task<void> stop(std::chrono::milliseconds grace) {
        (void)co_await queue_->stop(grace);
        for (auto& s : sinks_)
            if (!is_dead_letter(*s)) co_await s->stop(grace);
        for (auto& s : sinks_)
            if (is_dead_letter(*s)) co_await s->stop(grace);
    }

private:
    sink_runner& sink(const std::string& name) {
        for (auto& s : sinks_)
            if (s->name() == name) return *s;
        throw std::logic_error("firehose '" + definition_.name + "' has no sink '" + name + "'");
    }
    [[nodiscard]] bool is_dead_letter(const sink_runner& s) const {
        for (const auto& o : sinks_)
            if (o->dead_letter() == &s) return true;
        return false;
    }

    firehose_definition definition_;
    std::vector<std::unique_ptr<sink_runner>> sinks_;
    std::unique_ptr<queue_runner> queue_;
};

/// Every firehose, and their persisted definitions.
class firehose_registry {
public:
    firehose_registry(const sink_context& ctx, std::filesystem::path directory) : ctx_(ctx), directory_(std::move(directory)) {}

    /// The firehoses, in creation order.
    [[nodiscard]] const std::vector<std::shared_ptr<firehose>>& all() const noexcept { return firehoses_; }

    /// The firehose called `name`, or null.
    [[nodiscard]] firehose* find(std::string_view name) const noexcept {
        for (const auto& f : firehoses_)
            if (f->definition().name == name) return f.get();
        return nullptr;
    }

    /// Starts the firehoses a previous run persisted. One that no longer reads or starts is logged and
    /// its definition kept (renamed to .rejected) so nothing is silently forgotten.
    sluice::task<void> load(const std::vector<std::string>& reserved) {
        reserved_ = reserved;
        std::filesystem::create_directories(directory_);
        std::vector<std::filesystem::path> files;
        for (const auto& e : std::filesystem::directory_iterator(directory_))
            if (e.path().extension() == ".json") files.push_back(e.path());
        std::sort(files.begin(), files.end());
        for (const auto& file : files) {
            std::ifstream in(file, std::ios::binary);
            std::stringstream text;
            text << in.rdbuf();
            auto parsed = parse_firehose(text.str());
            std::string why = parsed.errors.empty() ? std::string() : parsed.errors.front();
            if (parsed.definition) why = co_await add(std::move(*parsed.definition), false);
            if (!why.empty()) {
                ctx_.log.error("sluiced", "firehose definition " + file.string() + " was not started: " + why);
                std::filesystem::rename(file, file.string() + ".rejected");
            }
        }
    }

    /// Names firehoses may not take from now on (after a reload).
    void set_reserved(std::vector<std::string> names) { reserved_ = std::move(names); }

    /// Creates and starts a firehose, persisting it first; the reason it was refused, or "".
    sluice::task<std::string> add(firehose_definition d, bool persist = true) {
        if (find(d.name)) co_return "a firehose called '" + d.name + "' exists";
        if (std::find(reserved_.begin(), reserved_.end(), d.name) != reserved_.end())
            co_return "'" + d.name + "' names a queue or sink of the configuration file";
        std::shared_ptr<firehose> f;
        std::string why;
        try {
            f = std::make_shared<firehose>(d, ctx_);
            if (persist) write_definition(d);
        } catch (const std::exception& e) {
            why = e.what();
        }
        if (!why.empty()) co_return why;
        try {
            co_await f->start();
        } catch (const std::exception& e) {
            why = e.what();
        }
        if (!why.empty()) { // what did start is stopped again; the definition goes with it
            co_await f->stop(std::chrono::milliseconds(0));
            if (persist) std::filesystem::remove(path_of(d.name));
            co_return why;
        }
        firehoses_.push_back(std::move(f));
        co_return std::string();
    }

    /// Flushes, stops and forgets the firehose `name`; false when there is none.
    sluice::task<bool> remove(std::string_view name, std::chrono::milliseconds grace) {
        auto it = std::find_if(firehoses_.begin(), firehoses_.end(), [&](const auto& f) { return f->definition().name == name; });
        if (it == firehoses_.end()) co_return false;
        std::shared_ptr<firehose> f = std::move(*it); // requests under way keep it alive until they end
        firehoses_.erase(it);
        co_await f->stop(grace);
        std::filesystem::remove(path_of(f->definition().name));
        co_return true;
    }

    /// Stops every firehose (their definitions stay: they start again next time).
    sluice::task<void> stop_all(std::chrono::milliseconds grace) {
        for (auto& f : firehoses_) co_await f->stop(grace);
    }

private:
    [[nodiscard]] std::filesystem::path path_of(std::string_view name) const { return directory_ / (std::string(name) + ".json"); }

    /// Writes the definition durably: a temporary file, synced, renamed, the folder synced.
    void write_definition(const firehose_definition& d) const {
        const auto final_path = path_of(d.name);
        const auto temp = directory_ / ("." + d.name + ".json.tmp");
        const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0) throw std::system_error(errno, std::generic_category(), "cannot write " + temp.string());
        const bool ok = ::write(fd, d.json.data(), d.json.size()) == static_cast<ssize_t>(d.json.size()) && ::fsync(fd) == 0;
        const int err = errno;
        ::close(fd);
        if (!ok) {
            std::filesystem::remove(temp);
            throw std::system_error(err, std::generic_category(), "cannot write " + temp.string());
        }
        std::filesystem::rename(temp, final_path);
        const int dir = ::open(directory_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir >= 0) {
            ::fsync(dir);
            ::close(dir);
        }
    }

    const sink_context& ctx_;
    std::filesystem::path directory_;
    std::vector<std::string> reserved_;
    std::vector<std::shared_ptr<firehose>> firehoses_;
};

} // namespace sluiced
