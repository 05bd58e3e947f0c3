// The test-time compute curve: accuracy against mean generated tokens per thinking budget (io/svg_chart).
#include "eval/eval_run.h"
#include "io/svg_chart.h"

namespace stepwise {

std::string compute_curve_svg(const EvalReport& report) {
  LineChart chart{"accuracy against thinking (" + report.dataset + ", " + report.source + ")",
                  "mean generated tokens per problem",
                  "accuracy (%)",
                  {}};
  ChartSeries greedy{"greedy", {}, "#1f77b4", 2, true, {}};
  ChartSeries majority{"majority of " + std::to_string(report.samples), {}, "#d62728", 2, true, {}};
  for (const EvalSummary& s : report.budgets) {
    const double total = s.problems > 0 ? static_cast<double>(s.problems) : 1.0;
    const std::string label = s.budget < 0 ? "no budget" : "budget " + std::to_string(s.budget);
    greedy.points.emplace_back(s.mean_tokens, 100.0 * static_cast<double>(s.greedy_correct) / total);
    greedy.labels.push_back(label);
    majority.points.emplace_back(s.mean_sample_tokens * static_cast<double>(report.samples),  // all K samples
                                 100.0 * static_cast<double>(s.majority_correct) / total);
    majority.labels.push_back(label);
  }
  chart.series.push_back(greedy);
  if (report.samples > 1) chart.series.push_back(majority);
  return line_chart_svg(chart);
}

}  // namespace stepwise
