// The loss curve as a line chart (io/svg_chart): raw training loss, its moving average, eval loss with markers.
#include "train/loss_plot.h"

#include <algorithm>

#include "io/atomic_file.h"
#include "io/svg_chart.h"

namespace stepwise {

namespace {

// Trailing moving average over `window` points.
std::vector<std::pair<double, double>> smooth(const std::vector<std::pair<double, double>>& pts, size_t window) {
  std::vector<std::pair<double, double>> out;
  double sum = 0;
  for (size_t i = 0; i < pts.size(); ++i) {
    sum += pts[i].second;
    if (i >= window) sum -= pts[i - window].second;
    out.emplace_back(pts[i].first, sum / static_cast<double>(std::min(i + 1, window)));
  }
  return out;
}

}  // namespace

std::string loss_curve_svg(const LossCurves& curves, const std::string& title) {
  LineChart chart{title, "step", "loss (nats/token)", {}};
  if (!curves.train.empty()) {
    chart.series.push_back({"", curves.train, "#9ecae1", 1, false, {}});
    const size_t window = std::max<size_t>(1, curves.train.size() / 25);
    chart.series.push_back({"train (moving average)", smooth(curves.train, window), "#1f77b4", 2, false, {}});
  }
  if (!curves.eval.empty()) chart.series.push_back({"eval", curves.eval, "#d62728", 2, true, {}});
  return line_chart_svg(chart);
}

void write_loss_curve_svg(const std::string& path, const LossCurves& curves, const std::string& title) {
  write_file_atomic(path, loss_curve_svg(curves, title));
}

}  // namespace stepwise
