// mcorps — a protobuf-aware command-line tool for Kafka ("kcat for typed messages").
// Dispatches to the commands; data goes to stdout, errors and summaries to stderr.
// Exit codes: 0 ok, 1 runtime error, 2 usage error.
#include <CLI/CLI.hpp>
#include <vector>

#include "commands.h"
#include "messagecorps/tracing.h"
#include "messagecorps/version.h"
#include "options.h"

int main(int argc, char** argv) {
  const messagecorps::tracing::ShutdownAtExit flush_spans;  // OTEL_* tracing, when on
  CLI::App app(
      "mcorps: produce, consume and inspect typed protobuf messages on Kafka (kcat for "
      "messagecorps)",
      "mcorps");
  app.set_version_flag("--version", "mcorps " + messagecorps::VersionLine());
  app.require_subcommand(1);
  app.footer(R"(Examples:
  mcorps produce -b localhost:9092 -t VideoStream < frames.jsonl
  mcorps consume -b localhost:9092 -t VideoStream -e | jq .message.frame
  mcorps trace 0123456789abcdef0123456789abcdef -t VideoStream -t Predictions --since 1h
  mcorps groups describe display -b localhost:9092
Brokers default to $MESSAGECORPS_BROKERS. Run `mcorps COMMAND --help` for each command.
Exit codes: 0 ok, 1 runtime error, 2 usage error.)");

  std::vector<mcorps::Command> commands = {
      mcorps::AddProduceCommand(app), mcorps::AddConsumeCommand(app), mcorps::AddTopicsCommand(app),
      mcorps::AddGroupsCommand(app),  mcorps::AddTypesCommand(app),   mcorps::AddTraceCommand(app)};
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);  // prints help, version or the error
    return code == 0 ? mcorps::kExitOk : mcorps::kExitUsage;
  }
  mcorps::InstallStopHandler();
  for (const mcorps::Command& command : commands) {
    if (command.app->parsed()) return command.run();
  }
  return mcorps::Fail(mcorps::kExitUsage, "no command given (see mcorps --help)");
}
