#pragma once

// A Google Benchmark reporter for programs that print a summary of ratios after the table: it prints
// the console table as usual and keeps each benchmark's CPU time per iteration (CPU time, not wall
// time: on a shared machine it is what other processes disturb least), and its wall time for the
// cases whose work is spread over threads (UseRealTime + MeasureProcessCPUTime).

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
            if (run.run_type == Run::RT_Iteration) {
                times_ns_[name].push_back(run.GetAdjustedCPUTime());
                real_ns_[name].push_back(run.GetAdjustedRealTime());
            } else if (run.aggregate_name == "median") {
                medians_ns_[name] = run.GetAdjustedCPUTime();
                real_medians_ns_[name] = run.GetAdjustedRealTime();
            }
        }
    }

    /// The median over repetitions (--benchmark_repetitions), or the single run; 0 when absent.
    [[nodiscard]] double median_ns(const std::string& name) const { return median(name, medians_ns_, times_ns_); }
    /// The same for wall time.
    [[nodiscard]] double median_real_ns(const std::string& name) const {
        return median(name, real_medians_ns_, real_ns_);
    }

private:
    using samples = std::map<std::string, std::vector<double>>;
    static double median(const std::string& name, const std::map<std::string, double>& medians, const samples& all) {
        if (const auto it = medians.find(name); it != medians.end()) return it->second;
        const auto it = all.find(name);
        if (it == all.end() || it->second.empty()) return 0;
        std::vector<double> times = it->second;
        std::sort(times.begin(), times.end());
        return times[times.size() / 2];
    }

    samples times_ns_;
    samples real_ns_;
    std::map<std::string, double> medians_ns_;
    std::map<std::string, double> real_medians_ns_;
};

} // namespace sluice_bench
