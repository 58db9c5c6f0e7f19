#pragma once
// `pathwatch echo-server`: argv starts at the subcommand name (argv[0] == "echo-server").
namespace pathwatch {
int runEchoServerCommand(int argc, char** argv);
// `pathwatch echo-server --help`: usage, options, an example.
extern const char kEchoServerHelp[];
}  // namespace pathwatch
