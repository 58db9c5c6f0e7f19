#pragma once
// URLs as they may be shown (logs, status answers, errors): webhook URLs carry
// their secret in the path (Slack, Discord) or the query, so only where it
// goes is shown, never what it carries.
#include <string>
#include <string_view>

namespace pathwatch {

// "https://hooks.slack.com/services/T0/B0/XYZ" -> "https://hooks.slack.com/…":
// scheme://host[:port], user-info dropped, everything after the authority
// (path, query, fragment) replaced by "/…". "(invalid url)" when there is no
// scheme://host or the authority holds something other than a host and port.
std::string redactUrl(std::string_view url);

}  // namespace pathwatch
