// SVG line charts: axes, ticks, polylines, markers, legend.
#include "io/svg_chart.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace stepwise {

namespace {

constexpr double kWidth = 720, kHeight = 420, kLeft = 64, kRight = 20, kTop = 40, kBottom = 48;

double nice_step(double span, int ticks) {
  const double raw = span / ticks, mag = std::pow(10, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (raw <= m * mag) return m * mag;
  return 10 * mag;
}

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", std::fabs(v) < 1e-12 ? 0.0 : v);
  return buf;
}

std::string escape_xml(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '<')
      out += "&lt;";
    else if (c == '>')
      out += "&gt;";
    else if (c == '&')
      out += "&amp;";
    else
      out += c;
  }
  return out;
}

}  // namespace

std::string line_chart_svg(const LineChart& chart) {
  double x0 = 1e300, x1 = -1e300, y0 = 1e300, y1 = -1e300;
  for (const ChartSeries& series : chart.series)
    for (const auto& [x, y] : series.points) {
      x0 = std::min(x0, x), x1 = std::max(x1, x), y0 = std::min(y0, y), y1 = std::max(y1, y);
    }
  if (x0 > x1) x0 = 0, x1 = 1, y0 = 0, y1 = 1;  // nothing to plot: empty axes
  if (x1 - x0 < chart.min_x_span) x1 = x0 + chart.min_x_span;
  if (y1 - y0 < 1e-6) y0 -= 0.5, y1 += 0.5;
  const double ys = nice_step(y1 - y0, 6), xs = nice_step(x1 - x0, 8);
  y0 = std::floor(y0 / ys) * ys, y1 = std::ceil(y1 / ys) * ys;
  const double pw = kWidth - kLeft - kRight, ph = kHeight - kTop - kBottom;
  auto px = [&](double x) { return kLeft + (x - x0) / (x1 - x0) * pw; };
  auto py = [&](double y) { return kTop + (1 - (y - y0) / (y1 - y0)) * ph; };

  std::ostringstream svg;
  svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << kWidth << "\" height=\"" << kHeight
      << "\" viewBox=\"0 0 " << kWidth << " " << kHeight << "\" font-family=\"sans-serif\" font-size=\"12\">\n"
      << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      << "<text x=\"" << kWidth / 2 << "\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">" << escape_xml(chart.title)
      << "</text>\n";
  for (double y = y0; y <= y1 + ys / 2; y += ys)
    svg << "<line x1=\"" << kLeft << "\" x2=\"" << kWidth - kRight << "\" y1=\"" << py(y) << "\" y2=\"" << py(y)
        << "\" stroke=\"#e4e4e4\"/>\n<text x=\"" << kLeft - 6 << "\" y=\"" << py(y) + 4 << "\" text-anchor=\"end\">"
        << num(y) << "</text>\n";
  for (double x = std::ceil(x0 / xs) * xs; x <= x1 + xs / 2; x += xs)
    if (x <= x1)
      svg << "<line x1=\"" << px(x) << "\" x2=\"" << px(x) << "\" y1=\"" << kTop + ph << "\" y2=\"" << kTop + ph + 5
          << "\" stroke=\"black\"/>\n<text x=\"" << px(x) << "\" y=\"" << kTop + ph + 18 << "\" text-anchor=\"middle\">"
          << num(x) << "</text>\n";
  svg << "<rect x=\"" << kLeft << "\" y=\"" << kTop << "\" width=\"" << pw << "\" height=\"" << ph
      << "\" fill=\"none\" stroke=\"black\"/>\n"
      << "<text x=\"" << kLeft + pw / 2 << "\" y=\"" << kHeight - 10 << "\" text-anchor=\"middle\">"
      << escape_xml(chart.x_label) << "</text>\n"
      << "<text transform=\"translate(16," << kTop + ph / 2 << ") rotate(-90)\" text-anchor=\"middle\">"
      << escape_xml(chart.y_label) << "</text>\n";
  for (const ChartSeries& series : chart.series) {
    svg << "<polyline fill=\"none\" stroke=\"" << series.color << "\" stroke-width=\"" << num(series.width)
        << "\" points=\"";
    for (const auto& [x, y] : series.points)
      svg << num(std::round(px(x) * 10) / 10) << "," << num(std::round(py(y) * 10) / 10) << " ";
    svg << "\"/>\n";
    if (!series.markers) continue;
    for (size_t i = 0; i < series.points.size(); ++i) {
      const auto [x, y] = series.points[i];
      svg << "<circle cx=\"" << px(x) << "\" cy=\"" << py(y) << "\" r=\"3\" fill=\"" << series.color << "\"/>\n";
      if (i < series.labels.size())
        svg << "<text x=\"" << px(x) + 5 << "\" y=\"" << py(y) - 6 << "\" font-size=\"10\" fill=\"" << series.color
            << "\">" << escape_xml(series.labels[i]) << "</text>\n";
    }
  }
  std::vector<const ChartSeries*> legend;
  for (const ChartSeries& series : chart.series)
    if (!series.name.empty()) legend.push_back(&series);
  if (!legend.empty()) {
    const double lx = kWidth - kRight - 190, ly = kTop + 12;
    svg << "<rect x=\"" << lx - 8 << "\" y=\"" << ly - 12 << "\" width=\"190\" height=\"" << 24 * legend.size() + 2
        << "\" fill=\"white\" stroke=\"#cccccc\"/>\n";
    for (size_t i = 0; i < legend.size(); ++i) {
      const double y = ly + 24 * static_cast<double>(i);
      svg << "<line x1=\"" << lx << "\" x2=\"" << lx + 24 << "\" y1=\"" << y << "\" y2=\"" << y << "\" stroke=\""
          << legend[i]->color << "\" stroke-width=\"2\"/><text x=\"" << lx + 30 << "\" y=\"" << y + 4 << "\">"
          << escape_xml(legend[i]->name) << "</text>\n";
    }
  }
  svg << "</svg>\n";
  return svg.str();
}

}  // namespace stepwise
