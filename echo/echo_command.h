#pragma once
// `pathwatch echo-server`: argv starts at the subcommand name (argv[0] == "echo-server").
namespace pathwatch {
int runEchoServerCommand(int argc, char** argv);
}  // namespace pathwatch
