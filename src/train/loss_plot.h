// The loss curve of a run as a standalone SVG, written by hand (no dependencies): training loss per logged step
// (faint) with its moving average, and the eval loss, against the optimizer step, with axes, ticks and a legend.
#pragma once

#include <string>

#include "train/metrics.h"

namespace stepwise {

std::string loss_curve_svg(const LossCurves& curves, const std::string& title);
void write_loss_curve_svg(const std::string& path, const LossCurves& curves, const std::string& title);

}  // namespace stepwise
