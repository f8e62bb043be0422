#pragma once

// A Google Benchmark reporter for programs that print a summary of ratios after the table: it prints
// the console table as usual and keeps each benchmark's CPU time per iteration (CPU time, not wall
// time: on a shared machine it is what other processes disturb least).

#include <benchmark/benchmark.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

namespace sluice_bench {

class median_reporter : public benchmark::ConsoleReporter {
public:
    void ReportRuns(const std::vector<Run>& runs) override {
        ConsoleReporter::ReportRuns(runs);
        for (const Run& run : runs) {
            if (run.error_occurred) continue;
            const std::string& name = run.run_name.function_name;
            if (run.run_type == Run::RT_Iteration)
                times_ns_[name].push_back(run.GetAdjustedCPUTime());
            else if (run.aggregate_name == "median")
                medians_ns_[name] = run.GetAdjustedCPUTime();
        }
    }

    /// The median over repetitions (--benchmark_repetitions), or the single run; 0 when absent.
    [[nodiscard]] double median_ns(const std::string& name) const {
        if (const auto it = medians_ns_.find(name); it != medians_ns_.end()) return it->second;
        const auto it = times_ns_.find(name);
        if (it == times_ns_.end() || it->second.empty()) return 0;
        std::vector<double> times = it->second;
        std::sort(times.begin(), times.end());
        return times[times.size() / 2];
    }

private:
    std::map<std::string, std::vector<double>> times_ns_;
    std::map<std::string, double> medians_ns_;
};

} // namespace sluice_bench
