// Line charts as standalone SVG, written by hand (no dependencies): linear axes with "nice" tick steps
// (1, 2, 5 x 10^k), one polyline per series, optional point markers with labels, a legend. The training loss
// curve (train/loss_plot) and the test-time compute curve (eval/eval_run) are drawn with it.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace stepwise {

struct ChartSeries {
  std::string name;  // in the legend; empty: not listed
  std::vector<std::pair<double, double>> points;
  std::string color = "#1f77b4";
  double width = 2;
  bool markers = false;             // a dot at each point
  std::vector<std::string> labels;  // beside each marker (optional, one per point)
};

struct LineChart {
  std::string title, x_label, y_label;
  std::vector<ChartSeries> series;
  double min_x_span = 1;  // the x axis spans at least this much
};

std::string line_chart_svg(const LineChart& chart);

}  // namespace stepwise
