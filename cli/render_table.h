#pragma once
// The human form of a check report: per provider the diagnosis first, then
// one line per route with a mark per layer and the evidence under it.
// Pure: CheckReport -> text. The caller decides colour and width.
#include <string>

#include "pathwatch/result.h"

namespace pathwatch {

struct RenderOptions {
  bool color = false;          // ANSI colours (only for a TTY with NO_COLOR unset)
  int width = 100;             // terminal columns; lines wrap, nothing is cut
  std::string config_source;   // shown in the header: a path or "<defaults>"
};

std::string renderCheckReport(const CheckReport& report, const RenderOptions& options);

// One route's layers as short marks: "key ok · dns ok 3.1ms · tcp ok 12ms · ..."
std::string renderLayerMarks(const RouteResult& r, bool color);

}  // namespace pathwatch
