// mcorps: the commands. Each Add*Command registers a subcommand (options, help, examples) on the
// top-level app and returns how to run it once the command line has been parsed.
#pragma once

#include <functional>

namespace CLI {
class App;
}

namespace mcorps {

struct Command {
  CLI::App* app = nullptr;
  std::function<int()> run;  // the exit code
};

Command AddProduceCommand(CLI::App& parent);
Command AddConsumeCommand(CLI::App& parent);
Command AddTopicsCommand(CLI::App& parent);
Command AddGroupsCommand(CLI::App& parent);
Command AddTypesCommand(CLI::App& parent);
Command AddTraceCommand(CLI::App& parent);

}  // namespace mcorps
