#pragma once
// The config file's sections, each parsed on its own from its JSON value
// (config.cc reads the top level and calls these). Each throws ConfigError
// through the reader, naming the key path.
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "config_reader.h"
#include "pathwatch/config.h"

namespace pathwatch {

// config_providers.cc: the built-ins merged with the file's entries.
std::vector<ProviderConfig> parseProviders(const ConfigReader& r, const nlohmann::json& arr);

// config_routes.cc: egress routes and DNS resolvers.
std::vector<RouteConfig> parseRoutes(const ConfigReader& r, const nlohmann::json& arr);
std::vector<ResolverConfig> parseResolvers(const ConfigReader& r, const nlohmann::json& arr);
// "system", "1.1.1.1", "8.8.8.8:53", "[2001:db8::1]:53", "2001:db8::2". On
// failure `problem` says what is wrong without repeating the text.
std::optional<ResolverConfig> parseResolverSpec(const std::string& text, std::string& problem);

// config_alerts.cc
AlertsConfig parseAlerts(const ConfigReader& r, const nlohmann::json& obj);

}  // namespace pathwatch
